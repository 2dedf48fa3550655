"""Port literals (SPEC section 4): parse typed text into port values and write them back.

``parse_literal(text, kind, dtype=None)`` turns the text typed into an unconnected port
into its value (:data:`blocks.spec.PortValue`); ``format_literal(value, kind)`` writes a
value back so that parsing it returns the same value. ``parse_dtype`` reads ``DT_*`` and
NumPy dtype names; ``dtype_name`` writes the enuSpace ``DT_*`` name. Errors are
:class:`blocks.errors.LiteralError`.

Grammar of a tensor literal (a hand-written tokenizer and recursive-descent parser;
user text is never evaluated):

* scalars: integers ``5``, floats ``-1.5e3``, ``nan``/``inf``/``-inf`` (any case,
  ``infinity`` too, ``-nan`` keeps the sign bit), booleans ``true``/``false`` (also
  ``True``/``TRUE``...), complex numbers ``1+2j``, ``-2.5j``, ``nan-infj``;
* nested lists with ``{}`` (enuSpace) or ``[]`` (NumPy), one bracket style per literal;
  a bare flat list ``1,3,3,1`` is 1-D; nesting deeper than :data:`MAX_RANK` is refused.

Result dtype when ``dtype`` is not given (the product is float32-centric):
booleans only -> ``bool``; integers only -> ``int64`` (``uint64`` when a value only fits
there); any float -> ``float32``; any complex -> ``complex64``; an empty list ->
``float32``. Booleans mixed with numbers are refused unless a dtype is given (then
``true``/``false`` are 1/0). With a ``dtype`` every value must fit: integers in range,
floats integral and finite for integer dtypes, no complex for real dtypes, no finite
value that overflows to infinity, only 0/1/true/false for ``bool``.

``format_literal`` writes enuSpace braces ``{{1,2},{3,4}}``; each float is written in
the shortest form that parses back to the same bits for its dtype (``nan``, ``-nan``,
``inf``, ``-inf``, ``-0.0`` spelled so), so ``parse_literal(format_literal(v), kind,
v.dtype)`` equals ``v`` bit for bit (NaN payloads other than the sign are not kept, and
an empty array whose zero dimension is not the last, e.g. shape ``(0, 3)``, comes back
as shape ``(0,)``).

STRING literals are bare (stripped) or double-quoted with ``\\"`` and ``\\\\`` escapes.
PATH literals are bare (stripped) or wrapped in double quotes taken literally (no
escapes, so Windows back-slashes survive).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from blocks.errors import LiteralError
from blocks.spec import PortKind, PortValue

#: Deepest nesting a tensor literal may have (and so its largest rank).
MAX_RANK = 32
#: Longest single number a literal may contain, in characters.
MAX_NUMBER_CHARS = 400
#: Longest tensor literal text, and longest text of any other literal (a dtype, a path).
MAX_TENSOR_CHARS = 32 * 1024 * 1024
MAX_TEXT_CHARS = 65536
#: Most values a tensor literal may hold; larger data belongs in a .npy file.
MAX_LITERAL_VALUES = 1_000_000
#: Most values of a literal read by the general parser; beyond it only plain decimal
#: numbers in a regular nested list (read by vectorized steps) are accepted.
MAX_GENERAL_VALUES = 100_000

try:  # bfloat16 is optional (SPEC section 1).
    import ml_dtypes

    _BFLOAT16: np.dtype[Any] | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is installed in development
    _BFLOAT16 = None

# ----------------------------------------------------------------------------- dtypes

_DT_NAMES: dict[str, str] = {
    "DT_FLOAT": "float32",
    "DT_DOUBLE": "float64",
    "DT_HALF": "float16",
    "DT_BFLOAT16": "bfloat16",
    "DT_INT8": "int8",
    "DT_INT16": "int16",
    "DT_INT32": "int32",
    "DT_INT64": "int64",
    "DT_UINT8": "uint8",
    "DT_UINT16": "uint16",
    "DT_UINT32": "uint32",
    "DT_UINT64": "uint64",
    "DT_COMPLEX64": "complex64",
    "DT_COMPLEX128": "complex128",
    "DT_BOOL": "bool",
}
_NUMPY_TO_DT = {numpy_name: dt for dt, numpy_name in _DT_NAMES.items()}
# Other spellings people type; each maps to a NumPy name above.
_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "bool_": "bool",
}


def _numpy_dtype(name: str) -> np.dtype[Any] | None:
    if name == "bfloat16":
        return _BFLOAT16
    return np.dtype(name)


def supported_dtypes() -> list[np.dtype[Any]]:
    """Every dtype TensorBlocks knows, in ``DT_*`` order (bfloat16 only with ml_dtypes)."""
    found = [_numpy_dtype(name) for name in _DT_NAMES.values()]
    return [dtype for dtype in found if dtype is not None]


def parse_dtype(text: str) -> np.dtype[Any]:
    """``DT_FLOAT`` or ``float32`` -> ``numpy.dtype('float32')``."""
    if isinstance(text, np.dtype):
        dtype_name(text)  # refuse dtypes TensorBlocks does not know
        return text
    if not isinstance(text, str):
        raise LiteralError(f"expected a dtype name like DT_FLOAT, found {type(text).__name__}")
    name = text.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    if name.startswith(("tf.", "np.")):
        name = name[3:]
    numpy_name = _DT_NAMES.get(name) or _DT_NAMES.get(name.upper()) or _ALIASES.get(name)
    if numpy_name is None and name.lower() in _NUMPY_TO_DT:
        numpy_name = name.lower()
    if numpy_name is not None:
        dtype = _numpy_dtype(numpy_name)
        if dtype is not None:
            return dtype
        raise LiteralError(f"dtype {name} needs the ml_dtypes package, which is not installed")
    known = list(_DT_NAMES) + list(_NUMPY_TO_DT)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) or difflib.get_close_matches(
        name.upper(), list(_DT_NAMES), n=1, cutoff=0.6
    )
    hint = f"; did you mean '{close[0]}'?" if close else ""
    found = f"'{name}'" if name else "nothing"
    raise LiteralError(f"expected a dtype like DT_FLOAT or float32, found {found}{hint}")


def dtype_name(dtype: np.dtype[Any]) -> str:
    """``numpy.dtype('float32')`` -> ``DT_FLOAT``."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise LiteralError(f"expected a dtype, found {dtype!r}") from error
    if _BFLOAT16 is not None and dtype == _BFLOAT16:
        return "DT_BFLOAT16"
    if dtype.kind == "V":
        raise LiteralError(f"dtype {dtype} has no enuSpace name")
    name = _NUMPY_TO_DT.get(dtype.name)
    if name is None or (dtype.byteorder == ">" and dtype.itemsize > 1):
        raise LiteralError(
            f"dtype {dtype} has no enuSpace name (TensorBlocks supports {', '.join(_DT_NAMES)})"
        )
    return name


