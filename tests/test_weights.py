"""Loading state_dict files into torchaudio's HDemucs: every bad file is one clear
CheckpointError (fetching them: tests/test_download.py; reading them: tests/test_torch_file.py).
"""

import hashlib
import random
import re

import pytest
import torch
from torchaudio.models import HDemucs

from stemboard import registry
from stemboard.digest import sha256_file
from stemboard.errors import CheckpointError
from stemboard.export.weights import load_checkpoint

TINY = registry.architecture("tiny")
OFFICIAL = registry.bundle("hdemucs_high_musdb_plus")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """A `tiny` state_dict saved with torch.save, as the official file is."""
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    torch.save(HDemucs(**TINY.hdemucs_kwargs()).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def tiny_state(tiny_file):
    return torch.load(tiny_file, weights_only=True)


def _raises_naming(path, problem):
    return pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*" + problem)


def test_loads_checkpoint_with_its_sha256_and_weights(tiny_file, tiny_state):
    model, sha256 = load_checkpoint(tiny_file, TINY)

    assert sha256 == hashlib.sha256(tiny_file.read_bytes()).hexdigest()
    assert sha256 == sha256_file(tiny_file)
    assert not model.training
    loaded = model.state_dict()
    assert loaded.keys() == tiny_state.keys()
    for key, tensor in tiny_state.items():
        assert torch.equal(loaded[key], tensor), key


def test_loads_checkpoint_wrapped_in_state_dict_key(tmp_path, tiny_state):
    path = tmp_path / "wrapped.pt"
    torch.save({"state_dict": tiny_state}, path)

    model, _ = load_checkpoint(path, TINY)

    assert all(torch.equal(model.state_dict()[k], v) for k, v in tiny_state.items())


def test_loads_legacy_format_checkpoint(tmp_path, tiny_state):
    path = tmp_path / "legacy.pt"
    torch.save(tiny_state, path, _use_new_zipfile_serialization=False)

    model, _ = load_checkpoint(path, TINY)

    assert all(torch.equal(model.state_dict()[k], v) for k, v in tiny_state.items())


def test_missing_file_is_refused(tmp_path):
    path = tmp_path / "absent.pt"
    with _raises_naming(path, "no such file"):
        load_checkpoint(path, TINY)


def test_directory_is_refused(tmp_path):
    with _raises_naming(tmp_path, "is a directory"):
        load_checkpoint(tmp_path, TINY)


@pytest.mark.parametrize(
    "content",
    [random.Random(0).randbytes(4096), b"drums, bass, other, vocals\n", b""],
    ids=["random-bytes", "text", "empty"],
)
def test_file_that_is_not_a_checkpoint_is_refused(tmp_path, content):
    path = tmp_path / "not_a_checkpoint.pt"
    path.write_bytes(content)
    with _raises_naming(path, "not a torch.save file"):
        load_checkpoint(path, TINY)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_truncated_checkpoint_is_refused(tmp_path, tiny_state, legacy):
    whole = tmp_path / "whole.pt"
    torch.save(tiny_state, whole, _use_new_zipfile_serialization=not legacy)
    path = tmp_path / "half.pt"
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with _raises_naming(path, "truncated or corrupt"):
        load_checkpoint(path, TINY)


def test_pickled_module_is_refused_as_python_objects(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with _raises_naming(
        path, r"refused: .*Python global torch.nn.modules.linear.Linear.*nothing in it was run"
    ):
        load_checkpoint(path, TINY)


def test_list_of_tensors_is_refused(tmp_path, tiny_state):
    path = tmp_path / "list.pt"
    torch.save(list(tiny_state.values()), path)
    with _raises_naming(path, "type list, not a state_dict"):
        load_checkpoint(path, TINY)


def test_dict_with_non_tensor_values_is_refused(tmp_path, tiny_state):
    path = tmp_path / "training_state.pt"
    torch.save({**tiny_state, "epoch": 12}, path)
    with _raises_naming(path, "'epoch' is of type int, not a tensor"):
        load_checkpoint(path, TINY)


def test_checkpoint_of_another_architecture_is_refused(tiny_file):
    with _raises_naming(
        tiny_file,
        r"does not fit architecture 'small': 0 missing keys; 0 unexpected keys; "
        r"shapes differ in \d+ of \d+ tensors, first \S+: checkpoint \[4, .*\] vs model \[8, ",
    ):
        load_checkpoint(tiny_file, registry.architecture("small"))


def test_missing_and_unexpected_keys_are_counted_with_examples(tmp_path, tiny_state):
    state = dict(tiny_state)
    dropped = list(state)[:5]
    for key in dropped:
        del state[key]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "renamed.pt"
    torch.save(state, path)
    examples = re.escape(", ".join(dropped[:3]))
    with _raises_naming(
        path, rf"5 missing keys \(e\.g\. {examples}\); 1 unexpected key \(e\.g\. extra\.weight\)"
    ):
        load_checkpoint(path, TINY)


def test_checkpoint_with_nan_is_refused(tmp_path, tiny_state):
    state = {key: tensor.clone() for key, tensor in tiny_state.items()}
    key = next(k for k, t in state.items() if t.is_floating_point())
    state[key].view(-1)[0] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(state, path)
    with _raises_naming(path, f"tensor {re.escape(key)} holds NaN or infinite values"):
        load_checkpoint(path, TINY)


def test_official_bundle_record_keeps_its_size_and_checksum():
    (file,) = OFFICIAL.files
    assert OFFICIAL.size == file.size == 334_697_255
    assert file.sha256 == "a004b2790d73ffeaa535db458a1a79b539dfdbafbccc31f275d07e632ebd7816"
    assert registry.bundle_for_sha256(file.sha256) is OFFICIAL
