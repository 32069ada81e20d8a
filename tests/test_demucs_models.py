"""demucs' models (v4 HTDemucs, its bag and six-stem layout, and v3 HDemucs) in the ONNX contract:
export parity with demucs' PyTorch code, demucs' file formats read without running anything,
and torch-free binding of a checkpoint served from 127.0.0.1.

Small copies of the released layouts (``*_tiny`` in the registry) run here; the full-size ones
are the ``slow`` tests at the end.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import inspect
import json
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from stemboard import cli, registry
from stemboard.errors import CheckpointError
from stemboard.export.verify import compare_stems
from stemboard.model_format import ModelInfo, read_file_metadata
from stemboard.node import Normalisation, SeparatorNode
from stemboard.pretrained import binding
from stemboard.pretrained.demucs_file import (
    FAMILY_DEFAULTS,
    architecture_of,
    read_demucs_file,
)
from stemboard.pretrained.install import read_checkpoint
from stemboard.signals import music_like

torch = pytest.importorskip("torch")
demucs = pytest.importorskip("demucs")

from demucs.apply import BagOfModels, apply_model  # noqa: E402
from demucs.states import load_model, save_with_checksum  # noqa: E402

from stemboard.export import build_model, export_hdemucs  # noqa: E402
from stemboard.export.stripping import weight_free  # noqa: E402

TINY_CONFIGS = ("htdemucs_tiny", "htdemucs_6s_tiny", "htdemucs_ft_tiny", "hdemucs_mmi_tiny")
SEGMENTS = {"hdemucs_mmi_tiny": 2.0}  # the v3 layout runs at any length; HTDemucs at its own


@pytest.fixture(scope="module")
def v4_exports(tmp_path_factory):
    """Every tiny demucs layout exported once (seed 0, verified >= 60 dB by the exporter against
    demucs' model; htdemucs_tiny with its float16 variant): config -> ExportResult."""
    folder = tmp_path_factory.mktemp("v4")
    return {
        config: export_hdemucs(
            folder / f"{config}.onnx",
            config=config,
            seed=0,
            segment=SEGMENTS.get(config),
            fp16=config == "htdemucs_tiny",
            log=lambda _: None,
        )
        for config in TINY_CONFIGS
    }


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _mix(segment: int, seeds=(1, 2)) -> np.ndarray:
    return np.stack([music_like(segment / 44100 + 0.01, seed=s)[:, :segment] for s in seeds])


def _run(path, mix: np.ndarray) -> np.ndarray:
    return _session(path).run(["stems"], {"mix": mix.astype(np.float32)})[0]


@pytest.mark.parametrize("config", TINY_CONFIGS)
def test_every_stem_matches_demucs_pytorch_model(v4_exports, config):
    result = v4_exports[config]
    checks = result.verification
    assert checks and all(check.passed for check in checks)
    assert min(s.snr_db for s in checks[0].stems) >= 60
    # and on other audio than the exporter's own check, against demucs' own forward
    arch = registry.architecture(config)
    segment = arch.segment_samples(SEGMENTS.get(config))
    assert int(result.metadata["stemboard.segment_samples"]) == segment
    mix = _mix(segment, seeds=(7, 8))
    model = build_model(config, 0)
    with torch.no_grad():
        if arch.bag:  # demucs combines a bag in apply_model
            bag = BagOfModels(list(model.models), model.weights)
            expected = apply_model(bag, torch.from_numpy(mix), shifts=0, split=False).numpy()
        else:
            expected = model(torch.from_numpy(mix)).numpy()
    got = _run(result.path, mix)
    assert min(s.snr_db for s in compare_stems(expected, got, arch.sources)) >= 60
    info = ModelInfo.from_metadata(read_file_metadata(result.path), config)
    assert info.sources == arch.sources


def test_the_htdemucs_graph_has_its_training_segment_and_a_float16_variant(v4_exports):
    result = v4_exports["htdemucs_tiny"]
    assert result.metadata["stemboard.segment_samples"] == str(int(Fraction(2) * 44100))
    assert min(s.snr_db for s in result.verification[1].stems) >= 30  # fp16
    with pytest.raises(ValueError, match=r"runs at its training segment of 7\.8 s"):
        registry.architecture("htdemucs").segment_samples(10.0)
    assert registry.architecture("htdemucs").segment_samples() == 343_980


def test_six_stems_come_out_of_the_node_by_name(v4_exports):
    node = SeparatorNode(v4_exports["htdemucs_6s_tiny"].path, device="cpu", precision="fp32")
    assert node.sources == registry.SIX_SOURCES
    stems = node.separate(music_like(3.0, seed=2), 44100)
    assert list(stems) == list(registry.SIX_SOURCES)
    assert all(stem.shape == (2, 3 * 44100) for stem in stems.values())


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_streaming_equals_offline_at_the_v4_segment(v4_exports, precision):
    """The node's segmenting, batching and overlap-add at 88,200-sample segments (not a
    multiple of the hop): streamed block by block with the track's statistics it gives the
    offline stems exactly."""
    path = v4_exports["htdemucs_tiny"].path
    node = SeparatorNode(path, device="cpu", precision=precision, backend="onnxruntime")
    audio = music_like(5.3, seed=3)
    offline = np.stack(list(node.separate(audio, 44100).values()))
    stream = node.open_stream(44100, normalisation=Normalisation.of(audio))
    cuts = np.cumsum([1000, 44100, 7, 90_000, 30_000])
    parts = [stream.push(block) for block in np.split(audio, cuts, axis=1)]
    streamed = np.concatenate([*parts, stream.finish()], axis=-1)
    np.testing.assert_array_equal(streamed, offline)


def test_the_identity_property_holds_at_the_v4_segment(make_identity_model, tmp_path):
    """A model whose every stem is its input gives the input back exactly at htdemucs' own
    segment length, offline and streamed."""
    path = make_identity_model(tmp_path / "identity.onnx", segment=343_980)
    node = SeparatorNode(path, device="cpu", precision="fp32")
    audio = music_like(9.0, seed=4)
    for stem in node.separate(audio, 44100).values():
        np.testing.assert_allclose(stem, audio, rtol=0, atol=1e-5)
    stream = node.open_stream(44100)
    out = [stream.push(audio[:, i : i + 50_000]) for i in range(0, audio.shape[1], 50_000)]
    streamed = np.concatenate([*out, stream.finish()], axis=-1)
    for stem in streamed:
        np.testing.assert_allclose(stem, audio, rtol=0, atol=1e-5)


def test_the_family_defaults_are_those_of_the_installed_demucs():
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    for klass in (HTDemucs, HDemucs):
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(klass).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        assert FAMILY_DEFAULTS[f"{klass.__module__}.{klass.__name__}"] == defaults


# -- demucs' files ---------------------------------------------------------------------------


def official_file(model, folder: Path, signature: str, **extra_kwargs) -> Path:
    """``model`` saved as demucs releases its models: its class, arguments (``extra_kwargs``
    added, as the released files carry arguments a newer demucs no longer takes), the state in
    float16, training arguments and metrics, as ``<signature>-<sha256 prefix>.th``."""
    _, kwargs = model._init_args_kwargs
    package = {
        "klass": type(model),
        "args": (),
        "kwargs": {**kwargs, **extra_kwargs},
        "state": {k: v.detach().to(torch.half) for k, v in model.state_dict().items()},
        "training_args": {"dset": {"segment": 11, "sources": list(model.sources)}, "seed": 42},
        "metrics": ({"loss": np.float64(0.25)}, {"nsdr": np.float32(7.5)}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    save_with_checksum(package, folder / f"{signature}.th")
    (path,) = folder.glob(f"{signature}-*.th")
    return path


def mirror_file(path: Path, folder: Path) -> Path:
    """The model of the demucs file at ``path`` as demucs' HuggingFace mirror holds it:
    safetensors, the class and arguments as JSON in its metadata."""
    from safetensors.torch import save_file

    package = torch.load(path, weights_only=False)

    def encoded(value):
        if isinstance(value, Fraction):
            return {"_type": "fraction", "numerator": value.numerator,
                    "denominator": value.denominator}  # fmt: skip
        if isinstance(value, (list, tuple)):
            return [encoded(item) for item in value]
        return value

    klass = package["klass"]
    metadata = {
        "klass": f"{klass.__module__}.{klass.__name__}",
        "args": "[]",
        "kwargs": json.dumps({key: encoded(value) for key, value in package["kwargs"].items()}),
    }
    target = folder / (path.name.split("-")[0] + ".safetensors")
    save_file({k: v.contiguous() for k, v in package["state"].items()}, target, metadata=metadata)
    return target


@pytest.fixture(scope="module")
def htdemucs_file(tmp_path_factory):
    """htdemucs_tiny with random weights (seed 1) in demucs' release format; (path, model)."""
    model = build_model("htdemucs_tiny", 1)
    folder = tmp_path_factory.mktemp("release")
    return official_file(model, folder, "0a1b2c3d", num_subbands=1), model


def test_a_demucs_file_is_read_as_demucs_reads_it_without_running_anything(htdemucs_file):
    path, _ = htdemucs_file
    package = read_demucs_file(path)
    assert package.family == "demucs.htdemucs.HTDemucs"
    assert package.kwargs["segment"] == Fraction(2)
    theirs = load_model(str(path)).state_dict()  # demucs' own loader (torch.load, unsafe)
    assert set(package.state) == set(theirs)
    for key, value in theirs.items():
        assert package.state[key].dtype == np.float32
        np.testing.assert_array_equal(package.state[key], value.numpy())
    arch = architecture_of(package)
    # the layout, whatever else the arguments say (demucs drops num_subbands too)
    assert arch == registry.architecture("htdemucs_tiny")


def test_the_mirror_file_is_read_as_demucs_reads_it(htdemucs_file, tmp_path):
    from demucs.hf import load_safetensors_model

    path, _ = htdemucs_file
    mirrored = mirror_file(path, tmp_path)
    ours = read_demucs_file(mirrored)
    theirs = load_safetensors_model(mirrored).state_dict()
    assert architecture_of(ours).name == "htdemucs_tiny"
    for key, value in theirs.items():
        np.testing.assert_array_equal(ours.state[key], value.numpy())


class Evil:
    """What a hostile file holds: unpickling it would call ``print``."""

    def __reduce__(self):
        return (print, ("ran",))


def test_a_file_that_would_run_code_is_refused(tmp_path):
    import pickle

    path = tmp_path / "evil.th"
    torch.save({"klass": Evil, "args": (), "kwargs": {}, "state": {}}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match=r"refused: the file names the Python global"):
        read_checkpoint(path)


def test_an_other_demucs_class_or_a_bare_state_is_refused_clearly(htdemucs_file, tmp_path):
    path, model = htdemucs_file
    with pytest.raises(CheckpointError, match=r"a demucs model of layout 'htdemucs_tiny', not"):
        read_checkpoint(path, "htdemucs")
    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)
    with pytest.raises(CheckpointError, match="a bare state_dict; a htdemucs checkpoint is a"):
        read_checkpoint(bare, "htdemucs")


def test_export_of_a_demucs_checkpoint_reads_the_architecture_from_the_file(
    v4_exports, htdemucs_file, tmp_path
):
    path, _ = htdemucs_file
    result = export_hdemucs(tmp_path / "ckpt.onnx", checkpoint=path, log=lambda _: None)
    assert result.metadata["stemboard.architecture"] == "htdemucs_tiny"
    assert (
        result.metadata["stemboard.weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    mix = _mix(88_200)
    with torch.no_grad():  # the float16 weights of the file, as demucs loads them
        expected = load_model(str(path)).eval()(torch.from_numpy(mix)).numpy()
    got = _run(result.path, mix)
    assert min(s.snr_db for s in compare_stems(expected, got, registry.MUSDB_SOURCES)) >= 60


# -- torch-free binding of files served from 127.0.0.1 ----------------------------------------


@pytest.fixture
def ship_v4(v4_exports, tmp_path, monkeypatch):
    """htdemucs_tiny and htdemucs_ft_tiny become architectures stemboard ships graphs for (made
    from the session's exports, as the real ones are); a cache of the test's own."""
    folder = tmp_path / "weight_free"
    folder.mkdir()
    for config in ("htdemucs_tiny", "htdemucs_ft_tiny"):
        arch = registry.architecture(config)
        monkeypatch.setitem(
            registry.ARCHITECTURES, config, dataclasses.replace(arch, weight_free=True)
        )
        shapes = {k: tuple(v.shape) for k, v in build_model(config, 0).state_dict().items()}
        result = v4_exports[config]
        paths = [(result.path, False)] + ([(result.fp16_path, True)] if result.fp16_path else [])
        import onnx

        for path, fp16 in paths:
            data = weight_free(onnx.load(path), shapes, config).SerializeToString()
            target = folder / binding.shipped_path(arch, fp16).name
            target.write_bytes(gzip.compress(data))
    monkeypatch.setattr(binding, "SHIPPED_DIR", folder)
    monkeypatch.setenv("STEMBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return folder


def _release(name, architecture, server, files, mirrors=None):
    """A bundle record like demucs' (sha256 prefix in the name, no size), served locally."""
    records = []
    for index, path in enumerate(files):
        url = server.serve(f"/demucs/hybrid_transformer/{path.name}", path.read_bytes())
        mirror = None
        if mirrors:
            mirror = server.serve(f"/adefossez/{mirrors[index].name}", mirrors[index].read_bytes())
        records.append(
            registry.WeightFile(
                name if len(files) == 1 else f"{name} model {index + 1} of {len(files)}",
                url,
                f"checkpoints/{path.name}",
                None,
                path.name.split("-")[1].split(".")[0],
                mirror=mirror,
            )
        )
    return registry.Bundle(name, "served by the test", architecture, tuple(records))


def test_a_served_demucs_checkpoint_binds_without_torch_to_the_torch_export(
    ship_v4, htdemucs_file, server, tmp_path
):
    path, _ = htdemucs_file
    (file,) = _release("tiny_release", "htdemucs_tiny", server, [path]).files
    script = f"""
        import dataclasses, pathlib, sys
        from stemboard import cli, registry
        from stemboard.pretrained import binding
        arch = registry.ARCHITECTURES["htdemucs_tiny"]
        registry.ARCHITECTURES["htdemucs_tiny"] = dataclasses.replace(arch, weight_free=True)
        binding.SHIPPED_DIR = pathlib.Path({str(ship_v4)!r})
        file = registry.WeightFile(
            "tiny_release", {file.url!r}, {file.hub_path!r}, None, {file.sha256!r}
        )
        registry.BUNDLES["tiny_release"] = registry.Bundle(
            "tiny_release", "served", "htdemucs_tiny", (file,)
        )
        sys.exit(cli.main(["models", "fetch", "tiny_release"]))
    """
    done = _without_torch(tmp_path, script)
    assert done.returncode == 0, done.stdout + done.stderr
    bound = tmp_path / "cache" / "tiny_release.onnx"
    exported = export_hdemucs(tmp_path / "torch.onnx", checkpoint=path, log=lambda _: None)
    mix = _mix(88_200)
    np.testing.assert_array_equal(_run(bound, mix), _run(exported.path, mix))
    info = ModelInfo.from_metadata(read_file_metadata(bound), "bound")
    assert (
        info.model == "tiny_release"
        and info.weights_sha256 == exported.metadata["stemboard.weights_sha256"]
    )


def test_a_bag_of_four_served_files_binds_to_the_exported_bag(
    ship_v4, server, tmp_path, monkeypatch
):
    folder = tmp_path / "bag"
    members = [build_model("htdemucs_tiny", seed) for seed in (11, 12, 13, 14)]
    files = [official_file(m, folder, f"{i:08x}") for i, m in enumerate(members)]
    record = _release("tiny_ft", "htdemucs_ft_tiny", server, files)
    monkeypatch.setitem(registry.BUNDLES, record.name, record)
    assert cli.main(["models", "fetch", "tiny_ft", "-q"]) == 0
    bound = tmp_path / "cache" / "tiny_ft.onnx"
    exported = export_hdemucs(tmp_path / "bag.onnx", bundle="tiny_ft", log=lambda _: None)
    mix = _mix(88_200)
    got = _run(bound, mix)
    np.testing.assert_array_equal(got, _run(exported.path, mix))
    bag = BagOfModels(
        [load_model(str(f)).eval() for f in files], list(map(list, registry.ONE_HOT_BAG))
    )
    with torch.no_grad():
        expected = apply_model(bag, torch.from_numpy(mix), shifts=0, split=False).numpy()
    assert min(s.snr_db for s in compare_stems(expected, got, registry.MUSDB_SOURCES)) >= 60


def test_the_mirror_is_used_when_the_release_cannot_be_fetched(
    ship_v4, htdemucs_file, server, tmp_path, monkeypatch
):
    path, _ = htdemucs_file
    mirrored = mirror_file(path, tmp_path)
    record = _release("tiny_release", "htdemucs_tiny", server, [path], mirrors=[mirrored])
    server.serve(f"/demucs/hybrid_transformer/{path.name}", b"gone", status=404)
    monkeypatch.setitem(registry.BUNDLES, record.name, record)
    assert cli.main(["models", "fetch", "tiny_release", "-q"]) == 0
    bound = tmp_path / "cache" / "tiny_release.onnx"
    exported = export_hdemucs(tmp_path / "torch.onnx", checkpoint=path, log=lambda _: None)
    mix = _mix(88_200)
    np.testing.assert_array_equal(_run(bound, mix), _run(exported.path, mix))
    assert (tmp_path / "cache" / "checkpoints" / mirrored.name).is_file()


def test_a_release_with_the_wrong_checksum_prefix_is_refused_and_deleted(
    ship_v4, htdemucs_file, server, tmp_path, monkeypatch, capsys
):
    path, _ = htdemucs_file
    record = _release("tiny_release", "htdemucs_tiny", server, [path])
    wrong = dataclasses.replace(record.files[0], sha256="ffffffff")
    monkeypatch.setitem(registry.BUNDLES, record.name, dataclasses.replace(record, files=(wrong,)))
    assert cli.main(["models", "fetch", "tiny_release"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "its sha256 begins" in err and "expected ffffffff" in err
    leftovers = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert [name for name in leftovers if not name.endswith(".lock")] == []


def _without_torch(tmp_path: Path, script: str):
    """Run ``script`` where torch, torchaudio and demucs cannot be imported."""
    import os
    import subprocess

    hidden = tmp_path / "hidden"
    for name in ("torch", "torchaudio", "demucs"):
        (hidden / name).mkdir(parents=True, exist_ok=True)
        (hidden / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError('hidden by the test', name={name!r})\n"
        )
    run = tmp_path / "run.py"
    run.write_text(textwrap.dedent(script))
    tests = Path(__file__).resolve().parent
    return subprocess.run(
        [sys.executable, str(run)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(hidden), str(tests.parent)])},
        cwd=tmp_path,
        timeout=600,
    )


# -- full size --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("config", ["htdemucs", "htdemucs_6s", "htdemucs_ft", "hdemucs_mmi"])
def test_the_released_layouts_export_at_60_db_and_equal_their_shipped_graphs(config, tmp_path):
    """Each full-size layout (random weights) exports with every stem >= 60 dB against demucs'
    model, and binding its shipped weight-free graph gives the exporter's file byte for byte."""
    result = export_hdemucs(tmp_path / f"{config}.onnx", config=config, seed=3, log=lambda _: None)
    assert min(s.snr_db for s in result.verification[0].stems) >= 60
    arch = registry.architecture(config)
    assert arch.weight_free
    graph = binding.WeightFreeGraph.shipped(arch)
    state = {k: v.numpy() for k, v in build_model(config, 3).state_dict().items()}
    info = ModelInfo.from_metadata(result.metadata, config)
    bound = graph.bind(state, info, tmp_path / "bound.onnx")
    assert bound.read_bytes() == result.path.read_bytes()


def test_readers_refuse_a_truncated_safetensors_file(tmp_path):
    path = tmp_path / "x.safetensors"
    header = json.dumps({"a": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]},
                         "__metadata__": {"klass": "demucs.htdemucs.HTDemucs", "args": "[]",
                                          "kwargs": "{}"}}).encode()  # fmt: skip
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    with pytest.raises(CheckpointError, match="not a readable demucs safetensors file"):
        read_demucs_file(path)
