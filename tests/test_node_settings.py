"""The node's settings have one home: every face (the node, a preset, the command line, the batch
planner) refuses a bad value with the words of its one check, located where it was given."""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import pytest

from stemboard import cli
from stemboard.errors import InvalidValueError, PresetError
from stemboard.graph.preset_model import ModelSettings
from stemboard.graph.preset_parse import parse_preset
from stemboard.node import SeparatorNode
from stemboard.node.settings import (
    DEFAULT_MODEL,
    MAX_SHIFTS,
    NodeSettings,
    SettingError,
    StemboardDeprecation,
    fp16_alias,
    settings_from,
)

PACKAGE = Path(__file__).resolve().parents[1] / "stemboard"

# (setting, bad value, what every face says about it)
BAD = [
    ("overlap", 1.0, "expected a fraction in [0, 1), got 1.0"),
    ("device", "gpu", "unknown device 'gpu' (expected one of: auto, cpu, cuda)"),
    ("batch_size", 0, "expected null or an integer >= 1, got 0"),
    ("precision", "fp64", "unknown precision 'fp64'"),
    ("precision", "int8", "int8 is not offered: "),
    ("shifts", MAX_SHIFTS + 1, f"expected an integer from 0 to {MAX_SHIFTS}, got 17"),
    ("seed", -3, "expected an integer >= 0, got -3"),
]


@pytest.mark.parametrize(("key", "value", "problem"), BAD)
def test_the_settings_record_refuses_a_bad_value_by_name(key, value, problem):
    with pytest.raises(SettingError) as caught:
        NodeSettings(**{key: value})
    assert caught.value.where == key and problem in caught.value.problem
    assert str(caught.value).startswith(f"{key}: ")


@pytest.mark.parametrize(("key", "value", "problem"), BAD)
def test_a_preset_says_the_same_at_its_model_key(key, value, problem):
    with pytest.raises(PresetError) as caught:
        parse_preset({"stemboard_preset": 1, "model": {key: value}}, "p.yaml")
    assert str(caught.value).startswith(f"p.yaml: model.{key}: ")
    assert problem in str(caught.value)


@pytest.mark.parametrize(("key", "value", "problem"), BAD)
def test_the_node_says_the_same(identity_model, key, value, problem):
    with pytest.raises(InvalidValueError, match=re.escape(f"{key}: {problem}")):
        SeparatorNode(identity_model, **{key: value})


@pytest.mark.parametrize(
    ("option", "text", "problem"),
    [
        ("--overlap", "1", "expected a fraction in [0, 1), got 1.0"),
        ("--batch-size", "0", "expected null or an integer >= 1, got 0"),
        ("--precision", "int8", "int8 is not offered: "),
        ("--shifts", "17", "expected an integer from 0 to 16, got 17"),
        ("--seed", "-3", "expected an integer >= 0, got -3"),
        ("--seed", "x", "expected an integer >= 0, got 'x'"),
        ("--device", "gpu", "unknown device 'gpu' (expected one of: auto, cpu, cuda)"),
    ],
)
def test_the_command_line_says_the_same_as_a_usage_error(capsys, option, text, problem):
    with pytest.raises(SystemExit) as exited:
        cli.main(["separate", "x.wav", "-o", "out", option, text])
    assert exited.value.code == 2
    assert f"argument {option}: {problem}" in capsys.readouterr().err


def test_each_check_is_written_once():
    """The messages of the checks appear in one module of the package: the settings'."""
    fragments = [
        "expected a fraction in [0, 1)",
        "not offered: quantized",
        "expected null or an integer >= 1",
        "MAX_SHIFTS =",
        "DEFAULT_MODEL =",
        "(deprecated: {spell",
    ]
    sources = {path: path.read_text() for path in PACKAGE.rglob("*.py")}
    for fragment in fragments:
        holders = [path.relative_to(PACKAGE) for path, text in sources.items() if fragment in text]
        assert holders == [Path("node/settings.py")], fragment


def test_overrides_keep_what_is_none_and_are_checked():
    settings = NodeSettings("demo", precision="fp32", shifts=2)
    assert settings.overridden(precision=None, seed=3) == dataclasses.replace(settings, seed=3)
    assert settings.overridden(model="other.onnx").name == "other.onnx"
    with pytest.raises(SettingError, match="shifts"):
        settings.overridden(shifts=-1)
    assert NodeSettings().name == DEFAULT_MODEL
    assert ModelSettings is NodeSettings  # the old name, for one release


def test_plain_data_becomes_settings_with_located_errors():
    assert settings_from({"overlap": 0.5}, "model.").overlap == 0.5
    with pytest.raises(SettingError, match=r"^model\.seed: expected an integer >= 0, got true$"):
        settings_from({"seed": True}, "model.")


@pytest.mark.parametrize(
    ("precision", "fp16", "expected"),
    [(None, False, None), ("bf16", False, "bf16"), (None, True, "fp16"), ("fp16", True, "fp16")],
)
def test_the_fp16_switch_means_fp16(precision, fp16, expected):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fp16_alias(precision, fp16, alias="--fp16", spell="--precision {}") == expected
    assert [w.category for w in caught] == ([StemboardDeprecation] if fp16 else [])


@pytest.mark.parametrize("precision", ["auto", "bf16", "fp32"])
def test_the_fp16_switch_beside_another_precision_is_refused_in_each_spelling(precision):
    spellings = [("--fp16", "--precision {}"), ("fp16=True", "precision={!r}")]
    for alias, spell in spellings:
        with pytest.raises(SettingError) as caught:
            fp16_alias(precision, True, alias=alias, spell=spell)
        assert caught.value.problem == (
            f"{alias} (deprecated: {spell.format('fp16')}) contradicts {spell.format(precision)}"
        )
