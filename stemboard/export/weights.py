"""A checkpoint as a torchaudio ``HDemucs``: the weights read without running anything, checked
against the architecture, loaded into the model.

The reading and the checks are the torch-free ones binding uses
(:mod:`stemboard.pretrained.torch_file`, :func:`stemboard.pretrained.binding.check_state_dict`),
so a checkpoint the exporter accepts is one binding accepts, with the same one-line errors.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchaudio

from stemboard.digest import sha256_file
from stemboard.pretrained.binding import check_state_dict
from stemboard.pretrained.torch_file import read_state_dict
from stemboard.registry import Architecture


def load_checkpoint(
    path: str | os.PathLike, arch: Architecture
) -> tuple[torchaudio.models.HDemucs, str]:
    """Build ``arch`` and load the ``state_dict`` saved at ``path`` into it, in eval mode.

    >>> model, sha256 = load_checkpoint("hdemucs_high_trained.pt", architecture("high"))

    Returns the model and the file's sha256. Raises ``CheckpointError`` naming the file for
    anything that makes it unusable.
    """
    path = Path(path)
    state = read_state_dict(path)
    model = torchaudio.models.HDemucs(**arch.hdemucs_kwargs())
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    check_state_dict(path, state, expected, arch.name)
    model.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    return model.eval(), sha256_file(path)