# ----------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # "{", "}", "[", "]", ",", "atom", "end"
    text: str
    pos: int


_TOKEN_RE = re.compile(r"\s+|([{}\[\],])|([^\s{}\[\],]+)")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _TOKEN_RE.finditer(text):
        delimiter, atom = match.group(1), match.group(2)
        if delimiter is not None:
            tokens.append(_Token(delimiter, delimiter, match.start()))
        elif atom is not None:
            tokens.append(_Token("atom", atom, match.start()))
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _where(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the text"
    return f"'{_short(token.text)}' at character {token.pos + 1}"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- scalars

# Unambiguous (each text matches one way), so matching is linear in the text: the old
# ``\d+\.?\d*`` could split a run of digits n ways, and a long "111...1j" backtracked.
_NUM = r"(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|nan|inf(?:inity)?)"
# re.ASCII: only 0-9 are digits (Python's int() would also take other scripts' digits).
_INT_RE = re.compile(r"[+-]?\d+", re.ASCII)
_FLOAT_RE = re.compile(rf"[+-]?{_NUM}", re.IGNORECASE | re.ASCII)
_COMPLEX_RE = re.compile(
    rf"(?:(?P<re>[+-]?{_NUM})(?P<im>[+-]{_NUM})|(?P<im_only>[+-]?{_NUM}))[jJ]",
    re.IGNORECASE | re.ASCII,
)
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


@dataclass(frozen=True)
class _Scalar:
    """One number as written: ``kind`` is bool/int/float/complex; ``value`` is exact."""

    kind: str
    value: Any  # bool | int | str (float text) | tuple[str, str] (complex parts)
    text: str
    pos: int


def _scalar(token: _Token) -> _Scalar:
    text = token.text
    if text in _TRUE or text in _FALSE:
        return _Scalar("bool", text in _TRUE, text, token.pos)
    if len(text) > MAX_NUMBER_CHARS:
        raise LiteralError(
            f"expected a number, found one of {len(text)} characters at character {token.pos + 1} "
            f"(at most {MAX_NUMBER_CHARS})"
        )
    if _INT_RE.fullmatch(text):
        return _Scalar("int", int(text), text, token.pos)
    if _FLOAT_RE.fullmatch(text):
        return _Scalar("float", text, text, token.pos)
    match = _COMPLEX_RE.fullmatch(text)
    if match:
        if match.group("im_only") is not None:
            parts = ("0.0", match.group("im_only"))
        else:
            parts = (match.group("re"), match.group("im"))
        return _Scalar("complex", parts, text, token.pos)
    if '"' in text:
        raise LiteralError(f"expected a number, found the quoted text {_where(token)}")
    raise LiteralError(f"expected a number, true or false, found {_where(token)}")


# ----------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the tokens; lists are Python lists of lists or _Scalars."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.bracket: str | None = None  # the one bracket style of this literal

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def parse(self) -> Any:
        if self.peek().kind == "end":
            raise LiteralError("expected a value like 5 or {1,2}, found nothing")
        first = self.value(1)
        if self.peek().kind == ",":
            items = [first]
            while self.peek().kind == ",":
                self.take()
                items.append(self.value(1))
            first = items
        token = self.peek()
        if token.kind != "end":
            expected = "',' or the end" if not isinstance(first, list) else "the end"
            raise LiteralError(f"expected {expected}, found {_where(token)}")
        return first

    def value(self, depth: int) -> Any:
        token = self.take()
        if token.kind in ("{", "["):
            if self.bracket is None:
                self.bracket = token.kind
            elif token.kind != self.bracket:
                raise LiteralError(
                    f"mixed brackets: the literal uses '{self.bracket}' but has {_where(token)}"
                )
            if depth > MAX_RANK:
                raise LiteralError(
                    f"nested deeper than {MAX_RANK} levels at character {token.pos + 1}"
                )
            close = "}" if token.kind == "{" else "]"
            items: list[Any] = []
            if self.peek().kind == close:
                self.take()
                return items
            while True:
                items.append(self.value(depth + 1))
                after = self.take()
                if after.kind == close:
                    return items
                if after.kind != ",":
                    if after.kind in ("}", "]"):
                        raise LiteralError(
                            f"mixed brackets: expected '{close}', found {_where(after)}"
                        )
                    raise LiteralError(f"expected ',' or '{close}', found {_where(after)}")
        if token.kind == "atom":
            return _scalar(token)
        raise LiteralError(f"expected a value, found {_where(token)}")


def _shape_of(node: Any) -> tuple[int, ...]:
    if isinstance(node, _Scalar):
        return ()
    if not node:
        return (0,)
    shapes = [_shape_of(child) for child in node]
    first = shapes[0]
    for child, shape in zip(node, shapes, strict=True):
        if shape != first:
            where = f" near character {_first_pos(child) + 1}" if _first_pos(child) >= 0 else ""
            raise LiteralError(
                f"ragged list: expected every element to have shape {_shape_text(first)}, "
                f"found one with shape {_shape_text(shape)}{where}"
            )
    return (len(node), *first)


def _first_pos(node: Any) -> int:
    if isinstance(node, _Scalar):
        return node.pos
    for child in node:
        pos = _first_pos(child)
        if pos >= 0:
            return pos
    return -1


def _shape_text(shape: tuple[int, ...]) -> str:
    return "a scalar" if not shape else "[" + ",".join(str(d) for d in shape) + "]"


def _flatten(node: Any, out: list[_Scalar]) -> None:
    if isinstance(node, _Scalar):
        out.append(node)
    else:
        for child in node:
            _flatten(child, out)


# ----------------------------------------------------------------------------- conversion


def _is_float_dtype(dtype: np.dtype[Any]) -> bool:
    return dtype.kind == "f" or (_BFLOAT16 is not None and dtype == _BFLOAT16)


def _infer_dtype(scalars: list[_Scalar]) -> np.dtype[Any]:
    kinds = {s.kind for s in scalars}
    if not kinds:
        return np.dtype(np.float32)
    if "bool" in kinds and len(kinds) > 1:
        number = next(s for s in scalars if s.kind != "bool")
        boolean = next(s for s in scalars if s.kind == "bool")
        raise LiteralError(
            f"expected all booleans or all numbers, found '{boolean.text}' at character "
            f"{boolean.pos + 1} and '{_short(number.text)}' at character {number.pos + 1} "
            "(set a dtype to convert booleans to 1/0)"
        )
    if kinds == {"bool"}:
        return np.dtype(np.bool_)
    if "complex" in kinds:
        return np.dtype(np.complex64)
    if "float" in kinds:
        return np.dtype(np.float32)
    info = np.iinfo(np.int64)
    if all(info.min <= s.value <= info.max for s in scalars):
        return np.dtype(np.int64)
    return np.dtype(np.uint64)


def _where_scalar(scalar: _Scalar) -> str:
    return f"'{_short(scalar.text)}' at character {scalar.pos + 1}"


def _float_of(text: str, scalar: _Scalar) -> float:
    # float() of a validated number text is a parser, not eval; long texts were refused.
    try:
        return float(text)
    except (ValueError, OverflowError) as error:  # pragma: no cover - regex-validated
        raise LiteralError(f"expected a number, found {_where_scalar(scalar)}") from error


def _to_floats(scalars: list[_Scalar], dtype: np.dtype[Any]) -> np.ndarray:
    values: list[float] = []
    for s in scalars:
        if s.kind == "complex":
            raise LiteralError(f"expected real numbers for {dtype.name}, found {_where_scalar(s)}")
        if s.kind == "bool":
            values.append(1.0 if s.value else 0.0)
        else:
            values.append(_float_of(s.text, s))
    wide = np.array(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = wide.astype(dtype)
    _check_overflow(scalars, wide, out, dtype)
    return out


def _check_overflow(
    scalars: list[_Scalar], wide: np.ndarray, out: np.ndarray, dtype: np.dtype[Any]
) -> None:
    finite_text = [s.kind == "int" or "n" not in s.text.lower() for s in scalars]
    bad = np.isinf(out.astype(np.float64)) & np.array(finite_text, dtype=bool)
    if wide.size and bad.any():
        s = scalars[int(np.argmax(bad))]
        raise LiteralError(
            f"value {_where_scalar(s)} is out of range for {_dtype_label(dtype)} "
            "(it would be infinity)"
        )


def _to_complex(scalars: list[_Scalar], dtype: np.dtype[Any]) -> np.ndarray:
    real: list[float] = []
    imag: list[float] = []
    finite_text: list[bool] = []
    for s in scalars:
        if s.kind == "complex":
            re_text, im_text = s.value
            real.append(_float_of(re_text, s))
            imag.append(_float_of(im_text, s))
            finite_text.append("n" not in s.text.lower())
        elif s.kind == "bool":
            real.append(1.0 if s.value else 0.0)
            imag.append(0.0)
            finite_text.append(True)
        else:
            real.append(_float_of(s.text, s))
            imag.append(0.0)
            finite_text.append(s.kind == "int" or "n" not in s.text.lower())
    part = np.dtype(np.float32) if dtype == np.complex64 else np.dtype(np.float64)
    with np.errstate(over="ignore"):
        real_part = np.array(real, dtype=np.float64).astype(part)
        imag_part = np.array(imag, dtype=np.float64).astype(part)
    bad = (np.isinf(real_part) | np.isinf(imag_part)) & np.array(finite_text, dtype=bool)
    if bad.any():
        s = scalars[int(np.argmax(bad))]
        raise LiteralError(f"value {_where_scalar(s)} is out of range for {dtype.name}")
    out = np.empty(len(scalars), dtype=dtype)
    out.real = real_part
    out.imag = imag_part
    return out


def _to_ints(scalars: list[_Scalar], dtype: np.dtype[Any]) -> np.ndarray:
    info = np.iinfo(dtype)
    values: list[int] = []
    for s in scalars:
        if s.kind == "bool":
            values.append(int(s.value))
            continue
        if s.kind == "complex":
            raise LiteralError(f"expected integers for {dtype.name}, found {_where_scalar(s)}")
        if s.kind == "float":
            number = _float_of(s.text, s)
            if not math.isfinite(number):
                raise LiteralError(
                    f"expected integers for {dtype.name}, found the non-finite {_where_scalar(s)}"
                )
            if not number.is_integer():
                raise LiteralError(
                    f"expected integers for {dtype.name}, found the fraction {_where_scalar(s)}"
                )
            integer = int(number)
        else:
            integer = s.value
        if not info.min <= integer <= info.max:
            raise LiteralError(
                f"value {_where_scalar(s)} is out of range for {dtype.name} "
                f"({info.min}..{info.max})"
            )
        values.append(integer)
    return np.array(values, dtype=dtype)


def _to_bools(scalars: list[_Scalar], dtype: np.dtype[Any]) -> np.ndarray:
    values: list[bool] = []
    for s in scalars:
        if s.kind == "bool":
            values.append(bool(s.value))
        elif s.kind == "int" and s.value in (0, 1):
            values.append(s.value == 1)
        else:
            raise LiteralError(f"expected true, false, 1 or 0 for bool, found {_where_scalar(s)}")
    return np.array(values, dtype=np.bool_)


def _dtype_label(dtype: np.dtype[Any]) -> str:
    return "bfloat16" if _BFLOAT16 is not None and dtype == _BFLOAT16 else dtype.name


def _convert(scalars: list[_Scalar], dtype: np.dtype[Any]) -> np.ndarray:
    if dtype.kind == "b":
        return _to_bools(scalars, dtype)
    if dtype.kind in "iu":
        return _to_ints(scalars, dtype)
    if dtype.kind == "c":
        return _to_complex(scalars, dtype)
    if _is_float_dtype(dtype):
        return _to_floats(scalars, dtype)
    raise LiteralError(f"dtype {dtype} is not supported for tensor literals")


def _check_size(text: str) -> None:
    """Refuse a literal with too many values before reading any of it (linear, in C)."""
    if text.count(",") >= MAX_LITERAL_VALUES:
        raise LiteralError(
            f"the literal holds more than {MAX_LITERAL_VALUES} values; put large data in a "
            ".npy file and read it with an Input block's file port"
        )


def _parse_tensor(text: str, dtype: np.dtype[Any] | None) -> np.ndarray:
    _check_size(text)
    if len(text) > _FAST_MIN_CHARS:
        fast = _fast_tensor(text, dtype)
        if fast is not None:
            return fast
        if text.count(",") >= MAX_GENERAL_VALUES:
            raise LiteralError(
                f"the literal holds more than {MAX_GENERAL_VALUES} values that are not plain "
                "decimal numbers in a regular list (booleans, complex, nan/inf, or a ragged "
                "or malformed list); put large data in a .npy file"
            )
    tree = _Parser(text).parse()
    shape = _shape_of(tree)
    scalars: list[_Scalar] = []
    _flatten(tree, scalars)
    target = _infer_dtype(scalars) if dtype is None else dtype
    return _convert(scalars, target).reshape(shape)


# ----------------------------------------------------------------------------- large literals

#: Literals shorter than this always take the general parser (exact messages).
_FAST_MIN_CHARS = 4096
_DELIMS = re.compile(r"[{}\[\],]")
_NOT_DELIMS = re.compile(r"[^{}\[\],]+")
_SPLIT_ATOMS = re.compile(r"[^\s{}\[\],]\s+[^\s{}\[\],]")
_INT_CHARS = str.maketrans("", "", "0123456789+-,")
_DECIMAL_CHARS = str.maketrans("", "", "0123456789+-.eE,")


def _regular_shape(skeleton: str) -> tuple[int, ...] | None:
    """The shape of a regular nested list from its brackets and commas alone, or None.

    ``skeleton`` is the literal with everything but ``{}[],`` removed. Each level's
    length follows from the one below (n children of length L take n * (L + 1) + 1
    characters), so the candidate shape is read from the first list at each level and
    the whole skeleton is compared with the one that shape would have (string
    operations, linear and in C).
    """
    if not skeleton or skeleton[0] not in "{[":
        if skeleton.strip(","):  # a bare flat list 1,2,3 has commas only
            return None
        return (len(skeleton) + 1,)
    opening = skeleton[0]
    closing = "}" if opening == "{" else "]"
    depth = len(skeleton) - len(skeleton.lstrip(opening))
    if depth > MAX_RANK:
        return None
    rest = skeleton[depth:]
    count = len(rest) - len(rest.lstrip(",")) + 1
    if not rest.startswith("," * (count - 1) + closing):
        return None  # an empty innermost list, or not regular
    dims = [count]
    length = count + 1
    for level in range(depth - 1, 0, -1):
        separators = skeleton[level + length :: length + 1]
        count = len(separators) - len(separators.lstrip(",")) + 1
        dims.append(count)
        length = count * (length + 1) + 1
    shape = tuple(reversed(dims))
    expected = opening + "," * (shape[-1] - 1) + closing
    for count in reversed(shape[:-1]):
        expected = opening + ",".join([expected] * count) + closing
    return shape if expected == skeleton else None


def _fast_tensor(text: str, dtype: np.dtype[Any] | None) -> np.ndarray | None:
    """A large literal of plain decimal numbers in a regular list, read by vectorized
    steps (linear, mostly in C); None when the general parser must read it (it then
    gives the exact message for any mistake). Values are exactly what the general
    parser gives: ``float(text)`` for floats, ``int(text)`` for integers."""
    if not text.isascii() or _SPLIT_ATOMS.search(text):
        return None
    compact = "".join(text.split())
    skeleton = _NOT_DELIMS.sub("", compact)
    shape = _regular_shape(skeleton)
    if shape is None:
        return None
    gaps = _DELIMS.split(compact)
    lengths = np.fromiter(map(len, gaps), dtype=np.int64, count=len(gaps))
    codes = np.frombuffer(skeleton.encode("ascii"), dtype=np.uint8)
    opens_or_commas = np.isin(codes, np.frombuffer(b"{[,", np.uint8))
    closes_or_commas = np.isin(codes, np.frombuffer(b"}],", np.uint8))
    slots = np.zeros(len(gaps), dtype=bool)
    if skeleton[:1] in ("{", "["):
        slots[1:-1] = opens_or_commas[:-1] & closes_or_commas[1:]
    else:  # a bare flat list: every gap holds a value
        slots[:] = True
    if not ((lengths[slots] > 0).all() and (lengths[~slots] == 0).all()):
        return None
    joined = ",".join(gap for gap in gaps if gap)
    parts = joined.split(",")
    if len(parts) != math.prod(shape):
        return None  # pragma: no cover - a regular skeleton with filled slots
    # Only digits, signs, points and exponents: then int() and float() accept exactly
    # what the general parser's number patterns accept (no "nan", "inf", "1_0", "0x1").
    if joined.translate(_INT_CHARS) == "" and (dtype is None or dtype.kind in "iu"):
        try:
            values = np.array(list(map(int, parts)), dtype=np.int64)
        except (ValueError, OverflowError):
            return None
        target = np.dtype(np.int64) if dtype is None else dtype
        if target != values.dtype and values.size:
            info = np.iinfo(target)
            if values.min() < info.min or values.max() > info.max:
                return None
        return values.astype(target).reshape(shape)
    target = np.dtype(np.float32) if dtype is None else dtype
    if not _is_float_dtype(target) or joined.translate(_DECIMAL_CHARS) != "":
        return None
    try:
        wide = np.array(list(map(float, parts)), dtype=np.float64)
    except ValueError:
        return None
    with np.errstate(over="ignore"):
        out = wide.astype(target)
    if not np.isfinite(out.astype(np.float64)).all():
        return None  # an overflow: the general parser names the value
    return out.reshape(shape)


def _parse_int_list(text: str) -> tuple[int, ...]:
    _check_size(text)
    if text.count(",") >= MAX_GENERAL_VALUES:
        raise LiteralError(f"an int list of more than {MAX_GENERAL_VALUES} values is too long")
    tree = _Parser(text).parse()
    shape = _shape_of(tree)
    if len(shape) > 1:
        raise LiteralError(
            f"expected a flat int list like {{1,3,3,1}}, found a nested list of shape "
            f"{_shape_text(shape)}"
        )
    scalars: list[_Scalar] = []
    _flatten(tree, scalars)
    for s in scalars:
        if s.kind != "int":
            raise LiteralError(f"expected integers like {{1,3,3,1}}, found {_where_scalar(s)}")
    info = np.iinfo(np.int64)
    for s in scalars:
        if not info.min <= s.value <= info.max:
            raise LiteralError(f"value {_where_scalar(s)} is out of range for int64")
    return tuple(int(s.value) for s in scalars)


def unquote(text: str, *, after_quote: str = "nothing") -> tuple[str, bool]:
    """The string in ``text`` — a bare word, or double-quoted with backslash escapes — and
    whether it was quoted. Shared by port literals and attrs strings so both read strings
    alike. LiteralError for a stray quote, for text after the closing quote
    (``after_quote`` says what may follow it) and for an unterminated quote."""
    stripped = text.strip()
    if not stripped.startswith('"'):
        if '"' in stripped:
            raise LiteralError(
                "expected a bare word or a double-quoted string, "
                f"found a stray quote in '{_short(stripped)}'"
            )
        return stripped, False
    out: list[str] = []
    i = 1
    while i < len(stripped):
        char = stripped[i]
        if char == "\\" and i + 1 < len(stripped):
            out.append(stripped[i + 1])
            i += 2
            continue
        if char == '"':
            rest = stripped[i + 1 :].strip()
            if rest:
                raise LiteralError(
                    f"expected {after_quote} after the closing quote, found '{_short(rest)}'"
                )
            return "".join(out), True
        out.append(char)
        i += 1
    raise LiteralError(f"unterminated quote: expected a closing '\"', found '{_short(stripped)}'")


def _unquote_string(text: str) -> str:
    return unquote(text)[0]


def _unquote_path(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith('"'):
        if len(stripped) >= 2 and stripped.endswith('"'):
            return stripped[1:-1]
        raise LiteralError(f"unterminated quote in {_short(stripped)}: expected a closing '\"'")
    return stripped


def parse_literal(text: str, kind: PortKind, dtype: str | np.dtype[Any] | None = None) -> PortValue:
    """The value of a literal for a port of ``kind`` (tensor literals cast to ``dtype``)."""
    if not isinstance(text, str):
        raise LiteralError(f"expected literal text, found {type(text).__name__}")
    longest = MAX_TENSOR_CHARS if kind is PortKind.TENSOR else MAX_TEXT_CHARS
    if len(text) > longest:
        more = "; put large data in a .npy file" if kind is PortKind.TENSOR else ""
        raise LiteralError(f"the literal has {len(text)} characters; at most {longest}{more}")
    if kind is PortKind.TENSOR:
        target = (
            None
            if dtype is None
            else parse_dtype(dtype)
            if isinstance(dtype, str)
            else np.dtype(dtype)
        )
        if target is not None:
            dtype_name(target)  # refuse dtypes without an enuSpace name
        return _parse_tensor(text, target)
    if kind is PortKind.INT_LIST:
        return _parse_int_list(text)
    if kind is PortKind.STRING:
        return _unquote_string(text)
    if kind is PortKind.DTYPE:
        return parse_dtype(text)
    if kind is PortKind.PATH:
        return _unquote_path(text)
    raise LiteralError(f"unknown port kind {kind!r}")


# ----------------------------------------------------------------------------- formatting


def _scalar_type(dtype: np.dtype[Any]) -> Any:
    return dtype.type


def _shortest_float(value: Any, dtype: np.dtype[Any]) -> str:
    """Shortest decimal text t with ``float64(float(t)).astype(dtype)`` == value, bit for bit."""
    number = float(value)
    if math.isnan(number):
        return "-nan" if math.copysign(1.0, number) < 0 else "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if dtype == np.float64:
        return _with_point(repr(number))
    target = np.array([value], dtype=dtype).view(np.uint8).tobytes()

    def round_trips(candidate: str) -> bool:
        back = np.array([float(candidate)], dtype=np.float64).astype(dtype)
        return bool(back.view(np.uint8).tobytes() == target)

    if dtype != _BFLOAT16:
        candidate = str(_scalar_type(dtype)(value))
        if round_trips(candidate):
            return _with_point(candidate)
    for digits in range(1, 18):
        candidate = f"{number:.{digits}g}"
        if round_trips(candidate):
            return _with_point(candidate)
    return _with_point(repr(number))  # exact: float(repr(x)) == x and x is representable


def _with_point(text: str) -> str:
    # A float keeps a '.' or exponent so that it reads back as a float without a dtype.
    if _INT_RE.fullmatch(text):
        return text + ".0"
    return text


def _float_texts(values: np.ndarray) -> list[str]:
    """Shortest exact texts for a flat float array (one NumPy round trip checks them all)."""
    dtype = values.dtype
    if dtype == np.float64:
        candidates = [repr(float(v)) for v in values.tolist()]
    elif _BFLOAT16 is not None and dtype == _BFLOAT16:
        # bfloat16 values are float32 values: their shortest float32 text is a good first guess.
        candidates = [str(v) for v in values.astype(np.float32)]
    else:
        candidates = [str(v) for v in values]
    finite = np.isfinite(values.astype(np.float64))
    parsed = np.array(
        [float(c) if ok else 0.0 for c, ok in zip(candidates, finite.tolist(), strict=True)],
        dtype=np.float64,
    )
    with np.errstate(over="ignore"):
        back = parsed.astype(dtype)
    same = back.view(_uint_of(dtype)) == values.view(_uint_of(dtype))
    texts: list[str] = []
    for index, candidate in enumerate(candidates):
        if not finite[index] or not same[index]:
            texts.append(_shortest_float(values[index], dtype))
        else:
            texts.append(_with_point(candidate))
    return texts


def _uint_of(dtype: np.dtype[Any]) -> np.dtype[Any]:
    return np.dtype(f"u{dtype.itemsize}")


def _element_texts(flat: np.ndarray) -> list[str]:
    dtype = flat.dtype
    if dtype.kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if dtype.kind in "iu":
        return [str(v) for v in flat.tolist()]
    if dtype.kind == "c":
        part = np.dtype(np.float32) if dtype == np.complex64 else np.dtype(np.float64)
        real = _float_texts(np.ascontiguousarray(flat.real, dtype=part))
        imag = _float_texts(np.ascontiguousarray(flat.imag, dtype=part))
        return [
            f"{r}{i if i.startswith('-') else '+' + i}j" for r, i in zip(real, imag, strict=True)
        ]
    return _float_texts(np.ascontiguousarray(flat))


def _nest(texts: list[str], shape: tuple[int, ...]) -> str:
    """Brace-nest flat element texts (row-major) into ``shape``."""
    if not shape:
        return texts[0]
    if not texts:
        return _empty_nest(shape)
    rows = texts
    for width in reversed(shape[1:]):
        rows = ["{" + ",".join(rows[i : i + width]) + "}" for i in range(0, len(rows), width)]
    return "{" + ",".join(rows) + "}"


def _empty_nest(shape: tuple[int, ...]) -> str:
    # An empty array: the braces stop at its first zero dim, e.g. {{},{}} for shape (2, 0).
    if not shape or shape[0] == 0:
        return "{}"
    return "{" + ",".join([_empty_nest(shape[1:])] * shape[0]) + "}"


def _format_array(array: np.ndarray) -> str:
    texts = _element_texts(array.reshape(-1))
    return _nest(texts, tuple(array.shape))


def _quote_string(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_.+\-/:]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_literal(value: PortValue, kind: PortKind) -> str:
    """Text that parses back to ``value``."""
    if kind is PortKind.TENSOR:
        array = np.asarray(value)
        dtype_name(array.dtype)  # refuse dtypes without an enuSpace name
        if array.ndim > MAX_RANK:
            raise LiteralError(f"cannot write a tensor of rank {array.ndim} (at most {MAX_RANK})")
        return _format_array(array)
    if kind is PortKind.INT_LIST:
        try:
            items = [int(v) for v in np.asarray(value).reshape(-1)]
        except (TypeError, ValueError) as error:
            raise LiteralError(f"expected an int list, found {value!r}") from error
        return "{" + ",".join(str(v) for v in items) + "}"
    if kind is PortKind.STRING:
        return _quote_string(str(value))
    if kind is PortKind.DTYPE:
        return dtype_name(value if isinstance(value, np.dtype) else parse_dtype(str(value)))
    if kind is PortKind.PATH:
        path = str(value)
        if not path or path != path.strip() or path.startswith('"'):
            return '"' + path + '"'
        return path
    raise LiteralError(f"unknown port kind {kind!r}")


def describe_kind(kind: PortKind, dtype: str | np.dtype[Any] | None = None) -> str:
    """What a literal for such a port looks like, for error messages and tooltips."""
    if kind is PortKind.TENSOR:
        if dtype is None:
            return "a tensor like {{1,2},{3,4}} or a scalar like 5"
        target = parse_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
        label = _dtype_label(target)
        if target.kind == "b":
            return f"a {label} tensor like {{true,false}} or a scalar like true"
        if target.kind in "iu":
            return f"an {label} tensor like {{{{1,2}},{{3,4}}}} or a scalar like 5"
        if target.kind == "c":
            return f"a {label} tensor like {{1+2j,3-4j}} or a scalar like 1.5"
        return f"a {label} tensor like {{{{1.5,2}},{{3,4}}}} or a scalar like 0.5"
    if kind is PortKind.INT_LIST:
        return "an int list like {1,3,3,1}"
    if kind is PortKind.STRING:
        return 'a string like SAME or "SAME"'
    if kind is PortKind.DTYPE:
        return "a dtype like DT_FLOAT or float32"
    if kind is PortKind.PATH:
        return "a file name like images.npy, data.npz:key or photo.png"
    return str(kind)
