"""Models on first use: the file for a model name, exported into the cache when it is missing.

Example::

    from stemboard.models import ensure_model
    path = ensure_model("hdemucs_high_musdb_plus")   # exports once (needs stemboard[export])
    node = SeparatorNode(path)

The node itself never exports (it does not import the exporter): it only opens files, and its
error for a missing bundle names the command that makes it. ``stemboard separate`` and
``stemboard render`` call :func:`ensure_model` first, so ``--model hdemucs_high_musdb_plus``
exports the bundle on first use when torch is installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from stemboard.errors import MissingFileError
from stemboard.registry import BUNDLES, bundle_model_path, export_command, model_path

EXPORT_MODULES = ("torch", "torchaudio", "onnx", "onnxscript")
"""The packages the exporter needs (the ``export`` extra)."""


def ensure_model(
    model: str | os.PathLike, *, fp16: bool = False, log: Callable[[str], None] = print
) -> Path:
    """The ONNX file for ``model``; a known bundle not exported yet is exported first.

    Anything else behaves as :func:`stemboard.registry.model_path`. Without torch, a missing
    bundle is a :class:`~stemboard.errors.MissingFileError` that says what to install and run.
    """
    name = os.fspath(model)
    if name not in BUNDLES:
        return model_path(model, fp16=fp16)
    path = bundle_model_path(name)
    try:
        return model_path(name, fp16=fp16)
    except MissingFileError:
        pass
    command = export_command(name, path, fp16)
    try:
        from stemboard.export import export_hdemucs
    except ModuleNotFoundError as error:
        if error.name not in EXPORT_MODULES:
            raise
        raise MissingFileError(
            f"model {name!r} is not in {path.parent} yet and exporting it needs torch "
            f"({error.name} is missing): install stemboard[export] and run `{command}`, "
            f"or copy an exported {path.name} there, or use the packaged demo model (--model demo)"
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"exporting {name} into {path.parent} (once): {command}")
    export_hdemucs(path, bundle=name, fp16=fp16, overwrite=True, log=log)
    return model_path(name, fp16=fp16)
