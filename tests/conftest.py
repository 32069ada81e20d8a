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


def write_identity_model(path, segment=4096, sources=("drums", "bass", "other", "vocals"), **meta):
    """An ONNX file following the contract whose every stem is its input: ``stems[:, s] = mix``."""
    import onnx
    from onnx import TensorProto, helper

    count = len(sources)
    nodes = [
        helper.make_node("Unsqueeze", ["mix", "axis"], ["one"]),
        helper.make_node("Concat", ["one"] * count, ["stems"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "identity",
        [helper.make_tensor_value_info("mix", TensorProto.FLOAT, ["batch", 2, segment])],
        [helper.make_tensor_value_info("stems", TensorProto.FLOAT, ["batch", count, 2, segment])],
        [helper.make_tensor("axis", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    metadata = {
        "stemboard.format": "1",
        "stemboard.sources": ",".join(sources),
        "stemboard.sample_rate": "44100",
        "stemboard.segment_samples": str(segment),
        "stemboard.model": "identity",
        "stemboard.weights_sha256": "0" * 64,
        **meta,
    }
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def make_identity_model():
    """``write_identity_model``, for tests that need a variant."""
    return write_identity_model


@pytest.fixture(scope="session")
def identity_model(tmp_path_factory):
    return write_identity_model(tmp_path_factory.mktemp("identity") / "identity.onnx")
