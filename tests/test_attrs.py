"""Attrs strings (SPEC section 3): grammar, canonical form, errors, round trips."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocks.attrs import explain_attrs, format_attrs, parse_attrs
from blocks.errors import AttrsError, TensorBlocksError
from blocks.library import EXTRACT_GLIMPSE, EXTRACT_GLIMPSE_V2, EXTRACT_IMAGE_PATCHES, INPUT
from blocks.spec import AttrSpec, BlockSpec, TensorInfo

GLIMPSE = EXTRACT_GLIMPSE
DEFAULTS: dict[str, Any] = {
    "centered": True,
    "normalized": True,
    "uniform_noise": True,
    "noise": "uniform",
}
CANONICAL_DEFAULTS = "centered_ = true;normalized_ = true;uniform_noise_ = true;noise_ = uniform;"


def _no_infer(ctx: Any) -> dict[str, TensorInfo]:
    return {}


# A block with a free string attr, to test quoting of arbitrary strings.
FREE = BlockSpec(
    name="Free",
    title="Free",
    category="Test",
    doc="",
    inputs=(),
    outputs=(),
    attrs=(AttrSpec("label", str, "hello"), AttrSpec("flag", bool, False)),
    infer=_no_infer,
    run=lambda ctx: {},
)


@pytest.mark.parametrize(
    ("text", "changes"),
    [
        ("", {}),
        ("   ", {}),
        (";", {}),
        ("centered_ = true;normalized_ = true;uniform_noise_ = true;", {}),
        ("centered_ = false;", {"centered": False}),
        ("centered_ = false", {"centered": False}),
        ("centered = false", {"centered": False}),
        ("  centered_=False ;  normalized =  FALSE  ", {"centered": False, "normalized": False}),
        ("centered_ = 0;normalized_ = 1;", {"centered": False, "normalized": True}),
        ("uniform_noise_ = TRUE;", {"uniform_noise": True}),
        ('centered_ = "false";', {"centered": False}),
        ("noise_ = gaussian;", {"noise": "gaussian"}),
        ('noise_ = "gaussian";', {"noise": "gaussian"}),
        ('noise_ = "";', {"noise": ""}),
        ('noise_="" ', {"noise": ""}),
        ("noise_ = ;", {}),
        ("noise_ =", {}),
        ("centered_ = ;normalized_ = false;", {"normalized": False}),
        ("noise_ = zero;;centered_ = false;;", {"noise": "zero", "centered": False}),
        ("\n centered_ = false;\n noise_ = zero;\n", {"noise": "zero", "centered": False}),
    ],
)
def test_parse_table(text: str, changes: dict[str, Any]) -> None:
    assert parse_attrs(text, GLIMPSE) == {**DEFAULTS, **changes}
    assert parse_attrs(text, EXTRACT_GLIMPSE_V2) == {**DEFAULTS, **changes}


def test_spec_example_attrs_string() -> None:
    values = parse_attrs("centered_ = true;normalized_ = true;uniform_noise_ = true;", GLIMPSE)
    assert values == DEFAULTS
    assert list(values) == ["centered", "normalized", "uniform_noise", "noise"]


def test_canonical_form() -> None:
    assert format_attrs(DEFAULTS, GLIMPSE) == CANONICAL_DEFAULTS
    assert format_attrs({}, GLIMPSE) == CANONICAL_DEFAULTS
    text = format_attrs({"noise": "", "centered": False}, GLIMPSE)
    assert text == 'centered_ = false;normalized_ = true;uniform_noise_ = true;noise_ = "";'
    assert format_attrs({"normalized_": False}, GLIMPSE).startswith(
        "centered_ = true;normalized_ = false;"
    )


def test_canonical_form_is_a_fixed_point() -> None:
    text = format_attrs(parse_attrs(' noise = "zero" ; centered=0', GLIMPSE), GLIMPSE)
    assert text == "centered_ = false;normalized_ = true;uniform_noise_ = true;noise_ = zero;"
    assert format_attrs(parse_attrs(text, GLIMPSE), GLIMPSE) == text


def test_blocks_without_attrs() -> None:
    for spec in (INPUT, EXTRACT_IMAGE_PATCHES):
        assert parse_attrs("", spec) == {}
        assert parse_attrs(" ; ", spec) == {}
        assert format_attrs({}, spec) == ""
        with pytest.raises(AttrsError, match="has no attrs") as info:
            parse_attrs("padding_ = SAME;", spec)
        assert info.value.block == spec.name
        assert info.value.attr == "padding_"


def _error(text: str, spec: BlockSpec = GLIMPSE) -> AttrsError:
    with pytest.raises(AttrsError) as info:
        parse_attrs(text, spec)
    error = info.value
    assert error.block == spec.name
    assert spec.name in str(error)
    return error


def test_unknown_key_did_you_mean() -> None:
    error = _error("normalised_ = true;")
    assert error.attr == "normalised_"
    assert "unknown attr key 'normalised_'" in error.reason
    assert "did you mean 'normalized_'?" in error.reason
    assert "centered_, normalized_, uniform_noise_, noise_" in error.reason
    assert "did you mean 'uniform_noise_'?" in _error("uniformnoise = 1").reason
    assert "did you mean 'centered_'?" in _error("Centered_ = 1").reason
    far = _error("zzz = 1")
    assert "did you mean" not in far.reason


def test_keys_are_case_sensitive() -> None:
    error = _error("NOISE_ = zero")
    assert "unknown attr key 'NOISE_'" in error.reason
    assert "did you mean 'noise_'?" in error.reason


@pytest.mark.parametrize(
    "text",
    [
        "centered_ = true;centered_ = false;",
        "centered = true;centered_ = false;",
        "noise_ = ;noise = zero",
    ],
)
def test_duplicate_keys(text: str) -> None:
    error = _error(text)
    assert "duplicate attr key" in error.reason
    assert error.attr in ("centered", "noise")


@pytest.mark.parametrize(
    ("text", "attr", "fragments"),
    [
        ("centered_ = yes;", "centered", ["centered_", "expected true or false", "found 'yes'"]),
        ("centered_ = 2;", "centered", ["found '2'"]),
        ('centered_ = "";', "centered", ["found the empty string"]),
        (
            "noise_ = Gaussian;",
            "noise",
            [
                "noise_",
                'expected one of uniform, gaussian, zero, ""',
                "found 'Gaussian'",
                "did you mean 'gaussian'?",
            ],
        ),
        ("noise_ = unifrm;", "noise", ["did you mean 'uniform'?"]),
        ('noise_ = "pink";', "noise", ['found "pink"']),
        ('noise_ = "zero" x;', "noise", ["after the closing quote", "'x'"]),
        ('noise_ = ze"ro;', None, ["unterminated quote"]),
        ('noise_ = ab"c";', "noise", ["stray quote"]),
    ],
)
def test_bad_values(text: str, attr: str | None, fragments: list[str]) -> None:
    error = _error(text)
    assert error.attr == attr
    for fragment in fragments:
        assert fragment in error.reason, (fragment, error.reason)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("centered_;", ["expected 'key = value'", "'centered_'", "without '='"]),
        ("centered_ = true;normalized_", ["character 18", "'normalized_'"]),
        ("= true", ["expected a key before '='"]),
        ("centered x = true", ["expected a key like centered_", "'centered x'"]),
        ('noise_ = "zero;', ["unterminated quote", "character 10"]),
    ],
)
def test_syntax_errors(text: str, fragments: list[str]) -> None:
    error = _error(text)
    for fragment in fragments:
        assert fragment in error.reason, (fragment, error.reason)


def test_quoted_strings_keep_semicolons_and_escapes() -> None:
    values = parse_attrs('label_ = "a;b \\"c\\" d\\\\e = f";flag = 1', FREE)
    assert values == {"label": 'a;b "c" d\\e = f', "flag": True}
    text = format_attrs(values, FREE)
    assert text == 'label_ = "a;b \\"c\\" d\\\\e = f";flag_ = true;'
    assert parse_attrs(text, FREE) == values


def test_format_accepts_numpy_bools_and_0_1() -> None:
    import numpy as np

    values: dict[str, Any] = {"centered": np.False_, "normalized": 0, "uniform_noise": 1}
    text = format_attrs(values, GLIMPSE)
    assert text == "centered_ = false;normalized_ = false;uniform_noise_ = true;noise_ = uniform;"
    with pytest.raises(AttrsError, match="expected true or false"):
        format_attrs({"centered": 2}, GLIMPSE)  # type: ignore[dict-item]


def test_format_errors() -> None:
    with pytest.raises(AttrsError, match="did you mean 'noise_'"):
        format_attrs({"nois": "zero"}, GLIMPSE)
    with pytest.raises(AttrsError, match="expected one of"):
        format_attrs({"noise": "pink"}, GLIMPSE)
    with pytest.raises(AttrsError, match="expected true or false"):
        format_attrs({"centered": "yes"}, GLIMPSE)
    with pytest.raises(AttrsError, match="expected a string"):
        format_attrs({"noise": 3}, GLIMPSE)  # type: ignore[dict-item]
    with pytest.raises(AttrsError, match="duplicate"):
        format_attrs({"noise": "zero", "noise_": "zero"}, GLIMPSE)


def test_explain_attrs() -> None:
    text = explain_attrs(GLIMPSE)
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("centered_ (bool, default true)")
    assert 'noise_ (string, default uniform; one of uniform, gaussian, zero, "")' in lines[3]
    assert "has no attrs" in explain_attrs(INPUT)


def test_non_text_is_an_attrs_error() -> None:
    with pytest.raises(AttrsError):
        parse_attrs(None, GLIMPSE)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- properties

_glimpse_values = st.fixed_dictionaries(
    {
        "centered": st.booleans(),
        "normalized": st.booleans(),
        "uniform_noise": st.booleans(),
        "noise": st.sampled_from(["uniform", "gaussian", "zero", ""]),
    }
)


@given(_glimpse_values)
def test_format_then_parse_returns_the_same_dict(values: dict[str, Any]) -> None:
    text = format_attrs(values, GLIMPSE)
    assert parse_attrs(text, GLIMPSE) == values
    assert text.count(";") == 4


@given(st.text(), st.booleans())
def test_free_strings_round_trip(label: str, flag: bool) -> None:
    values: dict[str, Any] = {"label": label, "flag": flag}
    assert parse_attrs(format_attrs(values, FREE), FREE) == values


_PIECES = st.sampled_from(
    ["centered", "noise", "_", "=", ";", '"', "\\", " ", "true", "0", "zero", "x", "\n", ""]
)


@settings(max_examples=300)
@given(st.lists(_PIECES, max_size=20).map("".join) | st.text(max_size=40))
def test_random_text_raises_only_attrs_errors(text: str) -> None:
    for spec in (GLIMPSE, INPUT, FREE):
        try:
            values = parse_attrs(text, spec)
        except AttrsError as error:
            assert error.block == spec.name
            continue
        assert set(values) == {attr.name for attr in spec.attrs}


@settings(max_examples=200)
@given(st.data())
def test_mutated_attrs_raise_only_tensorblocks_errors(data: st.DataObject) -> None:
    base = 'centered_ = false;normalized = 1;noise_ = "";uniform_noise_ = TRUE;'
    position = data.draw(st.integers(0, len(base)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.lists(_PIECES, max_size=3).map("".join))
    text = base[:position] + insert + base[position + cut :]
    with contextlib.suppress(TensorBlocksError):
        parse_attrs(text, GLIMPSE)
