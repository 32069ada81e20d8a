"""Turning what the user calls a model — a path or a known name — into an ONNX file on disk.

Known names come from :mod:`stemboard.registry`. A packaged model (``demo``) is a file inside the
package (``stemboard/models``). A bundle (``hdemucs_high_musdb_plus``) is
exported once into the cache directory (``$STEMBOARD_CACHE``, default ``~/.cache/stemboard``)
through the exporter when torch is installed; without torch the error says how to get the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from stemboard.errors import StemboardError
from stemboard.model_format import fp16_path_for
from stemboard.registry import BUNDLES, PACKAGED

CACHE_ENV = "STEMBOARD_CACHE"


def cache_dir() -> Path:
    """Where exported known models live: ``$STEMBOARD_CACHE`` or ``~/.cache/stemboard``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "stemboard"


def packaged_model_path(name: str) -> Path:
    """Where the packaged model ``name`` lies inside the installed package."""
    return Path(__file__).resolve().parent.parent / "models" / PACKAGED[name].resource


def resolve_model(model: str | os.PathLike, *, fp16: bool = False) -> Path:
    """The ONNX file for ``model`` (a path, or a name in the registry), exporting it if needed.

    With ``fp16`` the float16 variant beside it (``<name>.fp16.onnx``) is returned.
    """
    text = os.fspath(model)
    if text in PACKAGED:
        path = packaged_model_path(text)
        if fp16:
            raise StemboardError(f"the packaged model {text!r} has no fp16 variant; drop --fp16")
        if not path.is_file():
            raise StemboardError(
                f"the packaged model {text!r} is missing from this installation ({path}); "
                "reinstall stemboard"
            )
        return path
    if text in BUNDLES:
        path = cache_dir() / f"{text}.onnx"
        wanted = fp16_path_for(path) if fp16 else path
        if not wanted.is_file():
            _export_bundle(text, path, fp16)
        return wanted
    path = Path(text)
    if path.suffix != ".onnx" and not path.exists():
        known = ", ".join(sorted([*PACKAGED, *BUNDLES]))
        raise StemboardError(f"unknown model {text!r}: give a .onnx file or one of: {known}")
    if fp16:
        path = fp16_path_for(path)
        if not path.is_file():
            raise StemboardError(
                f"fp16 was asked for but {path} does not exist "
                f"(export with: stemboard export ... --fp16 --out {Path(text)})"
            )
    if not path.is_file():
        raise StemboardError(f"model file {path} does not exist")
    return path


def _export_bundle(name: str, path: Path, fp16: bool) -> None:
    command = f"stemboard export --bundle {name} --out {path}" + (" --fp16" if fp16 else "")
    try:
        from stemboard.export import export_hdemucs
    except ModuleNotFoundError as error:
        raise StemboardError(
            f"model {name!r} is not in {cache_dir()} yet and exporting it needs torch "
            f"({error.name} is missing): install stemboard[export] and run `{command}`, "
            f"or copy an exported {path.name} there"
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    export_hdemucs(path, bundle=name, fp16=fp16)
