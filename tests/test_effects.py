"""The effect registry: every numeric parameter's range, checking specs as data, building once."""

import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pedalboard
import pytest
from fake_plugins import FakeExternalPlugin

from stemboard.errors import PresetError
from stemboard.graph import effects
from stemboard.graph.effects import (
    EXTERNAL,
    RANGES,
    check_spec,
    describe_chain,
    describe_plugin,
    format_value,
    make_chain,
    make_plugin,
    parameters,
    plugin_names,
)

NUMERIC = [
    (name, key)
    for name in plugin_names()
    for key, info in parameters(name).items()
    if info.kind in ("float", "int")
]
SAMPLE_RATES = (8000, 44100, 192000)
FIRST_ORDER_FILTERS = ("HighpassFilter", "LowpassFilter")


def test_every_numeric_parameter_has_a_bounded_range():
    missing = [f"{name}.{key}" for name, key in NUMERIC if (name, key) not in RANGES]
    assert missing == [], f"parameters without a range in effects.RANGES: {missing}"
    assert sorted(RANGES) == sorted(NUMERIC), "RANGES names a parameter pedalboard does not have"
    for name, key in NUMERIC:
        accepted = parameters(name)[key].range
        assert accepted == RANGES[name, key]
        # Closed and bounded, so that both ends can be tried (test_the_ends_of_every_range_...).
        assert accepted.low is not None and accepted.high is not None, f"{name}.{key}"
        assert not accepted.low_open and not accepted.high_open, f"{name}.{key}"
        assert parameters(name)[key].default in accepted, f"{name}.{key}'s default"


def inside(accepted) -> list[float]:
    """The two ends of a closed range, then its middle."""
    return [accepted.low, accepted.high, (accepted.low + accepted.high) / 2]


@pytest.mark.parametrize(("name", "key"), NUMERIC, ids=[f"{n}.{k}" for n, k in NUMERIC])
def test_pedalboard_accepts_every_value_in_a_range(name, key):
    for value in inside(RANGES[name, key]):
        plugin = getattr(pedalboard, name)()
        setattr(plugin, key, value)  # pedalboard's own setter: raises if it refuses the value
        assert getattr(plugin, key) == pytest.approx(value, rel=1e-6)


