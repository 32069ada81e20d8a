"""SeparatorNode: the pedalboard-compatible contract, streaming, and parity with PyTorch."""

import subprocess
import sys

import numpy as np
import pytest

from stemboard.errors import ModelFormatError, StemboardError
from stemboard.node import Normalisation, SeparatorNode
from stemboard.signals import music_like

SOURCES = ("drums", "bass", "other", "vocals")


@pytest.fixture(scope="module")
def identity(identity_model):
    return SeparatorNode(identity_model, device="cpu", overlap=0.25, batch_size=3)


def _stereo(n, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (2, n)).astype(np.float32)


@pytest.mark.parametrize("n", [1, 2, 100, 4095, 4096, 4097, 10_000, 30_001])
def test_identity_model_returns_every_stem_unchanged(identity, n):
    x = _stereo(n, n)
    stems = identity.separate(x, 44100)
    assert list(stems) == list(SOURCES)
    for stem in stems.values():
        assert stem.shape == x.shape and stem.dtype == np.float32
        np.testing.assert_allclose(stem, x, rtol=0, atol=1e-5)


def test_process_is_the_gain_weighted_sum(identity_model):
    x = _stereo(9000)
    node = SeparatorNode(identity_model, device="cpu", gains={"vocals": 0, "bass": 0.5})
    np.testing.assert_allclose(node(x, 44100), 2.5 * x, atol=1e-5)
    only = SeparatorNode(identity_model, device="cpu", stem="vocals")
    np.testing.assert_allclose(only.process(x, 44100), x, atol=1e-5)
    pair = SeparatorNode(identity_model, device="cpu", stem=["drums", "bass"], gains={"bass": 2})
    np.testing.assert_allclose(pair(x, 44100), 3 * x, atol=1e-5)


def test_unknown_stem_names_list_the_valid_ones(identity_model):
    with pytest.raises(ValueError, match="drums, bass, other, vocals"):
        SeparatorNode(identity_model, device="cpu", stem="guitar")
    with pytest.raises(ValueError, match=r"'piano' in gains"):
        SeparatorNode(identity_model, device="cpu", gains={"piano": 1})


def test_properties_come_from_the_metadata(identity, identity_model):
    assert identity.sources == SOURCES
    assert identity.sample_rate == 44100
    assert identity.latency_samples == 4096 + (identity.batch_size - 1) * 3072
    assert identity.device == "cpu"
    assert "identity.onnx" in repr(identity)


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_the_first_output_comes_after_latency_samples(identity_model, batch_size):
    node = SeparatorNode(identity_model, device="cpu", batch_size=batch_size, overlap=0.25)
    assert node.latency_samples == 4096 + (batch_size - 1) * 3072
    stream = node.open_stream(44100)
    x = _stereo(30_000, 3)
    held = stream.push(x[:, : node.latency_samples - 1])
    assert held.shape[-1] == 0
    first = stream.push(x[:, node.latency_samples - 1 : node.latency_samples])
    assert first.shape[-1] > 0
    rest = stream.push(x[:, node.latency_samples :])
    out = np.concatenate([first, rest, stream.finish()], axis=-1)
    np.testing.assert_allclose(out[0], x[:, : out.shape[-1]], rtol=0, atol=1e-6)
    assert out.shape[-1] == x.shape[1]


def test_channels_last_and_mono_layouts_come_back_as_given(identity):
    x = _stereo(5000)
    np.testing.assert_allclose(identity(x.T.copy(), 44100), 4 * x.T, atol=1e-5)
    mono = x[0]
    out = identity(mono, 44100)
    assert out.shape == mono.shape
    np.testing.assert_allclose(out, 4 * mono, atol=1e-5)


def test_float64_in_float32_out_and_other_dtypes_refused(identity):
    x = _stereo(3000).astype(np.float64)
    assert identity(x, 44100).dtype == np.float32
    with pytest.raises(TypeError):
        identity((x * 1000).astype(np.int16), 44100)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_a_value_error(identity, bad):
    x = _stereo(3000)
    x[1, 17] = bad
    with pytest.raises(ValueError, match=r"NaN|infinite"):
        identity(x, 44100)


def test_silence_and_a_single_sample_work(identity):
    silence = np.zeros((2, 20_000), np.float32)
    out = identity(silence, 44100)
    assert out.shape == silence.shape and not out.any()
    one = np.array([[0.25], [-0.25]], np.float32)
    assert identity(one, 44100).shape == (2, 1)
    assert identity(np.zeros((2, 0), np.float32), 44100).shape == (2, 0)


