"""Files that appear whole or not at all: write to a hidden temporary name, then rename.

Example::

    with atomic_path("out/scores.json") as temporary:
        temporary.write_text(text)            # out/scores.json appears only now, complete

    with AtomicFiles() as files:              # several files, committed together
        onnx.save(model, files.reserve("model.onnx"))
        onnx.save(half, files.reserve("model.fp16.onnx"))
        verify(...)                           # an exception here leaves neither file

The temporary name sits next to the target (same folder, so the rename is atomic and never
crosses file systems), starts with a dot and ends with ``.partial`` plus the target's suffix, so
writers that pick a format from the suffix still do. Whatever ends the ``with`` block early —
an exception, Ctrl-C, SIGTERM turned into an exception — removes every temporary file and leaves
the targets as they were. Files are created by the writer itself, so they get the usual
permissions (the umask), not the 0600 of ``tempfile.mkstemp``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

PARTIAL = ".partial"
"""What every temporary name contains; a file with it in its name is never a finished output."""


def temporary_name(target: str | os.PathLike[str], suffix: str | None = None) -> Path:
    """A fresh hidden name next to ``target`` ending in its suffix (or ``suffix``):
    ``out/vocals.wav`` -> ``out/.vocals.wav.1f3a9c2e.partial.wav``."""
    target = Path(target)
    end = target.suffix if suffix is None else suffix
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}{PARTIAL}{end}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class AtomicFiles:
    """A group of files (or folders) written under temporary names and renamed together.

    :meth:`reserve` hands out the temporary path for a target; :meth:`commit` renames every
    reserved path onto its target (a folder target that exists is replaced); :meth:`discard`
    removes them. As a context manager it commits when the block ends normally and discards
    otherwise. A reserved path the writer never created is skipped by :meth:`commit` only if
    ``required=False`` was given; otherwise committing it is an error (``FileNotFoundError``).
    """

    def __init__(self) -> None:
        self._reserved: list[tuple[Path, Path, bool]] = []

    def reserve(
        self, target: str | os.PathLike[str], *, suffix: str | None = None, required: bool = True
    ) -> Path:
        """The temporary path to write ``target`` under (ending in ``suffix`` if given)."""
        temporary = temporary_name(target, suffix)
        self._reserved.append((temporary, Path(target), required))
        return temporary

    def commit(self) -> list[Path]:
        """Rename every temporary file onto its target; returns the targets.

        If a rename fails, the files not yet renamed are removed and the error is raised.
        """
        done: list[Path] = []
        try:
            while self._reserved:
                temporary, target, required = self._reserved[0]
                if temporary.exists() or required:
                    if temporary.is_dir() and target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    os.replace(temporary, target)
                    done.append(target)
                self._reserved.pop(0)
        except BaseException:
            self.discard()
            raise
        return done

    def discard(self) -> None:
        """Remove every temporary file not yet committed."""
        reserved, self._reserved = self._reserved, []
        for temporary, _, _ in reserved:
            _remove(temporary)

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def remove_leftovers(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of ``target`` that an interrupted writer left behind (a
    process killed outright cannot clean up after itself); returns what was removed."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    removed = []
    for leftover in target.parent.glob(f".{glob_escape(target.name)}.*{PARTIAL}*"):
        _remove(leftover)
        removed.append(leftover)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """The temporary path to write ``target`` under; renamed onto it when the block succeeds."""
    with AtomicFiles() as files:
        yield files.reserve(target)
