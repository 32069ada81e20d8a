"""Fetch a pretrained weights file from its official URL, without torch: resumable, verified,
one download of a file at a time.

Example::

    path = find_or_fetch(registry.bundle("hdemucs_high_musdb_plus"), progress=show_progress)

:func:`find_or_fetch` gives a bundle's checkpoint file: stemboard's cached copy, else the copy
torchaudio downloaded, else a fresh download by :func:`fetch_file`. A download grows in
``<file>.part`` next to its destination, hashed as it comes; a transfer that is cut (network,
Ctrl-C, a killed process) leaves the part file, and the next call asks the server for the rest
only (``Range: bytes=N-``). Only a file whose size and sha256 match the record is moved into
place (``os.replace``); one that does not match is deleted. ``<file>.lock`` keeps two processes
from downloading the same file at once, ``<file>.sha256`` remembers a successful check so a
335 MB file is hashed again only when it changed. Every failure is one ``CheckpointError`` line
saying what went wrong and where to put a file fetched by other means.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import urllib.parse
from collections.abc import Callable, Iterator
from http.client import HTTPException, HTTPResponse
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from stemboard.atomic import atomic_path
from stemboard.digest import sha256_file
from stemboard.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    DestinationError,
    DiskFullError,
)
from stemboard.file_lock import try_lock, wait_for_lock
from stemboard.registry import WeightFile, cache_dir, torch_hub_copy
from stemboard.version import __version__

CHUNK_BYTES = 1 << 17
TIMEOUT_S = 30
RESUME_ATTEMPTS = 2
"""Automatic resumes within one call, each after the connection was cut mid-body."""

PART_SUFFIX = ".part"
LOCK_SUFFIX = ".lock"
RECORD_SUFFIX = ".sha256"

Progress = Callable[[int, int], None]
"""Called with ``(done_bytes, total_bytes)`` as a download goes."""


def import_command(name: str) -> str:
    """The command that puts a file fetched by other means in place of bundle ``name``'s."""
    return f"stemboard models import {name} FILE"


def checkpoint_path(file: WeightFile) -> Path:
    """Where stemboard keeps ``file``: ``<cache>/checkpoints/<file name of its URL>``."""
    return cache_dir() / "checkpoints" / PurePosixPath(urllib.parse.urlsplit(file.url).path).name