def peak_memory_bytes() -> int:
    """This process's peak resident memory so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    resource = pytest.importorskip("resource")  # not on Windows
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


ENDS = [
    (name, key, value, sample_rate)
    for name, key in NUMERIC
    for value in inside(RANGES[name, key])[:2]
    for sample_rate in SAMPLE_RATES
]


@pytest.mark.parametrize(
    ("name", "key", "value", "sample_rate"),
    ENDS,
    ids=[f"{n}.{k}={v:g}@{sr}" for n, k, v, sr in ENDS],
)
def test_the_ends_of_every_range_keep_the_output_finite(name, key, value, sample_rate):
    if name == "MP3Compressor" and sample_rate > 48000:
        pytest.skip("pedalboard's MP3Compressor refuses audio above 48 kHz, whatever its settings")
    if name in FIRST_ORDER_FILTERS and value >= sample_rate / 2:
        pytest.skip("first-order filters blow up above Nyquist: see the comment in effects.RANGES")
    audio = np.random.default_rng(0).uniform(-1, 1, (2, sample_rate // 4)).astype(np.float32)
    plugin = make_plugin({"plugin": name, key: value}, "x")
    before, start = peak_memory_bytes(), time.perf_counter()
    output = plugin.process(audio, sample_rate)
    elapsed, grown = time.perf_counter() - start, peak_memory_bytes() - before
    assert np.isfinite(output).all()
    assert np.abs(output).max() < 1e4  # the loudest legitimate case, Gain +60 dB, gives 1000
    assert grown < 512 * 2**20, f"{grown / 2**20:.0f} MiB for 0.25 s of audio"
    assert elapsed < 5.0, f"{elapsed:.1f} s for 0.25 s of audio"


OUT_OF_RANGE = [
    ({"plugin": "Gain", "gain_db": 1e6}, "Gain.gain_db=1000000.0", "[-120, 60]"),
    (
        {"plugin": "Gain", "gain_db": 10**400},
        "Gain.gain_db=" + repr(10**400)[:57] + "...",
        "[-120, 60]",
    ),
    (
        {"plugin": "Resample", "target_sample_rate": 1e9},
        "Resample.target_sample_rate=1000000000.0",
        "[1000, 384000]",
    ),
    ({"plugin": "Compressor", "threshold_db": 1e30}, "Compressor.threshold_db=1e+30", "[-120, 24]"),
    ({"plugin": "PeakFilter", "gain_db": -100}, "PeakFilter.gain_db=-100", "[-24, 24]"),
    ({"plugin": "PitchShift", "semitones": -48}, "PitchShift.semitones=-48", "[-36, 36]"),
    ({"plugin": "Delay", "feedback": 1}, "Delay.feedback=1", "[0, 0.99]"),
    ({"plugin": "Bitcrush", "bit_depth": 33}, "Bitcrush.bit_depth=33", "[0, 32]"),
    ({"plugin": "MP3Compressor", "vbr_quality": 10}, "MP3Compressor.vbr_quality=10", "[0, 9.999]"),
    ({"plugin": "Reverb", "room_size": 0.5, "damping": -0.1}, "Reverb.damping=-0.1", "[0, 1]"),
]


@pytest.mark.parametrize(
    ("spec", "setting", "accepted"), OUT_OF_RANGE, ids=[spec["plugin"] for spec, *_ in OUT_OF_RANGE]
)
def test_check_spec_refuses_values_out_of_range(spec, setting, accepted):
    with pytest.raises(PresetError) as caught:
        check_spec(spec, "stems.vocals.chain[0]")
    message = f"stems.vocals.chain[0]: {setting} is out of range (expected {accepted})"
    assert str(caught.value) == message
    with pytest.raises(PresetError, match="is out of range"):
        make_plugin(spec, "stems.vocals.chain[0]")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (0.5, "expected an effect like {plugin: Reverb, room_size: 0.5}, got 0.5"),
        ({"room_size": 0.5}, "missing key 'plugin' (the effect's class name, e.g. Reverb)"),
        ({"plugin": "Reverbb"}, "unknown plugin 'Reverbb' (did you mean Reverb?)"),
        ({"plugin": ["Reverb"]}, "'plugin' must be an effect's class name, got a list"),
        (
            {"plugin": "Delay", "feedbak": 0.2},
            "Delay has no parameter 'feedbak' (did you mean feedback? "
            "its parameters: delay_seconds, feedback, mix)",
        ),
        ({"plugin": "Invert", "mix": 1}, "Invert has no parameter 'mix' (its parameters: none)"),
        (
            {"plugin": "LadderFilter", "mode": "LPF"},
            "LadderFilter.mode must be one of LPF12, HPF12, BPF12, LPF24, HPF24, BPF24, got 'LPF'",
        ),
        (
            {"plugin": "BrickwallLimiter", "true_peak": "yes"},
            "BrickwallLimiter.true_peak must be true or false, got 'yes'",
        ),
        ({"plugin": "Gain", "gain_db": "loud"}, "Gain.gain_db must be a number, got 'loud'"),
        ({"plugin": "Gain", "gain_db": True}, "Gain.gain_db must be a number, got true"),
        (
            {"plugin": "Gain", "gain_db": float("nan")},
            "Gain.gain_db must be a finite number, got nan",
        ),
    ],
    ids=[
        "not_a_mapping",
        "no_plugin",
        "unknown_plugin",
        "plugin_not_a_name",
        "unknown_parameter",
        "no_parameters",
        "not_an_enum_name",
        "not_a_bool",
        "not_a_number",
        "bool_for_a_number",
        "not_finite",
    ],
)
def test_check_spec_explains_a_bad_spec_in_one_line(spec, expected):
    with pytest.raises(PresetError) as caught:
        check_spec(spec, "master[2]")
    assert str(caught.value) == f"master[2]: {expected}"


def test_check_spec_normalises_numbers_and_order():
    spec = {"plugin": "Delay", "mix": 1, "delay_seconds": 0.25}
    assert check_spec(spec, "x") == {"plugin": "Delay", "delay_seconds": 0.25, "mix": 1.0}
    assert list(check_spec(spec, "x")) == ["plugin", "delay_seconds", "mix"]
    assert isinstance(check_spec(spec, "x")["mix"], float)


@pytest.fixture
def constructions(monkeypatch):
    """The names of the built-in plugins constructed while the test runs, in order."""
    built: list[str] = []
    registry = effects._registry()
    for name, plugin_type in list(registry.items()):

        def construct(cls=plugin_type.cls, name=name):
            built.append(name)
            return cls()

        monkeypatch.setitem(registry, name, replace(plugin_type, cls=construct))
    return built


def test_check_spec_never_builds_a_plugin_and_make_plugin_builds_one(constructions):
    specs = [{"plugin": name} for name in plugin_names()]
    specs += [{"plugin": "Reverb", "room_size": 0.4}, {"plugin": "LadderFilter", "mode": "HPF24"}]
    for spec in specs:
        check_spec(spec, "x")
    assert constructions == []
    plugin = make_plugin({"plugin": "LadderFilter", "mode": "HPF24", "cutoff_hz": 900}, "x")
    assert constructions == ["LadderFilter"]
    assert plugin.mode == pedalboard.LadderFilter.Mode.HPF24 and plugin.cutoff_hz == 900


def test_a_setter_that_refuses_a_value_is_still_a_preset_error(monkeypatch):
    reverb = effects._registry()["Reverb"].parameters
    monkeypatch.setitem(reverb, "room_size", replace(reverb["room_size"], range=None))
    with pytest.raises(PresetError) as caught:
        make_plugin({"plugin": "Reverb", "damping": 0.1, "room_size": 2}, "master[0]")
    assert str(caught.value) == (
        "master[0]: Reverb.room_size=2 is out of range "
        "(pedalboard says: Room Size value must be between 0.0 and 1.0.)"
    )


@pytest.mark.parametrize("name", plugin_names())
def test_describe_plugin_round_trips_every_plugin(name):
    spec = describe_plugin(make_plugin({"plugin": name}, "x"))
    assert list(spec) == ["plugin", *parameters(name)]
    assert check_spec(spec, "x") == spec
    rebuilt = make_plugin(spec, "x")
    assert type(rebuilt) is getattr(pedalboard, name)
    assert describe_plugin(rebuilt) == spec
    assert describe_chain(make_chain([spec, spec], "chain")) == [spec, spec]


@pytest.fixture
def vst3(tmp_path):
    (tmp_path / "fx.vst3").write_bytes(b"")
    return tmp_path


def refuse_to_load(path, plugin_name=None):
    raise AssertionError(f"check_spec loaded {path}")


def test_check_spec_never_loads_an_external_plugin(monkeypatch, vst3):
    monkeypatch.setattr(pedalboard, "load_plugin", refuse_to_load)
    spec = {"plugin": EXTERNAL, "path": "fx.vst3", "parameters": {"threshold_db": -12}}
    checked = check_spec(spec, "master[0]", allow_external=True, base_dir=vst3)
    assert checked == {
        "plugin": EXTERNAL,
        "path": str(vst3.resolve() / "fx.vst3"),
        "parameters": {"threshold_db": -12},
    }
    with pytest.raises(PresetError) as caught:
        check_spec(spec, "master[0]", base_dir=vst3)
    assert str(caught.value) == (
        "master[0]: external plugin 'fx.vst3' refused: loading it runs native code from that "
        "file; allow it with --allow-external-plugins (allow_external_plugins=True) if you "
        "trust it"
    )
    with pytest.raises(PresetError) as caught:
        check_spec({**spec, "path": "gone.vst3"}, "m", allow_external=True, base_dir=vst3)
    assert str(caught.value) == (
        f"m.path: external plugin {str(vst3.resolve() / 'gone.vst3')!r} does not exist"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"preset": 1}, "m: unknown key 'preset' for an external plugin (valid keys: plugin, "),
        ({"path": None}, "m: an external plugin needs 'path': its .vst3 or .component file"),
        ({"plugin_name": 3}, "m: plugin_name must be a string, got 3"),
        ({"parameters": [1]}, "m.parameters: expected a mapping, got a list"),
        ({"parameters": {"mix": [1]}}, "m.parameters.mix: expected a number, boolean or string"),
        ({"parameters": {"mix": float("inf")}}, "m.parameters.mix: expected a finite number"),
    ],
)
def test_check_spec_explains_a_bad_external_spec(monkeypatch, vst3, change, expected):
    monkeypatch.setattr(pedalboard, "load_plugin", refuse_to_load)
    spec = {"plugin": EXTERNAL, "path": "fx.vst3", **change}
    with pytest.raises(PresetError) as caught:
        check_spec(spec, "m", allow_external=True, base_dir=vst3)
    assert str(caught.value).startswith(expected)


def test_make_plugin_loads_an_external_plugin_once(monkeypatch, vst3):
    loaded = []

    def load_plugin(path, plugin_name=None):
        loaded.append((path, plugin_name))
        return FakeExternalPlugin()

    monkeypatch.setattr(pedalboard, "load_plugin", load_plugin)
    spec = {
        "plugin": EXTERNAL,
        "path": "fx.vst3",
        "plugin_name": "Comp",
        "parameters": {"threshold_db": -12.0},
    }
    plugin = make_plugin(spec, "master[0]", allow_external=True, base_dir=vst3)
    path = str(vst3.resolve() / "fx.vst3")
    assert loaded == [(path, "Comp")] and plugin.threshold_db == -12.0
    assert describe_plugin(plugin) == {
        "plugin": EXTERNAL,
        "path": path,
        "plugin_name": "Comp",
        "parameters": {"threshold_db": -12.0, "mix": 1.0},
    }
    with pytest.raises(PresetError) as caught:
        make_plugin({**spec, "parameters": {"thresh": 1}}, "m", allow_external=True, base_dir=vst3)
    assert str(caught.value) == (
        "m.parameters: fx.vst3 has no parameter 'thresh' (its parameters: threshold_db, mix)"
    )
    assert len(loaded) == 2


def test_format_value_writes_yaml_words_and_short_reprs():
    assert [format_value(v) for v in (True, False, None, {"a": 1}, [1], (1,), 0.5, "x")] == [
        "true",
        "false",
        "null",
        "a mapping",
        "a list",
        "a list",
        "0.5",
        "'x'",
    ]
    assert format_value("a" * 100) == repr("a" * 100)[:57] + "..."


def test_the_registry_does_not_import_the_preset_code():
    code = (
        "import sys, stemboard.graph.effects; "
        "loaded = [m for m in sys.modules if m.startswith('stemboard.graph.preset')]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
