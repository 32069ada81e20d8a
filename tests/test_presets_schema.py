"""Preset files: the shipped presets, round trips, the effect registry, and one-line errors."""

import re
import subprocess
import sys
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pedalboard
import pytest
import yaml
from fake_plugins import FakeExternalPlugin
from hypothesis import given, settings
from hypothesis import strategies as st

from stemboard.errors import DestinationError, InvalidValueError, PresetError
from stemboard.graph import effects
from stemboard.graph.effects import (
    RANGES,
    check_spec,
    describe_chain,
    describe_plugin,
    make_chain,
    make_plugin,
    parameters,
    plugin_names,
)
from stemboard.graph.preset_model import (
    BusSettings,
    ModelSettings,
    OutputSettings,
    Preset,
    StemSettings,
    preset_to_dict,
)
from stemboard.graph.preset_parse import load_preset_file, parse_preset, save_preset
from stemboard.registry import MUSDB_SOURCES as DEFAULT_SOURCES
from stemboard.templates import DEFAULT_TEMPLATE, output_path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "stemboard" / "presets").glob("*.yaml"))
PROMISED = {
    "karaoke",
    "a_cappella",
    "drum_bus_punch",
    "bass_boost",
    "lofi",
    "vocal_space",
    "dj_instrumental_drums_up",
    "stems_processed",
    "guitar_lead",
}


def test_the_promised_presets_ship():
    shipped = {path.stem for path in SHIPPED}
    assert shipped >= PROMISED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_preset_loads_with_a_header_and_no_tail(path):
    preset = load_preset_file(path)
    lines = path.read_text().splitlines()
    header = lines[: lines.index("stemboard_preset: 1")]
    assert len(header) >= 3 and all(line.startswith("#") for line in header)
    assert preset.name == path.stem and preset.description
    assert preset.tail_seconds == 0.0


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_preset_chains_process_audio_to_finite_output_of_the_same_length(path):
    preset = load_preset_file(path)
    chains = [s.chain for s in preset.stems.values()] + [b.chain for b in preset.buses.values()]
    noise = np.random.default_rng(0).standard_normal((2, 11025)).astype(np.float32) * 0.1
    for index, chain in enumerate([*chains, preset.master]):
        out = make_chain(chain, f"chain{index}")(noise, 44100)
        assert out.shape == noise.shape and np.isfinite(out).all()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_preset_round_trips_through_save(path, tmp_path):
    preset = load_preset_file(path)
    assert load_preset_file(save_preset(preset, tmp_path / "copy.yaml")) == preset


def full_preset() -> Preset:
    return Preset(
        name="everything",
        description="Every key set to something other than its default.",
        model=ModelSettings(
            "small.onnx",
            device="cpu",
            overlap=0.5,
            batch_size=4,
            precision="bf16",
            shifts=2,
            seed=7,
        ),
        stems={
            "vocals": StemSettings(
                chain=[
                    describe_plugin(pedalboard.Reverb(room_size=0.6)),
                    {"plugin": "LadderFilter", "mode": "HPF24", "cutoff_hz": 300.0},
                ],
                gain_db=-3.5,
                pan=0.25,
                solo=True,
            ),
            "drums": StemSettings(mute=True),
        },
        buses={
            "rhythm": BusSettings(inputs=["drums", "bass"], pan=-0.5),
            "all-but-vox": BusSettings(
                inputs=["rhythm", "other"],
                chain=[{"plugin": "BrickwallLimiter", "true_peak": True}],
                gain_db=2.0,
                mute=True,
            ),
        },
        master=describe_chain([pedalboard.Resample(quality=pedalboard.Resample.Quality.Linear)]),
        tail_seconds=1.5,
        outputs=OutputSettings(
            mix=False,
            stems="all",
            buses=["rhythm"],
            format="flac",
            bit_depth=16,
            template="{preset}/{track}-{name}.{ext}",
        ),
    )


def test_preset_built_in_python_round_trips_through_a_file(tmp_path):
    preset = full_preset()
    path = save_preset(preset, tmp_path / "everything.yaml")
    first_line = path.read_text().splitlines()[0]
    assert first_line == (
        "# stemboard preset: everything — Every key set to something other than its default."
    )
    assert load_preset_file(path) == preset


