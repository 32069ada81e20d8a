"""Rendering presets and graphs to files, the render/presets commands, and the examples."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_files import read_audio, write_audio
from pedalboard import Compressor, Gain, Pedalboard, Reverb

from stemboard import cli
from stemboard.errors import PresetError
from stemboard.graph import (
    PRESETS_DIR,
    Bus,
    Channel,
    StemGraph,
    graph_to_preset,
    load_preset,
    save_preset,
)
from stemboard.graph.effects import describe_chain
from stemboard.node import SeparatorNode
from stemboard.render import render_file
from stemboard.signals import music_like

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(PRESETS_DIR.glob("*.yaml"))
SIX_STEMS = ("drums", "bass", "other", "vocals", "guitar", "piano")
SIX_STEM_PRESETS = {"guitar_lead"}
"""The shipped presets for a six-stem model (htdemucs_6s); the others are for four stems."""


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return write_audio(tmp_path_factory.mktemp("song") / "song.wav", music_like(3.0, seed=2))


@pytest.fixture(scope="module")
def six_stem_model(make_identity_model, tmp_path_factory):
    return make_identity_model(tmp_path_factory.mktemp("six") / "six.onnx", sources=SIX_STEMS)


def test_at_least_eight_presets_ship():
    assert len(SHIPPED) >= 8


@pytest.mark.parametrize("preset", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_preset_renders_through_the_cli(
    preset, song, identity_model, six_stem_model, tmp_path
):
    model = six_stem_model if preset.stem in SIX_STEM_PRESETS else identity_model
    argv = ["render", str(preset), str(song), "-o", str(tmp_path), "--model", str(model)]
    assert cli.main([*argv, "--device", "cpu"]) == 0
    written = sorted(tmp_path.rglob("*.*"))
    assert written
    original, rate = read_audio(song)
    for path in written:
        audio, out_rate = read_audio(path)
        assert out_rate == rate
        assert audio.shape[-1] == original.shape[-1], path
        assert np.isfinite(audio).all()


def test_file_rendering_equals_in_memory_rendering(identity_model, tmp_path):
    audio = music_like(4.0, seed=5)
    path = write_audio(tmp_path / "in.wav", audio)
    graph = StemGraph(
        SeparatorNode(identity_model, device="cpu"),
        stems={
            "drums": Pedalboard([Compressor(threshold_db=-20), Reverb(room_size=0.5)]),
            "vocals": Channel(chain=Gain(gain_db=-3), pan=0.4),
        },
        buses={"rhythm": Bus(inputs=["drums", "bass"], chain=Reverb(room_size=0.2))},
        tail_seconds=0.5,
    )
    expected = graph.render_stems(audio, 44100)
    preset = graph_to_preset(graph, "test")
    preset.outputs.stems = ["vocals"]
    preset.outputs.buses = ["rhythm"]
    preset.outputs.format = "wav"
    preset.outputs.bit_depth = 32
    graph.preset = preset
    written = render_file(graph, path, tmp_path / "out")
    assert set(written) == {"mix", "vocals", "rhythm"}
    for name, file in written.items():
        got, _ = read_audio(file)
        assert got.shape == expected[name].shape == (2, audio.shape[-1] + 22_050)
        np.testing.assert_allclose(got, expected[name], atol=1e-5)


def test_a_graph_built_in_python_round_trips_through_a_preset(identity_model, tmp_path):
    graph = StemGraph(
        SeparatorNode(identity_model, device="cpu"),
        stems={"bass": Channel(chain=Gain(gain_db=4), gain_db=-2, pan=-0.3), "other": Reverb()},
        master=Pedalboard([Gain(gain_db=-1)]),
    )
    path = save_preset(
        graph_to_preset(graph, "mine", model=str(identity_model)), tmp_path / "m.yaml"
    )
    again = load_preset(path, device="cpu")
    audio = music_like(2.0, seed=3)
    np.testing.assert_allclose(again(audio, 44100), graph(audio, 44100), atol=1e-5)


@pytest.mark.parametrize(
    "body, fragment",
    [
        (
            "stemboard_preset: 1\nstems: {vocals: {chain: [{plugin: Reverbb}]}}\n",
            "did you mean Reverb",
        ),
        ("stemboard_preset: 1\nstems: {vocal: {mute: true}}\n", "unknown stem 'vocal'"),
        ("!!python/object/apply:os.system ['echo hi']\n", "tag"),
        ("stemboard_preset: 1\noutputs: {template: '../{name}.{ext}'}\n", ".."),
    ],
)
def test_broken_presets_fail_in_one_line_and_write_nothing(
    body, fragment, song, identity_model, tmp_path
):
    preset = tmp_path / "broken.yaml"
    preset.write_text(body)
    out = tmp_path / "out"
    argv = ["render", str(preset), str(song), "-o", str(out), "--model", str(identity_model)]
    done = subprocess.run(
        [sys.executable, "-m", "stemboard.cli", *argv, "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2  # nothing can run: a usage error, as batch says it
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.yaml" in lines[0] and fragment in lines[0], lines
    assert not out.exists()


def test_presets_list_show_and_validate(capsys, tmp_path):
    assert cli.main(["presets", "list"]) == 0
    listed = capsys.readouterr().out
    assert "karaoke" in listed and "vocal_space" in listed
    assert cli.main(["presets", "show", "karaoke"]) == 0
    assert capsys.readouterr().out.startswith("#")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stemboard_preset: 1\nbogus: 1\n")
    assert cli.main(["presets", "validate", *map(str, SHIPPED), str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out.count(": ok") == len(SHIPPED)
    assert "bogus" in captured.err


def test_render_refuses_to_overwrite(song, identity_model, tmp_path, capsys):
    argv = ["render", "karaoke", str(song), "-o", str(tmp_path), "--model", str(identity_model)]
    assert cli.main([*argv, "--device", "cpu"]) == 0
    assert cli.main([*argv, "--device", "cpu"]) == 1
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["karaoke_and_reverb.py", "stems_with_effects.py"])
def test_examples_run(script, song, identity_model, tmp_path):
    target = tmp_path / ("out.wav" if script.startswith("karaoke") else "stems")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / script),
            str(song),
            str(target),
            str(identity_model),
        ],
        check=True,
        timeout=120,
    )
    files = [target] if target.suffix else sorted(target.iterdir())
    assert files and all(read_audio(f)[0].shape[-1] == read_audio(song)[0].shape[-1] for f in files)


def test_whatever_a_python_graph_accepts_a_preset_saves_and_loads_back(identity_model, tmp_path):
    graph = StemGraph(
        SeparatorNode(identity_model, device="cpu"),
        stems={
            "vocals": Channel(gain_db=30.0, pan=-1.0, solo=True),
            "drums": Channel(chain=Pedalboard([Gain(gain_db=60.0)]), gain_db=-120.0),
        },
        buses={"low": Bus(inputs=["bass", "other"], gain_db=60.0, pan=1.0, mute=True)},
        tail_seconds=60.0,
    )
    path = save_preset(
        graph_to_preset(graph, "extremes", model=str(identity_model)), tmp_path / "extremes.yaml"
    )
    again = load_preset(path, device="cpu")

    def settings(strips):
        return {
            name: {**strip.settings(), "chain": describe_chain(strip.chain or [])}
            for name, strip in strips.items()
        }

    assert settings(again.channels) == settings(graph.channels)
    assert settings(again.buses) == settings(graph.buses)
    assert again.tail_seconds == 60.0


def test_a_preset_for_a_model_with_other_stems_works(make_identity_model, tmp_path):
    model = make_identity_model(tmp_path / "speech.onnx", sources=("speech", "music"))
    preset = tmp_path / "podcast.yaml"
    preset.write_text(
        "stemboard_preset: 1\n"
        f"model: {{name: {model}, device: cpu}}\n"
        "stems:\n  music: {gain_db: -12}\n  speech: {chain: [{plugin: Compressor}]}\n"
        "buses:\n  all: {inputs: [speech, music]}\n"
        "outputs: {stems: [speech], buses: [all], template: '{track}/{name}.{ext}'}\n"
    )
    song = write_audio(tmp_path / "talk.wav", music_like(1.0, seed=1))
    written = render_file(preset, song, tmp_path / "out")
    assert sorted(written) == ["all", "mix", "speech"]
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(preset.read_text().replace("music: {gain_db", "musik: {gain_db"))
    with pytest.raises(
        PresetError,
        match=r"wrong\.yaml: stems\.musik: unknown stem 'musik' "
        r"\(did you mean music\? the model has: speech, music\)",
    ):
        load_preset(wrong)


def test_a_preset_used_with_another_model_is_checked_against_that_model(
    make_identity_model, tmp_path
):
    model = make_identity_model(tmp_path / "speech.onnx", sources=("speech", "music"))
    preset = tmp_path / "p.yaml"
    preset.write_text("stemboard_preset: 1\nstems: {speech: {mute: true}}\n")
    with pytest.raises(PresetError, match="unknown stem 'speech'"):
        load_preset(preset)  # its own model is the MUSDB one
    graph = load_preset(preset, model=model, device="cpu")
    assert graph.channels["speech"].mute


class FakeExternal(Gain):
    """Stands in for a loaded VST3: a plugin with a ``parameters`` mapping."""

    parameters: dict = {}  # noqa: RUF012


def test_an_external_plugin_is_loaded_once_and_never_by_validate(
    identity_model, tmp_path, monkeypatch, capsys
):
    import pedalboard

    (tmp_path / "fx.vst3").write_bytes(b"")
    preset = tmp_path / "ext.yaml"
    preset.write_text("stemboard_preset: 1\nmaster: [{plugin: external, path: fx.vst3}]\n")
    loaded = []
    monkeypatch.setattr(
        pedalboard,
        "load_plugin",
        lambda path, plugin_name=None: loaded.append(path) or FakeExternal(),
    )
    assert cli.main(["presets", "validate", str(preset), "--allow-external-plugins"]) == 0
    assert loaded == []
    load_preset(preset, model=identity_model, device="cpu", allow_external_plugins=True)
    assert len(loaded) == 1
    assert cli.main(["presets", "validate", str(preset)]) == 1
    assert "refused" in capsys.readouterr().err


def test_validate_checks_stem_names_against_a_model_without_loading_it(
    make_identity_model, tmp_path, capsys, monkeypatch
):
    import stemboard.node.session

    model = make_identity_model(tmp_path / "speech.onnx", sources=("speech", "music"))
    preset = tmp_path / "p.yaml"
    preset.write_text("stemboard_preset: 1\nstems: {speech: {mute: true}}\n")
    monkeypatch.setattr(stemboard.node.session, "_create", None)  # no model may be loaded
    assert cli.main(["presets", "validate", str(preset), "--model", str(model)]) == 0
    assert cli.main(["presets", "validate", str(preset), "--model", "demo"]) == 1
    assert "unknown stem 'speech'" in capsys.readouterr().err


def test_render_options_override_the_presets_precision_shifts_and_seed(
    song, identity_model, tmp_path, capsys
):
    preset = tmp_path / "shifted.yaml"
    preset.write_text(
        "stemboard_preset: 1\n"
        f"model: {{name: {identity_model}, device: cpu, precision: fp16, shifts: 1, seed: 2}}\n"
    )
    argv = ["render", str(preset), str(song), "-o", str(tmp_path / "out")]
    assert cli.main(argv) == 1  # the preset's fp16: the identity model has no variant
    assert "fp16 was asked for" in capsys.readouterr().err
    assert cli.main(["-v", *argv, "--precision", "fp32", "--shifts", "3", "--seed", "4"]) == 0
    described = [line for line in capsys.readouterr().err.splitlines() if "on the CPU" in line]
    assert len(described) == 1 and " fp32 on the CPU" in described[0]
    assert described[0].endswith(", 3 shifts")
    assert (tmp_path / "out" / "song" / "mix.wav").is_file()


def test_precision_shifts_and_seed_round_trip_through_graph_to_preset(identity_model, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "stemboard_preset: 1\n"
        f"model: {{name: {identity_model}, device: cpu, precision: fp32, shifts: 2, seed: 5}}\n"
    )
    graph = load_preset(path)
    assert (graph.separator.precision, graph.separator.shifts) == ("fp32", 2)
    settings = graph_to_preset(graph, "again").model
    assert (settings.precision, settings.shifts, settings.seed) == ("fp32", 2, 5)
    again = load_preset(save_preset(graph_to_preset(graph, "again"), tmp_path / "again.yaml"))
    assert again.preset.model == graph.preset.model
    audio = music_like(1.0, seed=9)
    np.testing.assert_array_equal(again(audio, 44100), graph(audio, 44100))
    built = StemGraph(SeparatorNode(identity_model, device="cpu", shifts=3))
    settings = graph_to_preset(built, "built").model
    assert (settings.shifts, settings.seed) == (3, 0)
