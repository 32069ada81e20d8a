"""Loading state_dict files and fetching bundles: every bad file is one clear CheckpointError.

Downloads only ever talk to an HTTP server started here on 127.0.0.1.
"""

import dataclasses
import hashlib
import random
import re
import socket
import urllib.request

import pytest
import torch
from torchaudio.models import HDemucs

from stemboard import registry
from stemboard.digest import sha256_file
from stemboard.errors import CheckpointError
from stemboard.export.weights import load_checkpoint, resolve_bundle

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
    with _raises_naming(path, "not a torch.save checkpoint"):
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
    with _raises_naming(path, r"Python objects .*only state_dicts are loaded"):
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


@pytest.fixture
def tiny_bundle(server, tiny_file):
    """The official record, pointing at the tiny checkpoint on the local server."""
    data = tiny_file.read_bytes()
    return dataclasses.replace(
        OFFICIAL,
        url=server.serve("/tiny.pt", data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_download_lands_where_torchaudio_caches_it(tmp_path, tiny_bundle, tiny_file):
    path = resolve_bundle(tiny_bundle, hub_dir=tmp_path)

    assert path == tmp_path / "torchaudio" / tiny_bundle.cache_key
    assert path.read_bytes() == tiny_file.read_bytes()
    assert _files_under(tmp_path) == [f"torchaudio/{tiny_bundle.cache_key}"]


def test_cached_file_is_used_without_a_request(tmp_path, server, tiny_bundle):
    first = resolve_bundle(tiny_bundle, hub_dir=tmp_path)
    second = resolve_bundle(tiny_bundle, hub_dir=tmp_path)

    assert first == second
    assert server.requests == ["/tiny.pt"]


def test_download_with_wrong_checksum_is_refused_and_removed(tmp_path, tiny_bundle):
    wrong = dataclasses.replace(tiny_bundle, sha256="0" * 64)
    with pytest.raises(
        CheckpointError, match=f"downloaded file has sha256 {tiny_bundle.sha256}, expected 0{{64}}"
    ):
        resolve_bundle(wrong, hub_dir=tmp_path)
    assert _files_under(tmp_path) == []


def test_partial_download_is_refused_and_removed(tmp_path, server, tiny_bundle, tiny_file):
    data = tiny_file.read_bytes()
    partial = dataclasses.replace(
        tiny_bundle, url=server.serve("/partial.pt", data[: len(data) // 3], len(data))
    )
    with pytest.raises(CheckpointError, match=f"expected {len(data):,}"):
        resolve_bundle(partial, hub_dir=tmp_path)
    assert _files_under(tmp_path) == []


def test_interrupted_download_is_removed(tmp_path, tiny_bundle, monkeypatch):
    class Interrupted:
        def __init__(self):
            self.blocks = [b"first block"]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size):
            if self.blocks:
                return self.blocks.pop()
            raise KeyboardInterrupt

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Interrupted())
    with pytest.raises(KeyboardInterrupt):
        resolve_bundle(tiny_bundle, hub_dir=tmp_path)
    assert _files_under(tmp_path) == []


def test_corrupt_cached_file_is_downloaded_again(tmp_path, server, tiny_bundle, tiny_file):
    cached = tmp_path / "torchaudio" / tiny_bundle.cache_key
    cached.parent.mkdir(parents=True)
    cached.write_bytes(bytes(tiny_bundle.size))

    path = resolve_bundle(tiny_bundle, hub_dir=tmp_path)

    assert path == cached
    assert path.read_bytes() == tiny_file.read_bytes()
    assert server.requests == ["/tiny.pt"]
    assert _files_under(tmp_path) == [f"torchaudio/{tiny_bundle.cache_key}"]


def test_corrupt_cached_file_is_refused_when_download_is_off(tmp_path, server, tiny_bundle):
    cached = tmp_path / "torchaudio" / tiny_bundle.cache_key
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the weights")

    with pytest.raises(CheckpointError, match=re.escape(f"{cached} is not the official file")):
        resolve_bundle(tiny_bundle, hub_dir=tmp_path, download=False)
    assert server.requests == []


def test_absent_file_is_refused_when_download_is_off(tmp_path, server, tiny_bundle):
    with pytest.raises(CheckpointError, match="downloading is off"):
        resolve_bundle(tiny_bundle, hub_dir=tmp_path, download=False)
    assert server.requests == []


def test_http_error_is_reported(tmp_path, server, tiny_bundle):
    gone = dataclasses.replace(tiny_bundle, url=tiny_bundle.url.replace("tiny.pt", "gone.pt"))
    with pytest.raises(CheckpointError, match=r"could not download http://\S+/gone.pt: .*404"):
        resolve_bundle(gone, hub_dir=tmp_path)
    assert _files_under(tmp_path) == []


def test_unreachable_url_says_where_to_put_the_file(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = dataclasses.replace(OFFICIAL, url=f"http://127.0.0.1:{closed_port}/weights.pt")

    with pytest.raises(CheckpointError, match="could not download") as refused:
        resolve_bundle(unreachable, hub_dir=tmp_path)

    message = str(refused.value)
    assert str(tmp_path / "torchaudio" / OFFICIAL.cache_key) in message
    assert "334,697,255 bytes" in message
    assert OFFICIAL.sha256 in message
    assert "--checkpoint" in message
    assert "\n" not in message
    assert _files_under(tmp_path) == []


def test_progress_is_printed_as_a_percentage(tmp_path, tiny_bundle, capsys):
    resolve_bundle(tiny_bundle, hub_dir=tmp_path, progress=True)

    assert "100%" in capsys.readouterr().err


def test_official_bundle_record_keeps_its_size_and_checksum():
    assert OFFICIAL.size == 334_697_255
    assert OFFICIAL.sha256 == "a004b2790d73ffeaa535db458a1a79b539dfdbafbccc31f275d07e632ebd7816"
    assert registry.bundle_for_sha256(OFFICIAL.sha256) is OFFICIAL