def test_preset_to_dict_is_plain_data_that_parses_back_equal():
    preset = full_preset()
    data = preset_to_dict(preset)
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert parse_preset(data, "<dict>") == preset


@pytest.mark.parametrize(
    ("model", "precision"),
    [
        ("{fp16: true}", "fp16"),
        ("{fp16: false}", "auto"),
        ("{fp16: true, precision: fp16}", "fp16"),
        ("{fp16: false, precision: bf16}", "bf16"),
    ],
)
def test_the_old_fp16_key_reads_as_a_precision(model, precision):
    preset = parse_preset(yaml.safe_load(f"stemboard_preset: 1\nmodel: {model}\n"), "old.yaml")
    assert preset.model.precision == precision
    assert preset.model.fp16 == (precision == "fp16")
    written = preset_to_dict(preset)["model"]
    assert "fp16" not in written and written.get("precision", "auto") == precision


def test_precision_shifts_and_seed_are_written_only_when_set():
    assert list(preset_to_dict(Preset("plain"))["model"]) == [
        "name",
        "device",
        "overlap",
        "batch_size",
    ]
    shifted = Preset("shifted", model=ModelSettings(shifts=3))
    assert preset_to_dict(shifted)["model"]["shifts"] == 3
    assert "precision" not in preset_to_dict(shifted)["model"]
    data = preset_to_dict(full_preset())["model"]
    assert (data["precision"], data["shifts"], data["seed"]) == ("bf16", 2, 7)


def test_name_defaults_to_the_file_stem(tmp_path):
    path = tmp_path / "my_mix.yaml"
    path.write_text("stemboard_preset: 1\n")
    preset = load_preset_file(path)
    assert preset.name == "my_mix" and preset.outputs.file_names(["a", "b"]) == ["mix"]


def test_the_full_example_in_the_docs_parses():
    docs = (ROOT / "docs" / "presets.md").read_text()
    example = re.search(r"## A full example\n\n```yaml\n(.*?)```", docs, re.S)[1]
    preset = parse_preset(yaml.safe_load(example), "docs/presets.md")
    assert preset.outputs.file_names(DEFAULT_SOURCES) == ["mix", "vocals", "rhythm"]


def test_plugin_names_are_pedalboard_effects_only():
    names = plugin_names()
    assert {"Reverb", "Compressor", "Delay", "LadderFilter", "BrickwallLimiter"} <= set(names)
    excluded = {"Plugin", "Pedalboard", "Chain", "Mix", "IIRFilter", "Convolution"}
    assert not excluded & set(names)
    assert not any("External" in name or "VST3" in name for name in names)


def test_parameters_are_the_constructor_arguments_with_types_and_defaults():
    reverb = parameters("Reverb")
    assert list(reverb) == [
        "room_size",
        "damping",
        "wet_level",
        "dry_level",
        "width",
        "freeze_mode",
    ]
    assert reverb["wet_level"].kind == "float" and reverb["wet_level"].default == 0.33
    assert str(reverb["room_size"].range) == "[0, 1]"
    mode = parameters("LadderFilter")["mode"]
    assert mode.kind == "enum" and mode.default == "LPF12" and "HPF24" in mode.choices
    assert parameters("BrickwallLimiter")["true_peak"].kind == "bool"
    assert parameters("Invert") == {}


@pytest.mark.parametrize("name", plugin_names())
def test_describe_then_make_rebuilds_the_default_plugin(name):
    spec = describe_plugin(getattr(pedalboard, name)())
    assert list(spec) == ["plugin", *parameters(name)]
    rebuilt = make_plugin(spec, "x")
    assert type(rebuilt) is getattr(pedalboard, name)
    assert describe_plugin(rebuilt) == spec
    assert check_spec(spec, "x") == spec


