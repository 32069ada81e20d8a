"""The SHA-256 of a file, read in blocks: what a weights file, a model file or an input audio
file is, for checksums, the batch ledger and the studio's stem cache.

Example::

    sha256_file("song.wav")   # '3f2a…' (64 hex digits)
"""

from __future__ import annotations

import hashlib
import os

BLOCK_BYTES = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()
