"""Pretrained models without torch: fetched from a server the test starts on 127.0.0.1, checked,
bound to a weight-free graph, and the same file as the torch exporter writes.

The fast tests use the `tiny` architecture under a registry record made here (its weight-free
graphs made from the exporter's own files); the slow one runs the shipped `high` graph on a
full-size checkpoint in the official format, in a process where torch cannot be imported.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stemboard import cli, registry
from stemboard.digest import sha256_file
from stemboard.model_format import ModelInfo, read_file_metadata
from stemboard.pretrained import binding
from stemboard.pretrained.binding import WeightFreeGraph
from stemboard.registry import Bundle, WeightFile
from stemboard.signals import music_like
from tests.audio_files import read_audio, write_audio
from tests.conftest import served_bundle

TESTS = Path(__file__).resolve().parent
TINY = registry.architecture("tiny")


def _state(model) -> dict[str, np.ndarray]:
    return {key: value.detach().numpy() for key, value in model.state_dict().items()}


@pytest.fixture
def tiny_pretrained(monkeypatch, server, tiny_checkpoint, ship_tiny, tmp_path):
    """A pretrained record `tiny_musdb` of the `tiny` architecture, served by ``server``, whose
    graph stemboard "ships"; a cache of the test's own."""
    data = tiny_checkpoint[0].read_bytes()
    record = Bundle(
        "tiny_musdb",
        "tiny weights made for the tests",
        architecture="tiny",
        files=(
            WeightFile(
                "tiny_musdb",
                server.serve("/models/tiny_musdb.pt", data),
                "torchaudio/models/tiny_musdb.pt",
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            ),
        ),
    )
    monkeypatch.setitem(registry.BUNDLES, record.name, record)
    monkeypatch.setenv("STEMBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return record


def _cache_files(tmp_path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("stemboard: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_binding_writes_the_exporters_file_byte_for_byte(tiny_export, tiny_graphs):
    torch = pytest.importorskip("torch")
    from torchaudio.models import HDemucs

    torch.manual_seed(0)  # the weights tiny_export was made with
    state = _state(HDemucs(**TINY.hdemucs_kwargs()))
    for path, fp16 in ((tiny_export.path, False), (tiny_export.fp16_path, True)):
        graph = WeightFreeGraph.read(tiny_graphs / binding.shipped_path(TINY, fp16).name)
        assert graph.precision == ("float16" if fp16 else "float32")
        info = ModelInfo.from_metadata(read_file_metadata(path), str(path))
        bound = graph.bind(state, info, path.parent / f"bound-{fp16}.onnx")
        assert bound.read_bytes() == path.read_bytes()


def test_the_shipped_graphs_are_small_and_weight_free():
    high = registry.architecture("high")
    total = 0
    for fp16 in (False, True):
        path = binding.shipped_path(high, fp16)
        total += path.stat().st_size
        graph = WeightFreeGraph.read(path)
        assert graph.architecture == "high"
        assert graph.segment_samples == high.segment_samples(registry.DEFAULT_SEGMENT_SECONDS)
        assert len(graph.expected_shapes()) == 397  # every tensor of hdemucs_high's state_dict
        assert graph.unused == {
            "time_encoder.4.norm1.weight": (768,),
            "time_encoder.4.norm1.bias": (768,),
        }
    assert total < 1_000_000


def test_a_weight_free_graph_is_not_a_model(tmp_path):
    from stemboard.errors import ModelFormatError
    from stemboard.node import SeparatorNode

    path = tmp_path / "high.onnx"
    path.write_bytes(
        gzip.decompress(binding.shipped_path(registry.architecture("high")).read_bytes())
    )
    with pytest.raises(ModelFormatError, match=r"weight-free graph .*stemboard models import"):
        SeparatorNode(path)


def test_models_fetch_downloads_checks_binds_and_the_model_is_pytorchs(
    tiny_pretrained, tiny_checkpoint, tmp_path, capsys
):
    torch = pytest.importorskip("torch")
    from stemboard.export.exporter import verification_input
    from stemboard.export.verify import compare_stems

    assert cli.main(["models", "fetch", "tiny_musdb"]) == 0
    out = capsys.readouterr().out
    path = registry.cache_dir() / "tiny_musdb.onnx"
    assert out.splitlines()[-1] == str(path)
    assert "downloading tiny_musdb" in out and "binding tiny_musdb" in out
    info = ModelInfo.from_metadata(read_file_metadata(path), str(path))
    assert (info.model, info.weights_sha256) == ("tiny_musdb", tiny_pretrained.files[0].sha256)
    assert info.extra["weights"] == "bundle tiny_musdb"
    assert _cache_files(tmp_path) == [
        "checkpoints/tiny_musdb.pt",
        "checkpoints/tiny_musdb.pt.lock",
        "checkpoints/tiny_musdb.pt.sha256",
        "tiny_musdb.onnx",
    ]
    import onnxruntime as ort

    mix = verification_input(info.segment_samples, info.sample_rate)
    got = ort.InferenceSession(str(path)).run(["stems"], {"mix": mix})[0]
    with torch.no_grad():
        expected = tiny_checkpoint[1](torch.from_numpy(mix)).numpy()
    assert min(s.snr_db for s in compare_stems(expected, got, info.sources)) >= 60


def test_separate_fetches_and_binds_on_first_use_and_says_so(
    tiny_pretrained, server, tmp_path, capsys
):
    song = write_audio(tmp_path / "song.wav", music_like(2.0, seed=4))
    argv = ["separate", str(song), "--model", "tiny_musdb", "-o", str(tmp_path / "out")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "binding tiny_musdb to stemboard's tiny graph" in out
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.wav")) == [
        "bass.wav",
        "drums.wav",
        "other.wav",
        "vocals.wav",
    ]
    requests = len(server.requests)
    assert cli.main([*argv, "--overwrite"]) == 0
    assert "binding" not in capsys.readouterr().out
    assert len(server.requests) == requests  # made once


def test_models_list_and_path_say_what_is_here(tiny_pretrained, capsys):
    assert cli.main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    row = next(line for line in listed.splitlines() if line.startswith("tiny_musdb "))
    assert row.split()[1:4] == ["drums,bass,other,vocals", "3", "MB"]
    assert row.endswith("not fetched")
    assert "tiny_musdb (tiny): " in listed  # the architecture, under the table
    assert cli.main(["models", "path", "tiny_musdb"]) == 1
    assert "stemboard models fetch tiny_musdb" in _one_line_error(capsys)
    assert cli.main(["models", "fetch", "tiny_musdb", "--fp16", "-q"]) == 0
    capsys.readouterr()
    assert cli.main(["models", "list"]) == 0
    assert "tiny_musdb " in capsys.readouterr().out
    for flags, name in (([], "tiny_musdb.onnx"), (["--fp16"], "tiny_musdb.fp16.onnx")):
        assert cli.main(["models", "path", "tiny_musdb", *flags]) == 0
        assert capsys.readouterr().out.strip() == str(registry.cache_dir() / name)
    assert cli.main(["models", "list"]) == 0
    assert "ready (+fp16)" in capsys.readouterr().out


def test_models_import_takes_the_official_file_and_refuses_another(
    tiny_pretrained, tiny_checkpoint, tmp_path, server, capsys
):
    other = tmp_path / "other.pt"
    other.write_bytes(tiny_checkpoint[0].read_bytes() + b"x")
    assert cli.main(["models", "import", "tiny_musdb", str(other)]) == 1
    assert "is not the official file of tiny_musdb" in _one_line_error(capsys)
    assert _cache_files(tmp_path) == []
    assert cli.main(["models", "import", "tiny_musdb", str(tiny_checkpoint[0])]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(registry.cache_dir() / "tiny_musdb.onnx")
    assert "checkpoints/tiny_musdb.pt" in _cache_files(tmp_path)
    assert server.requests == []  # nothing downloaded


def test_an_interrupted_download_resumes_on_the_next_command(
    tiny_pretrained, tiny_checkpoint, server, tmp_path, capsys
):
    data = tiny_checkpoint[0].read_bytes()
    piece = len(data) // 8  # every answer is cut after this much: the first and two resumes
    server.serve("/models/tiny_musdb.pt", data, cut_after=piece)
    assert cli.main(["models", "fetch", "tiny_musdb"]) == 1
    assert "the next try resumes" in _one_line_error(capsys)
    assert not (registry.cache_dir() / "tiny_musdb.onnx").exists()
    server.serve("/models/tiny_musdb.pt", data)
    assert cli.main(["models", "fetch", "tiny_musdb"]) == 0
    assert "resuming the download" in capsys.readouterr().out
    last = server.served[-1]
    assert (last.status, last.range, last.sent) == (
        206,
        f"bytes={3 * piece}-",
        len(data) - 3 * piece,
    )
    assert (registry.cache_dir() / "tiny_musdb.onnx").is_file()


def _malicious_checkpoint(path: Path, marker: Path) -> bytes:
    class RunsACommand:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tiny_musdb/data.pkl", pickle.dumps({"weights": RunsACommand()}))
        archive.writestr("tiny_musdb/byteorder", "little")
    return path.read_bytes()


@pytest.mark.parametrize(
    "case",
    [
        "wrong-checksum",
        "cut-transfer",
        "truncated-file",
        "html-page",
        "corrupt",
        "runs-code",
        "another-architecture",
    ],
)
def test_bad_downloads_are_refused_in_one_line_and_leave_nothing(
    case, tiny_pretrained, tiny_checkpoint, server, monkeypatch, tmp_path, capsys
):
    data = tiny_checkpoint[0].read_bytes()
    record = tiny_pretrained
    marker = tmp_path / "ran"
    if case == "wrong-checksum":
        record = dataclasses.replace(
            record, files=(dataclasses.replace(record.files[0], sha256="0" * 64),)
        )
        expected = "its sha256 is"
    elif case == "cut-transfer":  # the connection closes early: an interruption, resumable
        server.serve("/models/tiny_musdb.pt", data[:-1000], content_length=len(data))
        expected = "the next try resumes"
    elif case == "truncated-file":  # a whole answer, of a shorter file
        server.serve("/models/tiny_musdb.pt", data[:-1000])
        expected = f"the server announces {len(data) - 1000:,} bytes, expected {len(data):,}"
    elif case == "html-page":
        page = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
        server.serve("/models/tiny_musdb.pt", page, content_type="text/html")
        expected = "served a web page, not the file"
    else:
        if case == "runs-code":
            body = _malicious_checkpoint(tmp_path / "evil.pt", marker)
            expected = "refused: the file names the Python global"
        elif case == "corrupt":  # the record's checksum is of a damaged file
            body = data[: len(data) // 2]
            expected = "truncated"
        else:  # a real checkpoint of another architecture
            torch = pytest.importorskip("torch")
            from torchaudio.models import HDemucs

            torch.save(
                HDemucs(**registry.architecture("small").hdemucs_kwargs()).state_dict(),
                tmp_path / "small.pt",
            )
            body = (tmp_path / "small.pt").read_bytes()
            expected = "does not fit architecture 'tiny'"
        record = served_bundle(record, record.files[0].url, body)
        server.serve("/models/tiny_musdb.pt", body)
    monkeypatch.setitem(registry.BUNDLES, record.name, record)
    assert cli.main(["models", "fetch", "tiny_musdb"]) == 1
    message = _one_line_error(capsys)
    assert expected in message
    left = [name for name in _cache_files(tmp_path) if not name.endswith(".lock")]
    if case == "cut-transfer":  # kept for resuming, never used
        assert left == ["checkpoints/tiny_musdb.pt.part"]
    else:
        assert left == []
    assert not marker.exists()


def _without_torch(tmp_path: Path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``script`` in a Python where torch and torchaudio cannot be imported."""
    hidden = tmp_path / "hidden"
    for name in ("torch", "torchaudio"):
        (hidden / name).mkdir(parents=True, exist_ok=True)
        message = f"No module named {name!r} (hidden by the test)"
        (hidden / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError({message!r}, name={name!r})\n"
        )
    path = tmp_path / "run.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            **env,
            "PYTHONPATH": os.pathsep.join([str(hidden), str(TESTS.parent)]),
        },
        cwd=tmp_path,
        timeout=600,
    )


def test_export_binds_a_checkpoint_without_torch_and_says_it_is_unverified(
    tiny_pretrained, tiny_checkpoint, tiny_graphs, tiny_export, tmp_path
):
    segment = tiny_export.metadata["stemboard.segment_samples"]
    script = f"""
        import dataclasses, sys
        from stemboard import cli, registry
        from stemboard.pretrained import binding
        tiny = registry.ARCHITECTURES["tiny"]
        registry.ARCHITECTURES["tiny"] = dataclasses.replace(tiny, weight_free=True)
        binding.SHIPPED_DIR = binding.Path({str(tiny_graphs)!r})
        seconds = {segment} / 44100
        checkpoint = ["--checkpoint", {str(tiny_checkpoint[0])!r}, "--config", "tiny"]
        runs = [
            [*checkpoint, "--segment", str(seconds), "--fp16", "--out", "bound.onnx"],
            [*checkpoint, "--out", "other_segment.onnx"],
            ["--config", "tiny", "--out", "random.onnx"],
            ["--checkpoint", {str(tiny_checkpoint[0])!r}, "--config", "small", "--out", "s.onnx"],
        ]
        for argv in runs:
            print("rc", cli.main(["export", *argv]), flush=True)
    """
    done = _without_torch(tmp_path, script, {"STEMBOARD_CACHE": str(tmp_path / "cache")})
    assert "Traceback" not in done.stderr, done.stderr
    codes = [line for line in done.stdout.splitlines() if line.startswith("rc ")]
    assert codes == ["rc 0", "rc 1", "rc 1", "rc 1"], done.stdout + done.stderr
    assert "not verified against PyTorch (torch is not installed)" in done.stdout
    errors = done.stderr.splitlines()
    assert "another --segment needs torch (torch is not installed)" in errors[0]
    assert "exporting random weights (--config alone) needs torch" in errors[1]
    assert "stemboard ships no graph of architecture 'small'" in errors[2]
    for name in ("bound.onnx", "bound.fp16.onnx"):
        info = ModelInfo.from_metadata(read_file_metadata(tmp_path / name), name)
        assert info.weights_sha256 == sha256_file(tiny_checkpoint[0])
        assert info.extra["weights"] == "checkpoint tiny.pt"
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["bound.fp16.onnx", "bound.onnx"]


@pytest.mark.slow
def test_the_high_bundle_without_torch_is_the_torch_export_byte_for_byte(
    high_checkpoint, high_export, server, tmp_path
):
    """The shipped `high` graph, bound to a full-size checkpoint fetched from the local server by
    `stemboard separate` where torch cannot be imported, is the file the torch exporter wrote
    from the same checkpoint; so are the stems."""
    from stemboard.node import SeparatorNode

    data_path = high_checkpoint[0]
    official = registry.bundle("hdemucs_high_musdb_plus")
    url = server.serve("/torchaudio/models/hdemucs_high_trained.pt", data_path.read_bytes())
    audio = music_like(3.0, seed=5)
    song = write_audio(tmp_path / "song.wav", audio)
    script = f"""
        import dataclasses, sys
        from stemboard import cli, registry
        name = "hdemucs_high_musdb_plus"
        record = registry.BUNDLES[name]
        registry.BUNDLES[name] = dataclasses.replace(record, files=(dataclasses.replace(
            record.files[0], url={url!r}, size={data_path.stat().st_size},
            sha256={sha256_file(data_path)!r},
        ),))
        sys.exit(cli.main(["separate", {str(song)!r}, "-o", "stems", "--bit-depth", "32",
                           "--model", name]))
    """
    cache = tmp_path / "cache"
    done = _without_torch(tmp_path, script, {"STEMBOARD_CACHE": str(cache)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"binding {official.name} to stemboard's high graph" in done.stdout
    bound = cache / f"{official.name}.onnx"
    reference = high_export.path
    # the same bytes but the names the metadata gives the weights: bundle, not checkpoint
    bound_info = ModelInfo.from_metadata(read_file_metadata(bound), "bound")
    assert bound_info.model == official.name
    graph = WeightFreeGraph.shipped(registry.architecture("high"))
    info = ModelInfo.from_metadata(read_file_metadata(reference), "reference")
    state = _state(high_checkpoint[1])
    rebound = graph.bind(state, info, tmp_path / "rebound.onnx")
    assert rebound.read_bytes() == reference.read_bytes()
    half = WeightFreeGraph.shipped(registry.architecture("high"), fp16=True)
    info16 = ModelInfo.from_metadata(read_file_metadata(high_export.fp16_path), "reference")
    rebound16 = half.bind(state, info16, tmp_path / "rebound.fp16.onnx")
    assert rebound16.read_bytes() == high_export.fp16_path.read_bytes()
    # what the command bound from the file it read without torch is those weights too
    assert graph.bind(state, bound_info, tmp_path / "b.onnx").read_bytes() == bound.read_bytes()
    # and the stems it wrote are those of the torch export
    expected = SeparatorNode(reference, device="cpu").separate(audio, 44100)
    for stem, reference_audio in expected.items():
        written, _ = read_audio(tmp_path / "stems" / "song" / f"{stem}.wav")
        assert np.array_equal(written, reference_audio), stem