@pytest.mark.parametrize("rate", [22050, 48000, 96000])
def test_other_sample_rates_keep_the_input_length(identity, rate):
    t = np.arange(rate // 2) / rate
    x = (
        np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
        * 0.5
    )
    out = identity(x, rate)
    assert out.shape == x.shape
    middle = slice(len(t) // 4, 3 * len(t) // 4)
    error = out[:, middle] - 4 * x[:, middle]
    assert np.sqrt(np.mean(error**2)) < 0.01 * np.sqrt(np.mean((4 * x) ** 2))


def _stream(node, x, rate, sizes):
    parts, position, i = [], 0, 0
    while position < x.shape[-1]:
        size = sizes[i % len(sizes)]
        parts.append(node.process(x[..., position : position + size], rate, reset=False))
        position += size
        i += 1
    parts.append(node.flush())
    return np.concatenate(parts, axis=-1)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_streaming_matches_offline_with_random_block_sizes(identity_model, rate):
    node = SeparatorNode(identity_model, device="cpu", gains={"drums": 0.3})
    x = _stereo(23_456, 3)
    offline = node(x, rate)
    sizes = list(np.random.default_rng(rate).integers(1, 3000, size=30))
    streamed = _stream(node, x, rate, sizes)
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-4)


def test_streaming_output_is_aligned_and_never_ahead(identity_model):
    node = SeparatorNode(identity_model, device="cpu")
    x = _stereo(12_000, 4)
    given = returned = 0
    for start in range(0, 12_000, 1000):
        out = node.process(x[:, start : start + 1000], 44100, reset=False)
        given += 1000
        np.testing.assert_allclose(out, 4 * x[:, returned : returned + out.shape[-1]], atol=1e-5)
        returned += out.shape[-1]
        assert returned <= given
    assert returned < given  # the node is still holding a segment
    rest = node.flush()
    assert returned + rest.shape[-1] == 12_000
    assert node.flush().shape[-1] == 0


def test_sample_rate_change_within_a_stream_is_refused(identity_model):
    node = SeparatorNode(identity_model, device="cpu")
    node.process(_stereo(100), 44100, reset=False)
    with pytest.raises(ValueError, match="sample rate changed"):
        node.process(_stereo(100), 48000, reset=False)
    node.reset()
    node.process(_stereo(100), 48000, reset=False)


def test_a_file_that_breaks_the_contract_is_refused(tmp_path, make_identity_model):
    bad = make_identity_model(tmp_path / "bad.onnx", **{"stemboard.segment_samples": "999"})
    with pytest.raises(ModelFormatError, match="shape"):
        SeparatorNode(bad, device="cpu")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not onnx")
    with pytest.raises(ModelFormatError, match=r"garbage\.onnx"):
        SeparatorNode(garbage, device="cpu")
    with pytest.raises(FileNotFoundError, match="does not exist") as missing:
        SeparatorNode(tmp_path / "missing.onnx", device="cpu")
    assert isinstance(missing.value, StemboardError)
    with pytest.raises(ValueError, match="unknown model") as unknown:
        SeparatorNode("no_such_model", device="cpu")
    assert isinstance(unknown.value, StemboardError)


def test_metadata_of_the_wrong_type_is_a_model_format_error(tmp_path, make_identity_model):
    bad = make_identity_model(tmp_path / "bad.onnx", **{"stemboard.audio_channels": "two"})
    with pytest.raises(ModelFormatError, match=r"stemboard.audio_channels='two' is not an integer"):
        SeparatorNode(bad, device="cpu")


def test_a_bundle_not_exported_yet_names_the_command_that_makes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMBOARD_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError) as caught:
        SeparatorNode("hdemucs_high_musdb_plus", device="cpu")
    message = str(caught.value)
    assert "run `stemboard models fetch hdemucs_high_musdb_plus`" in message
    assert str(tmp_path) in message and "--model demo" in message