def find_or_fetch(
    bundle: WeightFile,
    *,
    download: bool = True,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """The verified weights file ``bundle`` (one of a bundle's files), downloaded if no
    verified copy is at hand.

    >>> path = find_or_fetch(registry.bundle("hdemucs_high_musdb_plus").files[0])

    Looks first at :func:`checkpoint_path`, then at torchaudio's or demucs' own download
    (:func:`~stemboard.registry.torch_hub_copy`, used where it lies); a copy counts only if
    its size and sha256 match the record (for demucs' files: the sha256 prefix their names
    carry, which is all demucs checks). A cached copy that does not is deleted. Then a copy
    from the file's mirror fetched earlier (:func:`mirror_path`). Otherwise the file is fetched
    with :func:`fetch_file`, and where that fails, the mirror's copy (demucs' safetensors:
    no checksum of those is published, so only reading and binding check them); unless
    ``download`` is false: then ``CheckpointNotFoundError`` names both places and the import
    command.
    """
    ours = checkpoint_path(bundle)
    record = _record_of(ours)
    if ours.is_file() and (
        mismatch(ours, size=bundle.size, sha256=bundle.sha256, record=record) is None
        or not _delete_unverified(ours, bundle.size, bundle.sha256, bundle.name, log)
    ):
        return ours
    theirs = torch_hub_copy(bundle)
    owner = "torchaudio" if bundle.hub_path.startswith("torchaudio/") else "torch.hub"
    if theirs.is_file():
        problem = mismatch(theirs, size=bundle.size, sha256=bundle.sha256, record=record)
        if problem is None:
            log(f"using {owner}'s copy of {bundle.name} at {theirs}")
            return theirs
        log(f"not using {owner}'s copy of {bundle.name} at {theirs}: {problem}")
    otherwise = f"run `{import_command(bundle.name.split()[0])}`"
    mirrored = mirror_path(bundle)
    if mirrored is not None and mirrored.is_file():
        return mirrored
    if not download:
        raise CheckpointNotFoundError(
            f"no verified copy of {bundle.name} at {ours} or {theirs}, and downloading is off: "
            + _by_hand(bundle.size, bundle.sha256, ours, otherwise)
        )
    try:
        return fetch_file(
            bundle.url,
            ours,
            size=bundle.size,
            sha256=bundle.sha256,
            name=bundle.name,
            progress=progress,
            log=log,
            otherwise=otherwise,
        )
    except CheckpointError as error:
        if mirrored is None:
            raise
        log(f"{error}; trying demucs' mirror")
    log(
        f"fetching {bundle.name} from demucs' HuggingFace mirror {bundle.mirror}: no checksum of "
        "it is published; binding checks every tensor it holds"
    )
    return fetch_file(
        bundle.mirror,
        mirrored,
        size=None,
        sha256="",
        name=bundle.name,
        progress=progress,
        log=log,
        otherwise=otherwise,
    )


def mirror_path(file: WeightFile) -> Path | None:
    """Where stemboard keeps the copy of ``file`` from its mirror (demucs' HuggingFace
    safetensors), if it has a mirror."""
    if file.mirror is None:
        return None
    return cache_dir() / "checkpoints" / PurePosixPath(urllib.parse.urlsplit(file.mirror).path).name


def fetch_file(
    url: str,
    destination: str | os.PathLike[str],
    *,
    size: int | None,
    sha256: str,
    name: str,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
    otherwise: str | None = None,
) -> Path:
    """Download ``url`` to ``destination``, checked against ``size`` (None: the size the
    server announces) and ``sha256`` (the full one, or a prefix of it).

    >>> fetch_file(bundle.url, Path("weights.pt"), size=bundle.size, sha256=bundle.sha256,
    ...            name=bundle.name)

    Resumes the part file a cut transfer left (``<destination>.part``) and, while holding
    ``<destination>.lock``, returns at once if another process has just made the file. Raises
    ``CheckpointError`` in one line: the reason, whether the bytes so far are kept for the next
    try, and where to put the file by hand — ``otherwise`` adds a remedy of the caller's
    wording (``"run `stemboard models import NAME FILE`"``).
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DestinationError(
            f"cannot make {destination.parent} for the download of {name}: "
            f"{error.strerror or error}"
        ) from None
    with _locked(destination, name, log):
        if destination.exists():
            problem = mismatch(
                destination, size=size, sha256=sha256, record=_record_of(destination)
            )
            if problem is None:
                return destination
            log(f"{destination} is not the file of {name} ({problem}): fetching it again")
            _remove(destination, _record_of(destination))
        part = destination.with_name(destination.name + PART_SUFFIX)
        _Transfer(
            url,
            part,
            size,
            sha256,
            name,
            progress,
            log,
            _by_hand(size, sha256, destination, otherwise),
        ).run()
        os.replace(part, destination)
        _fsync_folder(destination.parent)
        _remember(destination, sha256, _record_of(destination))
    return destination


def mismatch(
    path: Path, *, size: int | None, sha256: str, record: Path | None = None
) -> str | None:
    """Why the file at ``path`` is not the one of ``size`` bytes (None: any) and ``sha256`` (a
    whole sha256, or the prefix demucs' file names carry); None if it is.

    The size is compared first. ``record`` is a small file remembering a successful check,
    valid while the file keeps its size, modification and change times (anything that writes
    the file changes the latter): then the 335 MB are not hashed again. It is rewritten after
    every successful check.
    """
    try:
        actual = path.stat().st_size
        if size is not None and actual != size:
            return f"it has {actual:,} bytes, expected {size:,}"
        if record is not None and _recorded(path, record) == sha256:
            return None
        digest = sha256_file(path)
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"
    problem = _wrong_digest(digest, sha256)
    if problem is not None:
        return problem
    if record is not None:
        _remember(path, sha256, record)
    return None


def _wrong_digest(digest: str, expected: str) -> str | None:
    if digest.startswith(expected):
        return None
    if len(expected) < len(digest):
        return f"its sha256 begins {digest[: len(expected)]}, expected {expected}"
    return f"its sha256 is {digest}, expected {expected}"


def forget(path: Path) -> None:
    """Delete a cached checkpoint and the record of its check (one that verified but cannot be
    used: its content is refused when it is read)."""
    _remove(path, _record_of(path))


def _record_of(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def _record_key(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns} {stat.st_ctime_ns} {path.resolve()}"


def _recorded(path: Path, record: Path) -> str | None:
    """The sha256 ``record`` holds for ``path`` as it is now, or None."""
    try:
        sha256, _, key = record.read_text(encoding="utf-8").rstrip("\n").partition(" ")
    except (OSError, UnicodeDecodeError):
        return None
    return sha256 if key == _record_key(path) else None


def _remember(path: Path, sha256: str, record: Path) -> None:
    """Write ``record`` for ``path``; a cache that cannot be written only loses the shortcut."""
    with contextlib.suppress(OSError):
        record.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(record) as temporary:
            temporary.write_text(f"{sha256} {_record_key(path)}\n", encoding="utf-8")


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _delete_unverified(
    path: Path, size: int | None, sha256: str, name: str, log: Callable[[str], None]
) -> bool:
    """Delete the cached ``path`` that failed its check, unless it passes when checked again
    under the lock (another process may just have put the right file there); whether it went."""
    with _locked(path, name, log):
        problem = mismatch(path, size=size, sha256=sha256, record=_record_of(path))
        if problem is not None:
            log(f"deleting {path}: it is not the file of {name} ({problem})")
            _remove(path, _record_of(path))
        return problem is not None


def _by_hand(size: int | None, sha256: str, destination: Path, otherwise: str | None) -> str:
    """What to do without a download: put the file in place (or the caller's remedy)."""
    facts = (
        f"sha256 {sha256}"
        if len(sha256) == 64
        else f"sha256 beginning {sha256}"
        if sha256
        else "no published checksum"
    )
    if size is not None:
        facts = f"{size:,} bytes, {facts}"
    text = f"put the file ({facts}) at {destination}"
    return f"{text}, or {otherwise}" if otherwise else text


def _megabytes(count: int | None) -> str:
    return "?" if count is None else f"{count / 1e6:.1f}"


@contextlib.contextmanager
def _locked(destination: Path, name: str, log: Callable[[str], None]) -> Iterator[None]:
    """Hold ``<destination>.lock``, waiting (after one log line) while another process does.

    The lock file stays: removing it would let a waiting process and a new one each lock a
    different file. The lock goes with the process that holds it, however that process ends.
    """
    lock_path = destination.with_name(destination.name + LOCK_SUFFIX)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise DestinationError(
            f"cannot open {lock_path} for the download of {name}: {error.strerror or error}"
        ) from None
    try:
        if not try_lock(fd):
            log(f"waiting for another stemboard process downloading {name}")
            wait_for_lock(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor lets the lock go


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not possible on Windows, where it is not needed)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _BodyCut(Exception):
    """The connection ended before the body did."""

    def __init__(self, reason: str, received: int, timed_out: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.received = received
        self.timed_out = timed_out


class _Transfer:
    """One :func:`fetch_file` download into its part file: the bytes so far, their sha256, and
    the requests that bring the rest."""

    def __init__(
        self,
        url: str,
        part: Path,
        size: int | None,
        sha256: str,
        name: str,
        progress: Progress | None,
        log: Callable[[str], None],
        by_hand: str,
    ):
        self.url = url
        self.part = part
        self.size = size
        self.sha256 = sha256
        self.name = name
        self.progress = progress
        self.log = log
        self.by_hand = by_hand
        self.digest = hashlib.sha256()
        self.done = 0
        self.refused = False
        self.file: BinaryIO

    def run(self) -> None:
        """Fill the part file with the whole file and check it; ``CheckpointError`` otherwise.

        The part file stays when the transfer is cut with bytes in it (for the next call to
        resume); it is deleted, once closed, when empty or when its content is refused.
        """
        try:
            with open(self.part, "a+b") as self.file:
                self._read_part()
                self._receive_rest()
                problem = _wrong_digest(self.digest.hexdigest(), self.sha256)
                if problem is not None:
                    raise self._refused(problem)
                self.file.flush()
                os.fsync(self.file.fileno())
        except BaseException:
            if self.refused or (self.part.exists() and self.part.stat().st_size == 0):
                _remove(self.part)
            raise

    def _read_part(self) -> None:
        """Hash what an earlier transfer left, once."""
        self.file.seek(0)
        while block := self.file.read(CHUNK_BYTES):
            self.digest.update(block)
            self.done += len(block)
        if self.size is not None and self.done > self.size:
            self._start_again()
        if self.done > 0 and (self.size is None or self.done < self.size):
            self.log(
                f"resuming the download of {self.name} at {_megabytes(self.done)} of "
                f"{_megabytes(self.size)} MB from {self.url}"
            )
        elif self.done == 0:
            self.log(f"downloading {self.name} ({_megabytes(self.size)} MB) from {self.url}")

    def _receive_rest(self) -> None:
        cuts = 0
        while self.size is None or self.done < self.size:
            try:
                self._request_rest()
            except _BodyCut as cut:
                if cut.received and not cut.timed_out and cuts < RESUME_ATTEMPTS:
                    cuts += 1
                    continue
                raise self._cannot(cut.reason) from None

    def _request_rest(self) -> None:
        """One request for the bytes from ``self.done`` on, written to the part file."""
        resuming = self.done > 0
        headers = {"User-Agent": f"stemboard/{__version__}"}
        if resuming:
            headers["Range"] = f"bytes={self.done}-"
        try:
            response = urlopen(Request(self.url, headers=headers), timeout=TIMEOUT_S)
        except HTTPError as error:
            error.close()
            if error.code == 416 and resuming:  # the server's file is not the one begun
                self._start_again()
                return
            raise self._cannot(_reason(error)) from None
        except (OSError, HTTPException) as error:
            raise self._cannot(_reason(error)) from None
        with response:
            if self._take_answer(response, resuming):
                self._read_body(response)

    def _take_answer(self, response: HTTPResponse, resuming: bool) -> bool:
        """Check the answer's headers; False when it is to be dropped for a fresh request."""
        if response.headers.get_content_type() == "text/html":
            raise self._refused("it served a web page, not the file")
        if response.status == 206:
            content_range = response.headers.get("Content-Range", "")
            total = content_range.rpartition("/")[2]
            size = self.size if self.size is not None else int(total) if total.isdigit() else -1
            if resuming and content_range == f"bytes {self.done}-{size - 1}/{size}":
                self.size = size
                return True
            if not resuming:
                raise self._cannot(f"it answered with part of a file ({content_range!r})")
            self._start_again()
            return False
        if resuming:  # the whole file again: the server does not resume
            self._start_again()
        return True

    def _read_body(self, response: HTTPResponse) -> None:
        """Append the answer's body to the part file, refusing a web page or another file (told
        by its first block, or the length announced for the whole file)."""
        announced = _content_length(response)
        if self.size is None:
            if announced is None or self.done:
                raise self._cannot("the server does not say how large the file is")
            self.size = announced
        received = 0
        if self.progress:
            self.progress(self.done, self.size)
        while True:
            try:
                block = response.read(CHUNK_BYTES)
            except (OSError, HTTPException) as error:
                raise _BodyCut(_reason(error), received, isinstance(error, TimeoutError)) from None
            if not block:
                break
            if received == 0 and self.done == 0:
                self._check_start(block, announced)
            self._append(block)
            received += len(block)
            if self.done > self.size:
                raise self._refused(f"the server sent more than the expected {self.size:,} bytes")
            if self.progress:
                self.progress(self.done, self.size)
        if self.done < self.size:
            if announced is not None and received < announced:
                raise _BodyCut("the connection closed before the end", received)
            raise self._refused(f"the server sent {self.done:,} bytes, expected {self.size:,}")

    def _check_start(self, block: bytes, announced: int | None) -> None:
        if _looks_like_a_web_page(block):
            raise self._refused("it served a web page, not the file")
        if announced is not None and announced != self.size:
            raise self._refused(f"the server announces {announced:,} bytes, expected {self.size:,}")

    def _append(self, block: bytes) -> None:
        try:
            self.file.write(block)
        except OSError as error:
            kind = DiskFullError if error.errno == errno.ENOSPC else DestinationError
            raise kind(f"cannot write {self.part}: {error.strerror or error}") from None
        self.digest.update(block)
        self.done += len(block)

    def _start_again(self) -> None:
        self.file.truncate(0)
        self.digest = hashlib.sha256()
        self.done = 0

    def _cannot(self, reason: str) -> CheckpointError:
        """The transfer failed; the bytes so far are kept for the next try."""
        kept = (
            f"; the {_megabytes(self.done)} MB downloaded so far are kept and the next try resumes"
            if self.done
            else ""
        )
        return CheckpointError(
            f"cannot download {self.name} from {self.url} ({reason}{kept}): {self.by_hand}"
        )

    def _refused(self, problem: str) -> CheckpointError:
        """What the server sent is not the file: the part file goes (:meth:`run` deletes it)."""
        self.refused = True
        return CheckpointError(
            f"refused {self.name} from {self.url}: {problem}; the download was deleted: "
            + self.by_hand
        )


def _content_length(response: HTTPResponse) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (TypeError, ValueError):
        return None


def _looks_like_a_web_page(block: bytes) -> bool:
    return block.lstrip()[:9].lower().startswith((b"<!doctype", b"<html"))


def _reason(error: BaseException) -> str:
    """What went wrong, in words, without urllib's ``<urlopen error ...>`` wrapping."""
    if isinstance(error, HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, URLError):
        if not isinstance(error.reason, BaseException):
            return str(error.reason)
        error = error.reason
    if isinstance(error, TimeoutError):
        return f"no answer within {TIMEOUT_S} s"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
