"""Models on first use: the file for a model name, made when it is missing, and the node on it.

Example::

    from stemboard.models import open_node
    node = open_node(NodeSettings("hdemucs_high_musdb_plus"))   # exported once, then opened

The node itself never exports (it does not import the exporter): it only opens files, and its
error for a missing bundle names the command that makes it. The commands, the batch workers and
the studio open their nodes with :func:`open_node`, so ``--model hdemucs_high_musdb_plus``
exports the bundle on first use when torch is installed; :func:`ensure_model` makes the file
alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from stemboard.errors import MissingFileError
from stemboard.node.separator import SeparatorNode
from stemboard.node.settings import NodeSettings
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


def open_node(
    settings: NodeSettings,
    *,
    threads: int | None = None,
    log: Callable[[str], None] = print,
) -> SeparatorNode:
    """The node ``settings`` describe, its model made first if it is a known one not made yet
    (:func:`ensure_model`); ``threads`` as in :class:`~stemboard.node.SeparatorNode`."""
    ensure_model(settings.name, fp16=settings.fp16, log=log)
    return SeparatorNode.from_settings(settings, threads=threads)