def test_describe_writes_short_decimals_and_enum_names():
    plugins = [
        pedalboard.Reverb(room_size=0.6, wet_level=0.123),
        pedalboard.LadderFilter(mode=pedalboard.LadderFilter.Mode.BPF24, cutoff_hz=1234.5),
        pedalboard.BrickwallLimiter(ceiling_db=-0.3, true_peak=True),
        pedalboard.Resample(target_sample_rate=11025.5, quality=pedalboard.Resample.Quality.Linear),
    ]
    specs = describe_chain(pedalboard.Pedalboard(plugins))
    assert specs[0]["room_size"] == 0.6 and specs[0]["wet_level"] == 0.123
    assert specs[1]["mode"] == "BPF24" and specs[2]["true_peak"] is True
    assert specs[3]["quality"] == "Linear" and specs[3]["target_sample_rate"] == 11025.5
    assert describe_chain(make_chain(specs, "chain")) == specs


def test_containers_cannot_be_described():
    with pytest.raises(PresetError, match="cannot save Chain"):
        describe_plugin(pedalboard.Chain([pedalboard.Gain()]))


def admitted_values(accepted) -> list[float]:
    """The closed bounds of a range and one value well inside it."""
    low, high = accepted.low, accepted.high
    values = [low] if low is not None and not accepted.low_open else []
    values += [high] if high is not None and not accepted.high_open else []
    if low is not None and high is not None:
        return [*values, (low + high) / 2]
    return [*values, low + 0.5 if low is not None else high - 0.5]


def test_ranges_name_real_parameters_and_admit_what_pedalboard_accepts():
    for (name, key), accepted in RANGES.items():
        assert parameters(name)[key].range == accepted
        for value in admitted_values(accepted):
            plugin = make_plugin({"plugin": name, key: value}, "x")
            assert getattr(plugin, key) == pytest.approx(value)


def test_pedalboard_range_errors_name_the_parameter(monkeypatch):
    reverb = effects._registry()["Reverb"].parameters
    monkeypatch.setitem(reverb, "room_size", replace(reverb["room_size"], range=None))
    with pytest.raises(PresetError) as caught:
        make_plugin({"plugin": "Reverb", "damping": 0.1, "room_size": 2}, "master[0]")
    assert str(caught.value) == (
        "master[0]: Reverb.room_size=2 is out of range "
        "(pedalboard says: Room Size value must be between 0.0 and 1.0.)"
    )


def test_external_plugins_load_only_with_opt_in(monkeypatch, tmp_path):
    (tmp_path / "fx.vst3").write_bytes(b"")
    loaded = []
    monkeypatch.setattr(
        pedalboard,
        "load_plugin",
        lambda path, plugin_name=None: loaded.append(path) or FakeExternalPlugin(),
    )
    spec = {"plugin": "external", "path": "fx.vst3", "parameters": {"threshold_db": -12.0}}
    with pytest.raises(PresetError, match="refused: loading it runs native code"):
        make_plugin(spec, "master[0]", base_dir=tmp_path)
    assert loaded == []
    plugin = make_plugin(spec, "master[0]", allow_external=True, base_dir=tmp_path)
    assert loaded == [str(tmp_path.resolve() / "fx.vst3")] and plugin.threshold_db == -12.0
    assert describe_plugin(plugin) == {
        "plugin": "external",
        "path": loaded[0],
        "parameters": {"threshold_db": -12.0, "mix": 1.0},
    }
    with pytest.raises(
        PresetError,
        match=r"fx.vst3 has no parameter 'thresh' \(its parameters: threshold_db, mix\)",
    ):
        make_plugin(
            {**spec, "parameters": {"thresh": 1}}, "m", allow_external=True, base_dir=tmp_path
        )
    with pytest.raises(PresetError, match="does not exist"):
        make_plugin({**spec, "path": "gone.vst3"}, "m", allow_external=True, base_dir=tmp_path)


def test_external_plugin_paths_in_a_preset_are_relative_to_its_file(monkeypatch, tmp_path):
    (tmp_path / "fx.vst3").write_bytes(b"")
    monkeypatch.setattr(
        pedalboard, "load_plugin", lambda path, plugin_name=None: FakeExternalPlugin()
    )
    path = tmp_path / "ext.yaml"
    path.write_text("stemboard_preset: 1\nmaster: [{plugin: external, path: fx.vst3}]\n")
    preset = load_preset_file(path, allow_external=True)
    assert preset.master == [
        {"plugin": "external", "path": str(tmp_path.resolve() / "fx.vst3"), "parameters": {}}
    ]


