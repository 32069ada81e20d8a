"""Output file-name templates: checking one, and turning one into a path inside an output folder.

A template names each file a render writes, relative to the output folder, with the fields
``{track}`` (the input's file name without suffix), ``{name}`` (``mix``, a stem or a bus),
``{ext}`` (the format) and ``{preset}``::

    check_template("{track}/{name}.{ext}", "wav", files=5)
    output_path("out", "{track}/{name}.{ext}", track="song", name="vocals", ext="wav")
    # -> out/song/vocals.wav, and never anything outside out/

Presets check their template when they are read; the renderer resolves it for every file.
"""

from __future__ import annotations

import os
import string
from pathlib import Path, PureWindowsPath
from typing import Any

from stemboard.errors import DestinationError, InvalidValueError

DEFAULT_TEMPLATE = "{track}/{name}.{ext}"
FIELDS = ("track", "name", "ext", "preset")


def check_template(template: Any, format: str, files: int | None) -> str:
    """``template`` if it is a safe file-name template; ``ValueError`` otherwise.

    Safe: only the fields {track}, {name}, {ext}, {preset}, no format specs; relative (no
    leading slash, no drive letter); no ``..``; ends with ``.{ext}`` or ``.<format>``; has
    ``{name}`` when ``files`` > 1 (or the files would overwrite each other; ``None`` when the
    count is not known yet).
    """
    if not isinstance(template, str) or not template:
        shown = repr(template) if isinstance(template, str) else type(template).__name__
        raise InvalidValueError(f"expected a file name template, got {shown}")
    if any(ord(char) < 32 for char in template):
        raise InvalidValueError(f"{template!r} contains control characters")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InvalidValueError(f"bad template {template!r}: {error}") from None
    fields = ", ".join(f"{{{name}}}" for name in FIELDS)
    used = set()
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in FIELDS:
            raise InvalidValueError(f"unknown field {{{name}}} in {template!r} (fields: {fields})")
        if spec or conversion:
            raise InvalidValueError(
                f"{{{name}}} takes no format spec or conversion in {template!r}"
            )
        used.add(name)
    if PureWindowsPath(template).anchor:
        raise InvalidValueError(
            f"{template!r} is an absolute path; it must be relative to the output directory"
        )
    if ".." in template:
        raise InvalidValueError(
            f"{template!r} contains '..'; files stay inside the output directory"
        )
    if not template.endswith((".{ext}", f".{format}")):
        raise InvalidValueError(f"{template!r} must end with '.{{ext}}' (or '.{format}')")
    if files is not None and files > 1 and "name" not in used:
        raise InvalidValueError(
            f"{template!r} has no {{name}} but {files} files are written: they would collide"
        )
    return template


def relative_path(template: str, **fields: Any) -> str:
    """The file name ``template`` gives for ``fields``, relative to the output folder.

    Raises ``ValueError`` for a template that uses a field not given, and
    :class:`~stemboard.errors.DestinationError` for a result that is absolute or holds a NUL.
    """
    try:
        relative = template.format(**{key: str(value) for key, value in fields.items()})
    except KeyError as error:
        raise InvalidValueError(
            f"template {template!r} uses {{{error.args[0]}}}, not given"
        ) from None
    except (ValueError, IndexError, AttributeError) as error:
        raise InvalidValueError(f"bad template {template!r}: {error}") from None
    if "\0" in relative:
        raise DestinationError(f"output file {relative!r} (template {template!r}) holds a NUL")
    if PureWindowsPath(relative).anchor or Path(relative).is_absolute():
        raise DestinationError(
            f"output file {relative!r} (template {template!r}) is an absolute path"
        )
    return relative


def output_path(out_dir: str | os.PathLike, template: str, **fields: Any) -> Path:
    """The file ``template`` names for ``fields``: ``out_dir`` joined with it, checked to lie
    inside ``out_dir`` once every symbolic link is resolved.

    >>> output_path("out", "{track}/{name}.{ext}", track="song", name="vocals", ext="wav")
    PosixPath('out/song/vocals.wav')

    Raises :class:`~stemboard.errors.DestinationError` (an ``OSError``) when the result is not
    inside ``out_dir`` — whatever the field values are (``track="../../etc"``) and wherever a
    symbolic link on the way points.
    """
    relative = relative_path(template, **fields)
    return check_inside(
        out_dir, Path(out_dir) / relative, f"output file {relative!r} (template {template!r})"
    )


def check_inside(out_dir: str | os.PathLike, path: Path, what: str | None = None) -> Path:
    """``path`` when it lies inside ``out_dir`` once every symbolic link on the way is
    resolved: the one check of every file stemboard writes into an output folder (a render's
    template, a batch's mirrored folders and manifest ``output`` folders).

    Raises :class:`~stemboard.errors.DestinationError` naming ``what`` (default the path)
    otherwise, e.g. when ``out/albumA`` is a link to a folder elsewhere.
    """
    try:
        root = Path(out_dir).resolve()
        target = path.resolve()
    except (RuntimeError, OSError) as error:  # a symbolic link loop (OSError from Python 3.13)
        raise DestinationError(f"{what or path}: cannot be written: {error}") from None
    if target == root or not target.is_relative_to(root):
        raise DestinationError(
            f"{what or path} is outside the output directory {root} (it leads to {target})"
        )
    return path
