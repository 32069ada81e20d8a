"""Shared fixtures: models are made here (random or saved weights), never downloaded."""

import pytest
import torch
from torchaudio.models import HDemucs

from stemboard.registry import architecture


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """The `tiny` architecture (random weights, seed 0) exported with its fp16 variant."""
    from stemboard.export import export_hdemucs

    out = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    logged: list[str] = []
    result = export_hdemucs(out, config="tiny", seed=0, segment=5.0, fp16=True, log=logged.append)
    result.log = logged
    return result


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A `tiny` state_dict saved with torch.save, as the official file is; (path, model)."""
    torch.manual_seed(7)
    model = HDemucs(**architecture("tiny").hdemucs_kwargs()).eval()
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path, model