BROKEN = [
    (
        "unknown_plugin",
        "stems: {vocals: {chain: [{plugin: Reverbb}]}}",
        "stems.vocals.chain[0]: unknown plugin 'Reverbb' (did you mean Reverb?)",
    ),
    (
        "unknown_plugin_no_match",
        "master: [{plugin: Flanger9000}]",
        "unknown plugin 'Flanger9000' (known plugins: Bitcrush,",
    ),
    (
        "unknown_parameter",
        "stems: {vocals: {chain: [{plugin: Gain}, {plugin: Reverb, size: 1}]}}",
        "stems.vocals.chain[1]: Reverb has no parameter 'size' (did you mean room_size? "
        "its parameters: room_size, damping, wet_level, dry_level, width, freeze_mode)",
    ),
    (
        "wrong_type",
        "master: [{plugin: Reverb, room_size: big}]",
        "master[0]: Reverb.room_size must be a number, got 'big'",
    ),
    (
        "bool_for_a_number",
        "master: [{plugin: Gain, gain_db: yes}]",
        "Gain.gain_db must be a number, got true",
    ),
    (
        "out_of_range",
        "master: [{plugin: Reverb, room_size: 2.0}]",
        "master[0]: Reverb.room_size=2.0 is out of range (expected [0, 1])",
    ),
    (
        "not_finite",
        "master: [{plugin: Gain, gain_db: .nan}]",
        "Gain.gain_db must be a finite number, got nan",
    ),
    (
        "bad_enum",
        "master: [{plugin: LadderFilter, mode: hpf}]",
        "LadderFilter.mode must be one of LPF12, HPF12, BPF12, LPF24, HPF24, BPF24, got 'hpf'",
    ),
    (
        "bad_bool",
        "master: [{plugin: BrickwallLimiter, true_peak: 1}]",
        "BrickwallLimiter.true_peak must be true or false, got 1",
    ),
    ("effect_not_a_mapping", "master: [Reverb]", "master[0]: expected an effect like"),
    (
        "chain_not_a_list",
        "stems: {bass: {chain: {plugin: Gain}}}",
        "stems.bass.chain: expected a list of effects, got a mapping",
    ),
    (
        "unknown_stem",
        "stems: {vocal: {gain_db: 1}}",
        "stems.vocal: unknown stem 'vocal' "
        "(did you mean vocals? the model has: drums, bass, other, vocals)",
    ),
    (
        "unknown_top_level_key",
        "colour: red",
        "colour: unknown key 'colour' (valid keys: stemboard_preset,",
    ),
    (
        "unknown_nested_key",
        "stems: {vocals: {gian_db: 1}}",
        "stems.vocals.gian_db: unknown key 'gian_db' (did you mean gain_db? valid keys:",
    ),
    (
        "bus_cycle",
        "buses: {a: {inputs: [b, drums]}, b: {inputs: [a]}}",
        "buses.a.inputs: buses form a cycle: a -> b -> a",
    ),
    ("bus_feeds_itself", "buses: {a: {inputs: [a]}}", "buses form a cycle: a -> a"),
    (
        "bus_input_missing",
        "buses: {rhythm: {inputs: [drums, drumz]}}",
        "buses.rhythm.inputs[1]: unknown input 'drumz' (did you mean drums? stems:",
    ),
    ("bus_without_inputs", "buses: {rhythm: {gain_db: 1}}", "buses.rhythm: missing key 'inputs'"),
    (
        "input_feeds_two_buses",
        "buses: {a: {inputs: [drums]}, b: {inputs: [drums]}}",
        "buses.b.inputs[0]: 'drums' already feeds bus 'a'",
    ),
    (
        "bus_named_like_a_stem",
        "buses: {drums: {inputs: [bass]}}",
        "buses.drums: bus name 'drums' is also a stem name",
    ),
    ("bus_named_mix", "buses: {mix: {inputs: [bass]}}", "bus name 'mix' is reserved"),
    ("bus_without_any_input", "buses: {a: {inputs: []}}", "buses.a.inputs: a bus needs at least"),
    (
        "bus_input_twice",
        "buses: {a: {inputs: [bass, bass]}}",
        "buses.a.inputs[1]: 'bass' is listed twice",
    ),
    (
        "bad_pan",
        "stems: {vocals: {pan: 1.5}}",
        "stems.vocals.pan: 1.5 is out of range (expected [-1, 1])",
    ),
    (
        "bad_gain",
        "stems: {drums: {gain_db: 70}}",
        "stems.drums.gain_db: 70 is out of range (expected [-120, 60])",
    ),
    (
        "infinite_gain",
        "buses: {a: {inputs: [bass], gain_db: -.inf}}",
        "buses.a.gain_db: -inf is out of range",
    ),
    (
        "bad_format",
        "outputs: {format: aiff}",
        "outputs.format: unknown format 'aiff' (expected one of: wav, flac, ogg, mp3)",
    ),
    ("bad_bit_depth", "outputs: {bit_depth: 20}", "outputs.bit_depth: unknown bit depth 20"),
    (
        "template_with_dotdot",
        "outputs: {template: '../{name}.{ext}'}",
        "outputs.template: '../{name}.{ext}' contains '..'",
    ),
    ("absolute_template", "outputs: {template: '/tmp/{name}.{ext}'}", "is an absolute path"),
    ("drive_letter_template", "outputs: {template: 'C:{name}.{ext}'}", "is an absolute path"),
    (
        "template_unknown_field",
        "outputs: {template: '{track}/{user}.{ext}'}",
        "outputs.template: unknown field {user} in '{track}/{user}.{ext}' "
        "(fields: {track}, {name}, {ext}, {preset})",
    ),
    (
        "template_attribute_access",
        "outputs: {template: '{name.__class__}.{ext}'}",
        "unknown field {name.__class__}",
    ),
    (
        "template_format_spec",
        "outputs: {template: '{name:>9}.{ext}'}",
        "{name} takes no format spec",
    ),
    (
        "template_without_name",
        "outputs: {stems: all, template: '{track}.{ext}'}",
        "outputs.template: '{track}.{ext}' has no {name} but 5 files are written",
    ),
    (
        "template_wrong_extension",
        "outputs: {template: '{name}.mp3'}",
        "outputs.template: '{name}.mp3' must end with '.{ext}' (or '.wav')",
    ),
    ("template_unbalanced", "outputs: {template: '{name.{ext}'}", "outputs.template: bad template"),
    (
        "bad_clip_mode",
        "outputs: {clip_mode: soft}",
        "outputs.clip_mode: unknown clip mode 'soft' (expected one of: rescale, clamp, none)",
    ),
    (
        "bad_mute",
        "stems: {vocals: {mute: 1}}",
        "stems.vocals.mute: expected true or false, got 1",
    ),
    ("nothing_to_write", "outputs: {mix: false}", "outputs: nothing to write"),
    ("unknown_output_stem", "outputs: {stems: [voice]}", "outputs.stems[0]: unknown stem 'voice'"),
    (
        "unknown_output_bus",
        "outputs: {buses: [rhythm]}",
        "outputs.buses[0]: unknown bus 'rhythm' (buses: none)",
    ),
    (
        "overlap_out_of_range",
        "model: {overlap: 1.0}",
        "model.overlap: expected a fraction in [0, 1), got 1.0",
    ),
    (
        "unknown_device",
        "model: {device: gpu}",
        "model.device: unknown device 'gpu' (expected one of: auto, cpu, cuda)",
    ),
    (
        "bad_batch_size",
        "model: {batch_size: 0}",
        "model.batch_size: expected null or an integer >= 1, got 0",
    ),
    (
        "unknown_precision",
        "model: {precision: fp64}",
        "model.precision: unknown precision 'fp64' (expected one of: auto, fp32, bf16, fp16, int8)",
    ),
    ("int8_precision", "model: {precision: int8}", "model.precision: int8 is not offered: "),
    (
        "fp16_and_another_precision",
        "model: {fp16: true, precision: bf16}",
        "model.fp16: fp16: true (deprecated: precision: fp16) contradicts precision: bf16",
    ),
    ("fp16_not_a_bool", "model: {fp16: 1}", "model.fp16: expected true or false, got 1"),
    (
        "negative_shifts",
        "model: {shifts: -1}",
        "model.shifts: expected an integer from 0 to 16, got -1",
    ),
    (
        "too_many_shifts",
        "model: {shifts: 17}",
        "model.shifts: expected an integer from 0 to 16, got 17",
    ),
    (
        "fractional_shifts",
        "model: {shifts: 1.5}",
        "model.shifts: expected an integer from 0 to 16, got 1.5",
    ),
    ("text_seed", "model: {seed: x}", "model.seed: expected an integer >= 0, got 'x'"),
    ("negative_seed", "model: {seed: -3}", "model.seed: expected an integer >= 0, got -3"),
    ("bool_seed", "model: {seed: true}", "model.seed: expected an integer >= 0, got true"),
    ("tail_too_long", "tail_seconds: 61", "tail_seconds: 61 is out of range (expected [0, 60])"),
    (
        "integer_beyond_a_float",
        "stems: {vocals: {gain_db: 1" + "0" * 400 + "}}",
        "stems.vocals.gain_db: 1000000",
    ),
    (
        "integer_beyond_repr",
        "model: {overlap: " + "9" * 5000 + "}",
        "invalid YAML: Exceeds the limit",
    ),
    ("not_a_date", "name: 2001-13-45", "invalid YAML: month must be in 1..12"),
    ("name_with_slash", "name: a/b", "name: 'a/b' must be usable as a file name"),
    (
        "external_without_opt_in",
        "master: [{plugin: external, path: evil.vst3}]",
        "master[0]: external plugin 'evil.vst3' refused: loading it runs native code",
    ),
]

