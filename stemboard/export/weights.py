"""Checkpoints as PyTorch models: the weights read without running anything, checked against
the architecture, loaded into the model.

The reading and the checks are the torch-free ones binding uses
(:func:`stemboard.pretrained.install.read_checkpoint`,
:func:`stemboard.pretrained.binding.check_state_dict`), so a checkpoint the exporter accepts is
one binding accepts, with the same one-line errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from torch import nn

from stemboard.export.building import build, load_state
from stemboard.pretrained.binding import check_state_dict
from stemboard.pretrained.install import read_checkpoint
from stemboard.registry import Architecture


def model_with(
    arch: Architecture, state: Mapping[str, np.ndarray], source: str | os.PathLike
) -> nn.Module:
    """A model of ``arch`` holding ``state`` (read from ``source``), in eval mode; a
    ``CheckpointError`` naming ``source`` when the weights do not fit the architecture."""
    model = build(arch)
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    check_state_dict(source, state, expected, arch.name)
    return load_state(model, state)


def load_checkpoint(
    path: str | os.PathLike, arch: Architecture | None = None
) -> tuple[nn.Module, str]:
    """The model saved at ``path``, in eval mode, and the file's sha256.

    >>> model, sha256 = load_checkpoint("hdemucs_high_trained.pt", architecture("high"))
    >>> model, sha256 = load_checkpoint("955717e8-8726e21a.th")  # demucs' file names its layout

    A plain ``state_dict`` is of ``arch`` (``high`` by default). Raises ``CheckpointError``
    naming the file for anything that makes it unusable.
    """
    path = Path(path)
    found, state, sha256 = read_checkpoint(path, arch.name if arch is not None else None)
    return model_with(found, state, path), sha256
