"""Port literals (SPEC section 4): parsing tables, error messages, exact round trips."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from blocks.errors import LiteralError, TensorBlocksError
from blocks.literals import (
    MAX_RANK,
    describe_kind,
    dtype_name,
    format_literal,
    parse_dtype,
    parse_literal,
    supported_dtypes,
)
from blocks.spec import PortKind

TENSOR, INT_LIST, STRING, DTYPE, PATH = (
    PortKind.TENSOR,
    PortKind.INT_LIST,
    PortKind.STRING,
    PortKind.DTYPE,
    PortKind.PATH,
)
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


def bits(array: np.ndarray) -> bytes:
    """The raw bytes of an array, NaNs canonicalised but their sign kept."""
    array = np.ascontiguousarray(array)
    if array.dtype.kind == "c":
        part = np.float32 if array.dtype == np.complex64 else np.float64
        return bits(array.real.astype(part)) + bits(array.imag.astype(part))
    if array.dtype.kind == "f" or array.dtype == BFLOAT16:
        wide = array.astype(np.float64)
        nan = np.isnan(wide)
        canonical = np.where(nan, np.copysign(np.nan, np.where(np.signbit(wide), -1.0, 1.0)), wide)
        return canonical.astype(array.dtype).tobytes() + np.signbit(wide).tobytes()
    return array.tobytes()


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DT_FLOAT", np.float32),
        ("DT_DOUBLE", np.float64),
        ("DT_HALF", np.float16),
        ("DT_BFLOAT16", BFLOAT16),
        ("DT_INT8", np.int8),
        ("DT_INT16", np.int16),
        ("DT_INT32", np.int32),
        ("DT_INT64", np.int64),
        ("DT_UINT8", np.uint8),
        ("DT_UINT16", np.uint16),
        ("DT_UINT32", np.uint32),
        ("DT_UINT64", np.uint64),
        ("DT_COMPLEX64", np.complex64),
        ("DT_COMPLEX128", np.complex128),
        ("DT_BOOL", np.bool_),
        ("float32", np.float32),
        ("float64", np.float64),
        ("int64", np.int64),
        ("uint8", np.uint8),
        ("bool", np.bool_),
        ("bfloat16", BFLOAT16),
        ("  DT_FLOAT  ", np.float32),
        ('"DT_INT32"', np.int32),
        ("tf.float32", np.float32),
        ("dt_float", np.float32),
        ("Float32", np.float32),
        ("double", np.float64),
        ("half", np.float16),
    ],
)
def test_parse_dtype_table(text: str, expected: Any) -> None:
    assert parse_dtype(text) == np.dtype(expected)
    assert parse_literal(text, DTYPE) == np.dtype(expected)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("DT_FLAOT", "DT_FLOAT"),
        ("flaot32", "float32"),
        ("DT_INT3", "DT_INT32"),
        ("", None),
        ("O", None),
    ],
)
def test_parse_dtype_unknown_names_did_you_mean(text: str, hint: str | None) -> None:
    with pytest.raises(LiteralError) as info:
        parse_dtype(text)
    message = str(info.value)
    assert "expected a dtype like DT_FLOAT" in message
    if hint:
        assert f"did you mean '{hint}'?" in message
    else:
        assert "did you mean" not in message


def test_parse_dtype_never_hands_text_to_numpy() -> None:
    # NumPy would accept these and make object/string arrays.
    for text in ("object", "O", "U10", "S3", "datetime64", "float128", "f4"):
        with pytest.raises(LiteralError):
            parse_dtype(text)


def test_dtype_name_round_trip_for_every_supported_dtype() -> None:
    dtypes = supported_dtypes()
    assert len(dtypes) == 15
    for dtype in dtypes:
        name = dtype_name(dtype)
        assert name.startswith("DT_")
        assert parse_dtype(name) == dtype
        assert format_literal(dtype, DTYPE) == name


def test_dtype_name_refuses_unknown_dtypes() -> None:
    for dtype in (np.dtype(object), np.dtype("U3"), np.dtype(">f4"), np.dtype("V4")):
        with pytest.raises(LiteralError, match="no enuSpace name"):
            dtype_name(dtype)


# ----------------------------------------------------------------------------- tensors


@pytest.mark.parametrize(
    ("text", "dtype", "shape", "values"),
    [
        ("5", np.int64, (), 5),
        ("-1.5e3", np.float32, (), -1500.0),
        ("true", np.bool_, (), True),
        ("False", np.bool_, (), False),
        ("TRUE", np.bool_, (), True),
        ("inf", np.float32, (), math.inf),
        ("-inf", np.float32, (), -math.inf),
        ("Infinity", np.float32, (), math.inf),
        ("{{1,2},{3,4}}", np.int64, (2, 2), [[1, 2], [3, 4]]),
        ("[[1,2],[3,4]]", np.int64, (2, 2), [[1, 2], [3, 4]]),
        ("1,3,3,1", np.int64, (4,), [1, 3, 3, 1]),
        ("{ 1 , 2.5 }", np.float32, (2,), [1.0, 2.5]),
        ("{{0,0}}", np.int64, (1, 2), [[0, 0]]),
        ("{8,8}", np.int64, (2,), [8, 8]),
        ("{}", np.float32, (0,), []),
        ("{{},{}}", np.float32, (2, 0), [[], []]),
        ("{true,false}", np.bool_, (2,), [True, False]),
        ("1+2j", np.complex64, (), 1 + 2j),
        ("{1, -2.5j, 3e1-1j}", np.complex64, (3,), [1, -2.5j, 30 - 1j]),
        (".5", np.float32, (), 0.5),
        ("1.", np.float32, (), 1.0),
        ("9223372036854775807", np.int64, (), 2**63 - 1),
        ("18446744073709551615", np.uint64, (), 2**64 - 1),
        ("\n{1,\t2}\n", np.int64, (2,), [1, 2]),
        ("{1,2},{3,4}", np.int64, (2, 2), [[1, 2], [3, 4]]),
    ],
)
def test_tensor_literal_table(text: str, dtype: Any, shape: tuple[int, ...], values: Any) -> None:
    value = parse_literal(text, TENSOR)
    assert isinstance(value, np.ndarray)
    assert value.dtype == np.dtype(dtype)
    assert value.shape == shape
    np.testing.assert_array_equal(value, np.array(values, dtype=dtype).reshape(shape))


def test_nan_literals() -> None:
    assert np.isnan(parse_literal("nan", TENSOR))
    assert np.isnan(parse_literal("NaN", TENSOR, "float64"))
    negative = parse_literal("-nan", TENSOR)
    assert np.isnan(negative) and np.signbit(negative)
    assert not np.signbit(parse_literal("nan", TENSOR))


def test_negative_zero_is_kept() -> None:
    assert np.signbit(parse_literal("-0.0", TENSOR))
    assert np.signbit(parse_literal("-0", TENSOR, "float32"))
    assert not np.signbit(parse_literal("0", TENSOR, "float64"))


@pytest.mark.parametrize(
    ("text", "dtype", "expected"),
    [
        ("{1,2}", "float32", np.array([1, 2], np.float32)),
        ("{1.0, 2e0}", "DT_INT32", np.array([1, 2], np.int32)),
        ("255", np.uint8, np.array(255, np.uint8)),
        ("-128", "int8", np.array(-128, np.int8)),
        ("{1,0,true}", "bool", np.array([True, False, True])),
        ("{true,2}", "int32", np.array([1, 2], np.int32)),
        ("{1, 2+3j}", "complex128", np.array([1, 2 + 3j], np.complex128)),
        ("0.1", "float64", np.array(0.1, np.float64)),
        ("0.1", "float16", np.array(0.1, np.float16)),
        ("0.1", "bfloat16", np.array(0.1, BFLOAT16)),
        ("65504", "float16", np.array(65504, np.float16)),
        ("{{1,2}}", "int16", np.array([[1, 2]], np.int16)),
    ],
)
def test_tensor_literal_with_dtype(text: str, dtype: Any, expected: np.ndarray) -> None:
    value = parse_literal(text, TENSOR, dtype)
    assert value.dtype == expected.dtype
    assert bits(value) == bits(expected)
    assert value.shape == expected.shape


@pytest.mark.parametrize(
    ("text", "dtype", "fragments"),
    [
        ("", None, ["expected a value", "found nothing"]),
        ("   ", None, ["found nothing"]),
        ("{1,2]", None, ["mixed brackets", "']'", "character 5"]),
        ("[{1,2}]", None, ["mixed brackets", "'{'"]),
        ("{{1,2},{3}}", None, ["ragged", "[2]", "[1]"]),
        ("{{1},2}", None, ["ragged"]),
        ("{1,,2}", None, ["expected a value", "','", "character 4"]),
        ("{1,2,}", None, ["expected a value", "'}'"]),
        ("{1 2}", None, ["expected ',' or '}'", "'2'"]),
        ("{1,2", None, ["expected ',' or '}'", "the end of the text"]),
        ("1,2}", None, ["expected the end", "'}'"]),
        ("abc", None, ["expected a number", "'abc'", "character 1"]),
        ("{1, 2x}", None, ["expected a number", "'2x'", "character 5"]),
        ("\u0663", None, ["expected a number"]),  # an Arabic-Indic digit
        ("1_000", None, ["expected a number"]),
        ("0x10", None, ["expected a number"]),
        ("j", None, ["expected a number"]),
        ("(1+2j)", None, ["expected a number"]),
        ("1..2", None, ["'1..2'"]),
        ('"5"', None, ["quoted"]),
        ("{true,1}", None, ["all booleans or all numbers", "'true'", "'1'"]),
        ("300", "uint8", ["out of range for uint8", "'300'", "0..255"]),
        ("-1", "uint32", ["out of range for uint32"]),
        ("1.5", "int32", ["expected integers for int32", "fraction", "'1.5'"]),
        ("nan", "int64", ["non-finite", "'nan'"]),
        ("inf", "int8", ["non-finite"]),
        ("2", "bool", ["expected true, false, 1 or 0 for bool", "'2'"]),
        ("0.5", "bool", ["for bool"]),
        ("1+2j", "float32", ["expected real numbers for float32", "'1+2j'"]),
        ("1+2j", "int32", ["expected integers for int32"]),
        ("1e39", "float32", ["out of range for float32", "infinity"]),
        ("1e39", None, ["out of range for float32"]),
        ("70000", "float16", ["out of range for float16"]),
        ("1e400", "float64", ["out of range for float64"]),
        ("1e39+1j", "complex64", ["out of range for complex64"]),
        ("99999999999999999999999", None, ["out of range"]),
        ("-9223372036854775809", None, ["out of range"]),
        ("1" * 500, None, ["500 characters"]),
        ("{" * 40 + "1" + "}" * 40, None, [f"deeper than {MAX_RANK}"]),
        ("{1,2}", "float128", ["expected a dtype"]),
    ],
)
def test_tensor_literal_errors(text: str, dtype: Any, fragments: list[str]) -> None:
    with pytest.raises(LiteralError) as info:
        parse_literal(text, TENSOR, dtype)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_nesting_up_to_max_rank_is_fine() -> None:
    value = parse_literal("{" * MAX_RANK + "7" + "}" * MAX_RANK, TENSOR)
    assert value.shape == (1,) * MAX_RANK
    with pytest.raises(LiteralError):
        parse_literal("{" * (MAX_RANK + 1) + "7" + "}" * (MAX_RANK + 1), TENSOR)


def test_very_deep_nesting_is_a_literal_error_not_recursion_error() -> None:
    with pytest.raises(LiteralError):
        parse_literal("[" * 100_000, TENSOR)
    with pytest.raises(LiteralError):
        parse_literal("{" * 100_000 + "}" * 100_000, INT_LIST)


# ----------------------------------------------------------------------------- other kinds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{1,3,3,1}", (1, 3, 3, 1)),
        ("[1,3,3,1]", (1, 3, 3, 1)),
        ("1,3,3,1", (1, 3, 3, 1)),
        (" 1, 2 ", (1, 2)),
        ("5", (5,)),
        ("-2", (-2,)),
        ("{}", ()),
    ],
)
def test_int_list_table(text: str, expected: tuple[int, ...]) -> None:
    value = parse_literal(text, INT_LIST)
    assert value == expected
    assert all(type(v) is int for v in value)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("{{1,2},{3,4}}", ["flat int list", "[2,2]"]),
        ("{1.5,2}", ["expected integers", "'1.5'"]),
        ("{1.0,2}", ["expected integers", "'1.0'"]),
        ("{true}", ["expected integers"]),
        ("{1,2]", ["mixed brackets"]),
        ("", ["found nothing"]),
        ("SAME", ["expected a number"]),
        ("99999999999999999999", ["out of range for int64"]),
    ],
)
def test_int_list_errors(text: str, fragments: list[str]) -> None:
    with pytest.raises(LiteralError) as info:
        parse_literal(text, INT_LIST)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SAME", "SAME"),
        ('"SAME"', "SAME"),
        ("  VALID ", "VALID"),
        ('""', ""),
        ('"a \\"b\\" c"', 'a "b" c'),
        ('"back\\\\slash"', "back\\slash"),
        ('" padded "', " padded "),
        ("two words", "two words"),
    ],
)
def test_string_table(text: str, expected: str) -> None:
    assert parse_literal(text, STRING) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('"SAME', "unterminated quote"),
        ('"a" b', "after the closing quote"),
        ('SA"ME', "stray quote"),
    ],
)
def test_string_errors(text: str, fragment: str) -> None:
    with pytest.raises(LiteralError, match=fragment):
        parse_literal(text, STRING)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("images.npy", "images.npy"),
        ("  data/x.npz:key  ", "data/x.npz:key"),
        ('"my images/a.png"', "my images/a.png"),
        ('"C:\\data\\a.npy"', "C:\\data\\a.npy"),
        ("C:\\data\\a.npy", "C:\\data\\a.npy"),
        ('" lead.npy"', " lead.npy"),
    ],
)
def test_path_table(text: str, expected: str) -> None:
    assert parse_literal(text, PATH) == expected


def test_path_unterminated_quote() -> None:
    with pytest.raises(LiteralError, match="unterminated quote"):
        parse_literal('"a.npy', PATH)


def test_non_text_is_a_literal_error() -> None:
    with pytest.raises(LiteralError, match="expected literal text"):
        parse_literal(5, TENSOR)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (np.array([[1, 2], [3, 4]]), TENSOR, "{{1,2},{3,4}}"),
        (np.array(5, np.int32), TENSOR, "5"),
        (np.array([True, False]), TENSOR, "{true,false}"),
        (
            np.array([0.1, -0.0, np.nan, np.inf, -np.inf], np.float32),
            TENSOR,
            "{0.1,-0.0,nan,inf,-inf}",
        ),
        (np.array([1.0, 2.5]), TENSOR, "{1.0,2.5}"),
        (np.array([1 + 2j]), TENSOR, "{1.0+2.0j}"),
        (np.zeros((2, 0)), TENSOR, "{{},{}}"),
        ((1, 3, 3, 1), INT_LIST, "{1,3,3,1}"),
        (np.array([1, 2], np.int32), INT_LIST, "{1,2}"),
        ("SAME", STRING, "SAME"),
        ("", STRING, '""'),
        ('a "b"', STRING, '"a \\"b\\""'),
        (np.dtype(np.float32), DTYPE, "DT_FLOAT"),
        ("images.npy", PATH, "images.npy"),
        (" lead.npy", PATH, '" lead.npy"'),
        ("", PATH, '""'),
    ],
)
def test_format_table(value: Any, kind: PortKind, text: str) -> None:
    assert format_literal(value, kind) == text


def test_format_float32_is_short_and_exact() -> None:
    value = np.array([0.1, 1 / 3, 16777216.0, 1e-45, 3.4028235e38], np.float32)
    text = format_literal(value, TENSOR)
    assert text == "{0.1,0.33333334,1.6777216e+07,1e-45,3.4028235e+38}"
    assert bits(parse_literal(text, TENSOR)) == bits(value)


def test_format_bfloat16_is_exact() -> None:
    value = np.array([0.1, 3.0, -1e30], dtype=BFLOAT16)
    text = format_literal(value, TENSOR)
    assert bits(parse_literal(text, TENSOR, BFLOAT16)) == bits(value)
    assert len(text) < 40


def test_format_refuses_unsupported_values() -> None:
    with pytest.raises(LiteralError):
        format_literal(np.array(["a"]), TENSOR)
    with pytest.raises(LiteralError):
        format_literal(["x"], INT_LIST)


@pytest.mark.parametrize(
    ("kind", "dtype", "fragment"),
    [
        (INT_LIST, None, "{1,3,3,1}"),
        (TENSOR, None, "{{1,2},{3,4}}"),
        (TENSOR, "int32", "int32 tensor"),
        (TENSOR, np.dtype(np.float32), "float32 tensor"),
        (TENSOR, "DT_BFLOAT16", "bfloat16 tensor"),
        (TENSOR, "bool", "true"),
        (TENSOR, "complex64", "1+2j"),
        (STRING, None, "SAME"),
        (DTYPE, None, "DT_FLOAT"),
        (PATH, None, ".npy"),
    ],
)
def test_describe_kind(kind: PortKind, dtype: Any, fragment: str) -> None:
    assert fragment in describe_kind(kind, dtype)


# ----------------------------------------------------------------------------- properties


def _arrays_of(dtype: np.dtype[Any]) -> st.SearchStrategy[np.ndarray]:
    # A zero dim is only representable as the last dim: {} and {{},{}}.
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4) | st.sampled_from(
        [(0,), (3, 0), (1, 2, 0)]
    )
    if dtype == BFLOAT16:
        return hnp.arrays(np.float32, shapes, elements=st.floats(width=32)).map(
            lambda a: a.astype(BFLOAT16)
        )
    if dtype.kind == "c":
        elements = (
            st.complex_numbers(width=64)
            if dtype == np.complex64
            else st.complex_numbers(width=128, allow_subnormal=True)
        )
        return hnp.arrays(dtype, shapes, elements=elements)
    return hnp.arrays(dtype, shapes)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), dtype=st.sampled_from(supported_dtypes()))
def test_format_then_parse_is_bit_exact(data: st.DataObject, dtype: np.dtype[Any]) -> None:
    value = data.draw(_arrays_of(dtype))
    text = format_literal(value, TENSOR)
    back = parse_literal(text, TENSOR, dtype)
    assert back.dtype == value.dtype
    assert back.shape == value.shape
    assert bits(back) == bits(value), text


@given(
    st.lists(
        st.floats(width=32) | st.sampled_from([-0.0, math.nan, -math.nan, math.inf, 1e-45]),
        max_size=8,
    )
)
def test_float32_lists_round_trip_without_dtype(values: list[float]) -> None:
    # Formatted floats keep a '.', so they read back as float32 with no dtype given.
    array = np.array(values, dtype=np.float32)
    back = parse_literal(format_literal(array, TENSOR), TENSOR)
    assert back.dtype == np.float32
    assert bits(back) == bits(array)


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=8))
def test_int64_lists_round_trip_without_dtype(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    assert bits(parse_literal(format_literal(array, TENSOR), TENSOR)) == bits(array)
    assert parse_literal(format_literal(tuple(values), INT_LIST), INT_LIST) == tuple(values)


@given(st.text())
def test_strings_and_paths_round_trip(value: str) -> None:
    assert parse_literal(format_literal(value, STRING), STRING) == value
    assert parse_literal(format_literal(value, PATH), PATH) == value


_PIECES = st.sampled_from([*list('{}[],0123456789.eE+-jJ naifty"\\\t'), "nan", "inf", "true"])
_LITERALISH = st.lists(_PIECES, max_size=30).map("".join)


@settings(max_examples=300)
@given(_LITERALISH | st.text(max_size=40), st.sampled_from(list(PortKind)))
def test_random_text_raises_only_literal_errors(text: str, kind: PortKind) -> None:
    for dtype in (None, "int8", "float16", "bool", "complex64"):
        with contextlib.suppress(LiteralError):
            parse_literal(text, kind, dtype if kind is TENSOR else None)


@settings(max_examples=200)
@given(st.data(), st.sampled_from(["{{1,2},{3,4}}", "{1.5,-2e3,nan}", "{true,false}", "{1+2j,3}"]))
def test_mutated_literals_raise_only_tensorblocks_errors(
    data: st.DataObject, seed_text: str
) -> None:
    position = data.draw(st.integers(0, len(seed_text)))
    insert = data.draw(st.lists(_PIECES, max_size=3).map("".join))
    cut = data.draw(st.integers(0, 2))
    text = seed_text[:position] + insert + seed_text[position + cut :]
    for dtype in (None, "uint8", "float32", "bool", "complex128", "bfloat16"):
        try:
            value = parse_literal(text, TENSOR, dtype)
        except TensorBlocksError:
            continue
        assert isinstance(value, np.ndarray)


def test_every_declared_default_literal_parses_and_round_trips() -> None:
    from blocks.library import REGISTRY

    checked = 0
    for spec in REGISTRY.values():
        for port in spec.inputs:
            if port.default is None:
                continue
            value = parse_literal(port.default, port.kind, port.dtype)
            if port.choices:
                assert value in port.choices
            text = format_literal(value, port.kind)
            again = parse_literal(text, port.kind, port.dtype)
            if isinstance(value, np.ndarray):
                assert bits(again) == bits(value)
            else:
                assert again == value
            checked += 1
    assert checked >= 5  # dtype, ksizes, strides, rates, padding


def test_spec_graph_file_example_literals() -> None:
    assert parse_literal("{8,8}", TENSOR, "int32").tolist() == [8, 8]
    offsets = parse_literal("{{0,0}}", TENSOR, "float32")
    assert offsets.shape == (1, 2) and offsets.dtype == np.float32
    assert parse_literal("DT_FLOAT", DTYPE) == np.float32
    assert parse_literal("images.npy", PATH) == "images.npy"