WHOLE_FILE = [
    (
        "python_tag",
        "stemboard_preset: !!python/object/apply:os.system ['echo pwned']\n",
        "line 1, column 19: YAML tag '!!python/object/apply:os.system' is not allowed",
    ),
    (
        "python_name_tag",
        "stemboard_preset: 1\nname: !!python/name:os.system\n",
        "YAML tag '!!python/name:os.system' is not allowed",
    ),
    (
        "yaml_syntax_error",
        "stemboard_preset: 1\nstems: {vocals: [\n",
        "line 3, column 1: invalid YAML",
    ),
    (
        "tab_indentation",
        "stemboard_preset: 1\nstems:\n\tvocals: {}\n",
        "line 3, column 1: invalid YAML",
    ),
    (
        "not_a_mapping",
        "- stemboard_preset\n- 1\n",
        "expected a mapping of preset keys (stemboard_preset, name, ...), got a list",
    ),
    ("scalar_document", "just words\n", "expected a mapping of preset keys"),
    ("missing_version", "name: x\n", "missing 'stemboard_preset'"),
    (
        "future_version",
        "stemboard_preset: 2\n",
        "stemboard_preset: version 2 is newer than this stemboard reads (1)",
    ),
    ("version_zero", "stemboard_preset: 0\n", "stemboard_preset: unsupported version 0"),
    (
        "version_not_a_number",
        "stemboard_preset: one\n",
        "stemboard_preset: expected an integer schema version, got 'one'",
    ),
    ("deeply_nested", "stemboard_preset: 1\nname: " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    (
        "billion_laughs",
        "stemboard_preset: 1\nmaster:\n  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(f"  - &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in pairwise("abcdefghi")),
        "master[0]: expected an effect like",
    ),
    ("empty_file", "", "the file is empty"),
    (
        "duplicate_top_key",
        "stemboard_preset: 1\nname: a\nstems: {}\nname: b\n",
        "line 4, column 1: duplicate key 'name' (on lines 2 and 4)",
    ),
    (
        "duplicate_nested_key",
        "stemboard_preset: 1\nstems:\n  vocals: {mute: true, mute: false}\n",
        "duplicate key 'mute' (on lines 3 and 3)",
    ),
    ("only_comments", "# nothing here\n", "the file is empty"),
    (
        "two_documents",
        "stemboard_preset: 1\n---\nstemboard_preset: 1\n",
        "invalid YAML: expected a single document",
    ),
]


