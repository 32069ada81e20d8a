"""The studio's stem cache: a track's stems, once separated, kept per (file, model, options).

A cache entry is a folder named by a key: the SHA-256 of the audio file's bytes and of
everything that changes the node's output (the model's weights, segment length, overlap,
precision, shifts and their seed). It holds one 32-bit float stereo WAV per stem — exactly the
node's output, in stereo even for a mono file (as the graph separates it) — and
``stems.json``. An entry is made in a hidden folder beside it and renamed into place when
complete, so an interrupted separation leaves nothing that looks like an entry; a hidden
folder that a killed process could not remove is removed by a later separation once it is a
day old (no separation runs that long, so it is nobody's work in progress).

Stems are large (32-bit float: about 85 MB per stem for four minutes), so the cache has a size
limit: after each separation the entries used longest ago are removed until the rest fit,
except the ones the caller still has open. Finding an entry counts as using it.

Example::

    cache = StemCache(cache_dir() / "studio")
    key = cache.key("song.wav", node)
    folder = cache.find(key, node.sources) or cache.separate(node, "song.wav", key)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pedalboard.io import AudioFile

from stemboard.digest import sha256_file
from stemboard.node import SeparatorNode
from stemboard.node.contracts import Stream
from stemboard.node.stream import Normalisation
from stemboard.render import OutputFormat, ProgressCallback, Separation

ENTRY_VERSION = 1
LEFTOVER_SECONDS = 24 * 3600
DEFAULT_LIMIT_BYTES = 10 * 1024**3
_MANIFEST = "stems.json"


def node_identity(node: SeparatorNode) -> dict[str, Any]:
    """What makes a node's stems what they are (not where or how fast it runs)."""
    info = node.session.info
    return {
        "weights_sha256": info.weights_sha256,
        "segment_samples": info.segment_samples,
        "sources": list(node.sources),
        "overlap": node.overlap,
        "precision": node.precision,
        "shifts": node.shifts,
        "offsets": [int(offset) for offset in node.offsets],
    }


class _StereoSeparation(Separation):
    """A node's stems as stereo files, whatever the input's channels."""

    def output_channels(self, input_channels: int) -> int:
        return 2

    def _open(
        self, sample_rate: float, channels: int, normalisation: Normalisation
    ) -> Stream[Mapping[Hashable, np.ndarray]]:
        return super()._open(sample_rate, 2, normalisation)


class StemCache:
    """Stem folders under ``root``, one per key (see the module)."""

    def __init__(self, root: str | os.PathLike, limit_bytes: int = DEFAULT_LIMIT_BYTES):
        self.root = Path(root)
        self.limit_bytes = limit_bytes

    def key(self, audio: str | os.PathLike, node: SeparatorNode) -> str:
        """The entry key of ``audio`` separated by ``node``."""
        facts = {"version": ENTRY_VERSION, "audio": sha256_file(audio), **node_identity(node)}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]

    def remove_leftovers(self, age: float = LEFTOVER_SECONDS) -> list[Path]:
        """Remove the hidden work folders older than ``age`` seconds; returns them."""
        removed = []
        for folder in self.root.glob(".*"):
            try:
                old = time.time() - folder.stat().st_mtime > age
            except OSError:  # removed meanwhile
                continue
            if old and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed

    def find(self, key: str, sources: Sequence[str]) -> Path | None:
        """The entry's folder if it is complete, with every stem of ``sources``."""
        folder = self.root / key
        try:
            manifest = json.loads((folder / _MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("sources") != list(sources):
            return None
        if not all((folder / f"{stem}.wav").is_file() for stem in sources):
            return None
        with contextlib.suppress(OSError):  # used now: the last to go when the cache is full
            os.utime(folder / _MANIFEST)
        return folder

    def entries(self) -> list[tuple[float, int, Path]]:
        """Every complete entry as (last used, bytes, folder), the least recently used first."""
        found = []
        for folder in self.root.iterdir() if self.root.is_dir() else ():
            try:
                used = (folder / _MANIFEST).stat().st_mtime
                size = sum(path.stat().st_size for path in folder.iterdir())
            except OSError:  # a work folder, or one removed meanwhile
                continue
            found.append((used, size, folder))
        return sorted(found)

    def prune(self, keep: Iterable[str] = ()) -> list[Path]:
        """Remove the least recently used entries until the cache fits its limit; entries
        named in ``keep`` stay whatever their age. Returns the folders removed."""
        keep = set(keep)
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, folder in entries:
            if total <= self.limit_bytes:
                break
            if folder.name in keep:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            total -= size
        return removed

    def separate(
        self,
        node: SeparatorNode,
        audio: str | os.PathLike,
        key: str,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Separate ``audio`` into a new entry and return its folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.remove_leftovers()
        work = self.root / f".{key}.{secrets.token_hex(4)}"
        job = _StereoSeparation(node, None, OutputFormat("wav", 32), "{name}.{ext}")
        try:
            (track,) = job.plan([audio], work)
            job.run(track, progress=progress)
            manifest = {"version": ENTRY_VERSION, "sources": list(node.sources)}
            (work / _MANIFEST).write_text(json.dumps(manifest))
            final = self.root / key
            try:
                work.rename(final)
            except OSError:  # another separation of the same track got there first
                if self.find(key, node.sources) is None:
                    raise
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
        return final


def read_stems(folder: Path, sources: Sequence[str], start: int, stop: int) -> np.ndarray:
    """Frames ``[start, stop)`` of every stem of an entry: float32 ``[sources, 2, n]``."""
    stems = []
    for stem in sources:
        with AudioFile(str(folder / f"{stem}.wav")) as f:
            start_at = min(start, f.frames)
            count = max(0, min(stop, f.frames) - start_at)
            f.seek(start_at)
            # pedalboard's read(0) would mean "the whole file", which it refuses
            stems.append(f.read(count) if count else np.zeros((f.num_channels, 0), np.float32))
    return np.stack(stems).astype(np.float32, copy=False)


def peaks(folder: Path, stem: str, buckets: int) -> list[list[float]]:
    """Up to ``buckets`` (min, max) pairs over a stem, both channels together, for a waveform
    view (one pair per frame when the stem is shorter)."""
    with AudioFile(str(folder / f"{stem}.wav")) as f:
        if f.frames == 0:
            return []
        audio = f.read(f.frames)
    count = min(buckets, audio.shape[-1])
    starts = np.linspace(0, audio.shape[-1], count, endpoint=False).astype(np.int64)
    low = np.minimum.reduceat(audio.min(axis=0), starts)
    high = np.maximum.reduceat(audio.max(axis=0), starts)
    return [[round(float(a), 4), round(float(b), 4)] for a, b in zip(low, high, strict=True)]
