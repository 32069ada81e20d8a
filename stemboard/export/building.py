"""PyTorch models from registry layouts: torchaudio's HDemucs, demucs' HTDemucs and HDemucs, and
bags of them.

``build(arch)`` makes the model of an :class:`~stemboard.registry.Architecture` with fresh
weights; ``load_state(model, state)`` puts numpy weights (as the torch-free readers return
them) into it. demucs' classes come from the ``demucs`` package (the export extra); arguments
its constructor does not know are dropped, as demucs' own ``load_model`` does.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Mapping

import numpy as np
import torch
import torchaudio
from torch import nn

from stemboard.errors import InvalidValueError
from stemboard.export.exportable import Bag
from stemboard.registry import TORCHAUDIO_HDEMUCS, Architecture


def model_class(family: str) -> type:
    """The class called ``family`` (``demucs.htdemucs.HTDemucs``...)."""
    if family == TORCHAUDIO_HDEMUCS:
        return torchaudio.models.HDemucs
    module, name = family.rsplit(".", 1)
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        raise InvalidValueError(
            f"exporting a {name} needs the demucs package: pip install 'stemboard[export]'"
        ) from None


def build(arch: Architecture) -> nn.Module:
    """A model of layout ``arch`` with the weights its constructor initialises, in eval mode
    (seed torch first for reproducible ones); a :class:`Bag` when ``arch`` is a bag."""
    klass = model_class(arch.family)
    kwargs = arch.model_kwargs()
    known = inspect.signature(klass).parameters
    kwargs = {key: value for key, value in kwargs.items() if key in known}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # demucs' transformer warns about nested tensors
        if not arch.bag:
            return klass(**kwargs).eval()
        return Bag([klass(**kwargs) for _ in arch.bag], [list(row) for row in arch.bag]).eval()


def load_state(model: nn.Module, state: Mapping[str, np.ndarray]) -> nn.Module:
    """``model`` with ``state`` (checked against it by the caller) loaded, in eval mode."""
    model.load_state_dict(
        {key: torch.from_numpy(np.asarray(value)) for key, value in state.items()}
    )
    return model.eval()
