"""Models on first use: the file for a model name, made when it is missing, and the node on it.

Example::

    from stemboard.models import open_node
    node = open_node(NodeSettings("hdemucs_high_musdb_plus"))  # fetched and bound once

The node itself never makes files (it does not import the exporter or the network): it only
opens them, and its error for a missing bundle names the command that makes it. The commands,
the batch workers and the studio open their nodes with :func:`open_node`, so ``--model
hdemucs_high_musdb_plus`` makes the bundle's file on first use: its official checkpoint is
downloaded and bound to the graph stemboard ships for its architecture, without torch
(:mod:`stemboard.pretrained`); a bundle of an architecture with no shipped graph is exported
with torch. :func:`ensure_model` makes the file alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from stemboard.errors import MissingFileError
from stemboard.node.separator import SeparatorNode
from stemboard.node.settings import NodeSettings
from stemboard.pretrained.download import Progress
from stemboard.pretrained.install import install_bundle
from stemboard.registry import (
    BUNDLES,
    architecture,
    bundle_model_path,
    export_command,
    model_path,
)

EXPORT_MODULES = ("torch", "torchaudio", "onnx", "onnxscript")
"""The packages the exporter needs (the ``export`` extra)."""


def ensure_model(
    model: str | os.PathLike,
    *,
    fp16: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """The ONNX file for ``model``; a known bundle not made yet is made first.

    Anything else behaves as :func:`stemboard.registry.model_path`. A bundle of an
    architecture stemboard ships a graph for is fetched and bound (no torch; ``progress`` sees
    the download); another needs torch, and without it the error says what to install and run.
    """
    name = os.fspath(model)
    if name not in BUNDLES:
        return model_path(model, fp16=fp16)
    try:
        return model_path(name, fp16=fp16)
    except MissingFileError:
        pass
    if architecture(BUNDLES[name].architecture).weight_free:
        return install_bundle(name, fp16=fp16, progress=progress, log=log)
    return _export_bundle(name, fp16, log)


def _export_bundle(name: str, fp16: bool, log: Callable[[str], None]) -> Path:
    path = bundle_model_path(name)
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
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> SeparatorNode:
    """The node ``settings`` describe, its model made first if it is a known one not made yet
    (:func:`ensure_model`); ``threads`` as in :class:`~stemboard.node.SeparatorNode`."""
    ensure_model(settings.name, fp16=settings.fp16, progress=progress, log=log)
    return SeparatorNode.from_settings(settings, threads=threads)