def expect_one_line_error(path: Path, fragment: str) -> str:
    with pytest.raises(PresetError) as caught:
        load_preset_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert fragment in message
    return message


@pytest.mark.parametrize(
    ("body", "fragment"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_broken_preset_fails_with_one_line_naming_file_and_key(tmp_path, body, fragment):
    path = tmp_path / "broken.yaml"
    path.write_text(f"stemboard_preset: 1\n{body}\n")
    expect_one_line_error(path, fragment)


@pytest.mark.parametrize(
    ("text", "fragment"), [case[1:] for case in WHOLE_FILE], ids=[case[0] for case in WHOLE_FILE]
)
def test_broken_file_fails_with_one_line_naming_the_file(tmp_path, text, fragment):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    expect_one_line_error(path, fragment)


def test_missing_and_binary_files_fail_with_one_line(tmp_path):
    expect_one_line_error(tmp_path / "absent.yaml", "no such preset file")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    expect_one_line_error(binary, "not a text file")


def test_stems_of_another_model_are_checked_against_its_sources():
    data = {"stemboard_preset": 1, "stems": {"guitar": {"gain_db": 1.0}}}
    assert parse_preset(data, "x.yaml", sources=["guitar", "piano"]).stems["guitar"].gain_db == 1.0
    with pytest.raises(PresetError, match=r"^x.yaml: stems.guitar: unknown stem 'guitar'"):
        parse_preset(data, "x.yaml")


def test_output_path_formats_the_template_inside_the_output_directory(tmp_path):
    path = output_path(tmp_path, DEFAULT_TEMPLATE, track="song", name="vocals", ext="wav")
    assert path == tmp_path / "song" / "vocals.wav"
    odd_but_inside = output_path(
        tmp_path, "{track}/{name}.{ext}", track="a..b", name="x", ext="wav"
    )
    assert odd_but_inside == tmp_path / "a..b" / "x.wav"


@pytest.mark.parametrize(
    "track",
    [
        "../../etc",
        "..",
        "/etc",
        "a/../../b",
        "song/../../x",
        "C:\\Windows",
        "C:evil",
        "\\\\server\\share",
        "bad\0name",
    ],
)
def test_output_path_refuses_hostile_field_values(tmp_path, track):
    with pytest.raises(DestinationError, match="output file"):
        output_path(tmp_path / "out", DEFAULT_TEMPLATE, track=track, name="vocals", ext="wav")


def test_output_path_refuses_a_symlink_out_of_the_output_directory(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DestinationError, match="is outside the output directory"):
        output_path(tmp_path / "out", DEFAULT_TEMPLATE, track="link", name="vocals", ext="wav")


def test_output_path_needs_every_field_the_template_uses(tmp_path):
    with pytest.raises(InvalidValueError, match=r"uses \{track\}, not given"):
        output_path(tmp_path, DEFAULT_TEMPLATE, name="vocals", ext="wav")


@settings(max_examples=200, deadline=None)
@given(track=st.text(), name=st.sampled_from(["mix", "vocals", "rhythm"]))
def test_output_path_never_leaves_the_output_directory(tmp_path_factory, track, name):
    out = tmp_path_factory.getbasetemp() / "hypothesis-out"
    try:
        path = output_path(
            out, "{preset}/{track}/{name}.{ext}", track=track, name=name, ext="wav", preset="p"
        )
    except (DestinationError, InvalidValueError):
        return
    resolved = path.resolve()
    assert resolved.is_relative_to(out.resolve()) and resolved != out.resolve()


def test_the_schema_does_not_import_torch():
    code = (
        "import sys, stemboard.graph.effects, stemboard.graph.preset_parse; "
        "sys.exit('torch' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