def test_a_bundle_of_an_architecture_not_shipped_says_it_needs_torch(tmp_path):
    # `small` has no weight-free graph in the package: its bundle would be exported with torch
    script = (
        "import dataclasses, sys; sys.modules['torch'] = None\n"
        "from stemboard import registry\n"
        "from stemboard.models import ensure_model\n"
        "name = 'hdemucs_high_musdb_plus'\n"
        "old = registry.BUNDLES[name]\n"
        "file = dataclasses.replace(old.files[0], url='http://127.0.0.1:9/x.pt')\n"
        "registry.BUNDLES[name] = dataclasses.replace(old, architecture='small', files=(file,))\n"
        "try:\n"
        "    ensure_model(name)\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    env = {"STEMBOARD_CACHE": str(tmp_path), "PATH": ""}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert "MissingFileError" in done.stdout
    assert "stemboard export --bundle hdemucs_high_musdb_plus" in done.stdout
    assert str(tmp_path) in done.stdout


def test_runtime_does_not_import_torch():
    script = (
        "import sys, stemboard, stemboard.node.separator, stemboard.cli, stemboard.render\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


# OpenVINO's fp32 kernels (Winograd convolutions among them) round differently from onnxruntime's
@pytest.mark.parametrize(("backend", "minimum_snr"), [("onnxruntime", 60), ("openvino", 55)])
def test_tiny_node_matches_a_pytorch_run_with_the_same_segmentation(
    tiny_export, backend, minimum_snr
):
    torch = pytest.importorskip("torch")
    from torchaudio.models import HDemucs

    from stemboard.node.overlap_add import OverlapAdd
    from stemboard.registry import architecture

    torch.manual_seed(0)
    model = HDemucs(**architecture("tiny").hdemucs_kwargs()).eval()
    node = SeparatorNode(
        tiny_export.path,
        device="cpu",
        overlap=0.25,
        batch_size=2,
        precision="fp32",
        backend=backend,
    )
    x = music_like(14.0, seed=9)
    got = node.separate(x, 44100)

    mono = x.mean(axis=0, dtype=np.float64)
    mean, std = mono.mean(), mono.std(ddof=1)

    def run(batch):
        with torch.no_grad():
            normalised = torch.from_numpy(((batch - mean) / std).astype(np.float32))
            return model(normalised).numpy() * std + mean

    engine = OverlapAdd(run, segment=node.segment_samples, sources=4, channels=2, overlap=0.25)
    expected = np.concatenate([engine.push(x), engine.finish()], axis=-1)
    for i, name in enumerate(SOURCES):
        noise = np.sum((got[name] - expected[i]) ** 2)
        snr = 10 * np.log10(np.sum(expected[i] ** 2) / noise)
        assert snr >= minimum_snr, (name, snr)


def test_tiny_streaming_matches_offline_within_1e_4(tiny_export):
    """A stream takes its statistics from its first segment, offline from the whole track;
    HDemucs normalises again inside, so in fp32 the two agree closely."""
    node = SeparatorNode(tiny_export.path, device="cpu", gains={"vocals": 0}, precision="fp32")
    x = music_like(12.0, seed=11)
    offline = node(x, 44100)
    sizes = list(np.random.default_rng(5).integers(500, 60_000, size=20))
    streamed = _stream(node, x, 44100, sizes)
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-4)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_streaming_with_the_track_statistics_equals_offline_exactly(tiny_export, precision):
    node = SeparatorNode(tiny_export.path, device="cpu", precision=precision)
    x = music_like(12.0, seed=11)
    offline = np.stack(list(node.separate(x, 44100).values()))
    stream = node.open_stream(44100, normalisation=Normalisation.of(x))
    cuts = np.cumsum(np.random.default_rng(6).integers(500, 60_000, size=20))
    parts = [stream.push(block) for block in np.split(x, cuts[cuts < x.shape[1]], axis=1)]
    streamed = np.concatenate([*parts, stream.finish()], axis=-1)
    np.testing.assert_array_equal(streamed, offline)


def test_known_bundle_is_fetched_and_bound_into_the_cache_on_first_use(
    local_bundle, ship_tiny, server, tmp_path, monkeypatch
):
    from stemboard import registry
    from stemboard.models import ensure_model

    # the real bundle is `high` (335 MB); the code path is the same for `tiny`
    record = local_bundle
    monkeypatch.setitem(registry.BUNDLES, record.name, record)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("STEMBOARD_CACHE", str(tmp_path / "cache"))
    path = ensure_model("hdemucs_high_musdb_plus", log=lambda _: None)
    assert path == tmp_path / "cache" / "hdemucs_high_musdb_plus.onnx"
    node = SeparatorNode("hdemucs_high_musdb_plus", device="cpu")
    assert node.model_path == path.resolve()
    assert node.session.info.model == "hdemucs_high_musdb_plus"
    assert ensure_model("hdemucs_high_musdb_plus") == path  # no download, no binding
    again = SeparatorNode("hdemucs_high_musdb_plus", device="cpu")
    assert again.session is node.session
    assert server.requests == ["/models/hdemucs_high_trained.pt"]


def test_streamed_stems_match_offline_stems(identity_model):
    node = SeparatorNode(identity_model, device="cpu")
    x = _stereo(20_000, 12)
    offline = node.separate(x, 44100)
    parts = [node.separate(x[:, i : i + 3333], 44100, reset=False) for i in range(0, 20_000, 3333)]
    parts.append(node.flush_stems())
    for name in node.sources:
        streamed = np.concatenate([p[name] for p in parts], axis=-1)
        np.testing.assert_allclose(streamed, offline[name], rtol=0, atol=1e-5)
    assert node.flush_stems()["vocals"].shape == (0,)


def test_io_binding_path_gives_the_same_stems(tiny_export):
    """The GPU keeps buffers bound to the device; the same code runs here with CPU buffers."""
    from stemboard.node.backend import Choice
    from stemboard.node.ort_session import OnnxRuntimeSession

    choice = Choice("onnxruntime", "cpu", "fp32", threads=2)
    session = OnnxRuntimeSession.on_cpu(tiny_export.path.resolve(), choice)
    batch = np.stack([music_like(5.016, seed=s)[:, : session.info.segment_samples] for s in (1, 2)])
    direct = session.run(batch)
    session.binding_device = "cpu"
    bound = session.run(batch)
    again = session.run(batch[:1])  # another batch shape gets its own buffers
    np.testing.assert_allclose(bound, direct, atol=1e-6)
    np.testing.assert_allclose(again, direct[:1], atol=1e-6)
    session.run(batch[::-1])  # results are copies: a later run must not change `bound`
    np.testing.assert_allclose(bound, direct, atol=1e-6)


def test_the_planar_stream_is_what_separate_gives(identity_model):
    node = SeparatorNode(identity_model, device="cpu")
    x = _stereo(30_000, 21)
    stream = node.open_stream(48000, channels=2)
    pieces = [stream.push(x[:, i : i + 7000]) for i in range(0, 30_000, 7000)]
    streamed = np.concatenate([*pieces, stream.finish()], axis=-1)
    assert streamed.shape == (4, 2, 30_000)
    offline = node.separate(x, 48000)
    for index, name in enumerate(node.sources):
        np.testing.assert_allclose(streamed[index], offline[name], atol=1e-4)
    with pytest.raises(ValueError, match="finished"):
        stream.push(x)


def test_a_mono_stream_gives_mono_stems(identity_model):
    node = SeparatorNode(identity_model, device="cpu")
    x = _stereo(9000, 2)[:1]
    stream = node.open_stream(44100)
    stems = np.concatenate([stream.push(x), stream.finish()], axis=-1)
    assert stems.shape == (4, 1, 9000)
    np.testing.assert_allclose(stems[2], x, atol=1e-5)
    with pytest.raises(ValueError, match="2 channels in a stream of 1-channel"):
        node.open_stream(44100, channels=1).push(_stereo(10))


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_a_stream_of_a_few_samples_gives_them_back(identity_model, n):
    node = SeparatorNode(identity_model, device="cpu")
    x = _stereo(n, n)
    stream = node.open_stream(44100, channels=2)
    stems = np.concatenate([stream.push(x), stream.finish()], axis=-1)
    assert stems.shape == (4, 2, n)
    np.testing.assert_allclose(stems[0], x, atol=1e-5)


@pytest.mark.parametrize("gains", [{"vocals": 1e40}, {"vocals": float("inf")}, {"bass": "x"}])
def test_extreme_gains_are_refused(identity_model, gains):
    with pytest.raises(ValueError, match="gain for"):
        SeparatorNode(identity_model, device="cpu", gains=gains)


def test_track_statistics_do_not_depend_on_how_the_track_is_cut():
    from stemboard.node import Normalisation, TrackStatistics

    x = _stereo(50_001, 5) + 0.01
    whole = Normalisation.of(x)
    statistics = TrackStatistics()
    for start in range(0, 50_001, 777):
        statistics.add(x[:, start : start + 777])
    pieces = statistics.result()
    mono = x.mean(axis=0, dtype=np.float64)
    assert whole.mean == pytest.approx(mono.mean(), rel=1e-12)
    assert whole.std == pytest.approx(mono.std(ddof=1), rel=1e-12)
    assert pieces.mean == pytest.approx(whole.mean, rel=1e-12)
    assert pieces.std == pytest.approx(whole.std, rel=1e-12)


def test_a_stream_on_its_first_segment_differs_from_offline_by_the_means_gap():
    """The README's figure: the model undoes a different standard deviation, not a different
    mean, so a stream on its first segment's statistics differs from offline by about 0.6 x
    the gap between the first segment's mean and the track's (the tour's song)."""
    from stemboard.synth import generate_song

    x = generate_song(2_000_000, 20.0).mix
    node = SeparatorNode("demo", device="cpu", precision="fp32")
    whole = Normalisation.of(x)
    first = Normalisation.of(x[:, : node.segment_samples])

    def separated(normalisation):
        stream = node.open_stream(44100, normalisation=normalisation)
        return np.concatenate([stream.push(x), stream.finish()], axis=-1)

    offline = separated(whole)
    other_std = separated(Normalisation(whole.mean, first.std))
    other_mean = separated(Normalisation(first.mean, whole.std))
    gap = abs(first.mean - whole.mean)
    assert np.max(np.abs(other_std - offline)) < 1e-5
    assert 0.2 * gap < np.max(np.abs(other_mean - offline)) < 1.2 * gap
    streamed = separated(None)  # the stream takes its first segment's statistics
    assert 0.2 * gap < np.max(np.abs(streamed - offline)) < 1.2 * gap
    assert 5e-4 < gap < 2e-3  # the README: the first 10 s sit 1e-3 off the track's mean
