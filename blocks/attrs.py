"""enuSpace attrs strings (SPEC section 3): parse, validate against a block, write canonically.

``parse_attrs("centered_ = true;noise_ = zero;", spec)`` returns every attr of the block
(defaults filled in) as ``{"centered": True, ..., "noise": "zero"}``;
``format_attrs(values, spec)`` writes the canonical form ``key_ = value;`` for every attr
in declared order. Errors are :class:`blocks.errors.AttrsError` naming block, key,
what was expected and what was found.

Grammar: pairs ``key = value`` separated by ``;`` (the last ``;`` optional, empty pairs
ignored), white space around keys and values ignored. Keys are attr names with or
without the trailing underscore, case-sensitive; giving one attr twice (also as
``centered`` and ``centered_``) is an error. Booleans: ``true``/``false``,
``True``/``False``, ``TRUE``/``FALSE``, ``1``/``0`` (also inside double quotes).
Strings: bare, or in double quotes with ``\\"`` and ``\\\\`` escapes (a ``;`` inside
quotes is part of the string). ``key = ;`` means the default; ``key = "";`` is the
empty string. String attrs with choices accept only those.

Canonical form (what :func:`format_attrs` writes and a saved file round-trips):
``centered_ = true;normalized_ = true;uniform_noise_ = true;noise_ = uniform;`` —
``key_ = value;`` per attr, no space between pairs; booleans ``true``/``false``;
strings bare when they are a plain word (letters, digits, ``_ . + - / :``), otherwise
double-quoted with escapes (the empty string as ``""``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

import numpy as np

from blocks.errors import AttrsError, LiteralError
from blocks.literals import unquote
from blocks.spec import AttrSpec, AttrValue, BlockSpec

_TRUE = {"true", "True", "TRUE", "1"}
_FALSE = {"false", "False", "FALSE", "0"}
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_WORD_RE = re.compile(r"[A-Za-z0-9_.+\-/:]+")


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _split_pairs(text: str, block: str) -> list[tuple[str, int]]:
    """The ``;``-separated pieces of ``text`` (``;`` inside quotes kept) with start offsets."""
    pieces: list[tuple[str, int]] = []
    start, i, n = 0, 0, len(text)
    in_quote = False
    quote_start = 0
    while i < n:
        char = text[i]
        if in_quote:
            if char == "\\":
                i += 2
                continue
            if char == '"':
                in_quote = False
        elif char == '"':
            in_quote = True
            quote_start = i
        elif char == ";":
            pieces.append((text[start:i], start))
            start = i + 1
        i += 1
    if in_quote:
        raise AttrsError(
            f"unterminated quote at character {quote_start + 1}: expected a closing '\"', "
            f"found the end of the text after '{_short(text[quote_start:])}'",
            block=block,
        )
    pieces.append((text[start:], start))
    return pieces


def _split_pair(piece: str, offset: int, block: str) -> tuple[str, str, int]:
    """``key``, raw ``value`` text and the value's offset, for one ``key = value`` piece."""
    in_quote = False
    i = 0
    while i < len(piece):
        char = piece[i]
        if in_quote and char == "\\":
            i += 2
            continue
        if char == '"':
            in_quote = not in_quote
        elif char == "=" and not in_quote:
            return piece[:i].strip(), piece[i + 1 :], offset + i + 1
        i += 1
    raise AttrsError(
        f"expected 'key = value' at character {offset + 1}, found '{_short(piece.strip())}' "
        "without '='",
        block=block,
    )


def _unquote(raw: str, block: str, attr: str) -> tuple[str, bool]:
    """The string value of ``raw`` and whether it was quoted."""
    try:
        return unquote(raw, after_quote="';'")
    except LiteralError as error:
        raise AttrsError(error.reason, block=block, attr=attr) from None


def _unknown_key(key: str, spec: BlockSpec) -> AttrsError:
    if not spec.attrs:
        return AttrsError(
            f"unknown attr key '{key}': block {spec.name} has no attrs", block=spec.name, attr=key
        )
    keys = [attr.key for attr in spec.attrs]
    candidates = keys + [attr.name for attr in spec.attrs]
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(
            key.lower(), [c.lower() for c in candidates], n=1, cutoff=0.6
        )
        if close:
            close = [next(c for c in candidates if c.lower() == close[0])]
    hint = ""
    if close:
        suggestion = spec.attr(close[0])
        hint = f"; did you mean '{suggestion.key if suggestion else close[0]}'?"
    return AttrsError(
        f"unknown attr key '{key}' (expected one of {', '.join(keys)}){hint}",
        block=spec.name,
        attr=key,
    )


def _describe_expected(attr: AttrSpec) -> str:
    if attr.type is bool:
        return "true or false"
    if attr.choices:
        return "one of " + ", ".join(_format_string(c) for c in attr.choices)
    return "a string"


def _value_of(attr: AttrSpec, raw: str, block: str) -> AttrValue:
    text, quoted = _unquote(raw, block, attr.name)
    shown = _quoted(_short(text)) if quoted else f"'{_short(text)}'"
    if attr.type is bool:
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        found = "the empty string" if quoted and not text else shown
        raise AttrsError(
            f"{attr.key}: expected true or false (also True/False, TRUE/FALSE, 1/0), found {found}",
            block=block,
            attr=attr.name,
        )
    if attr.choices and text not in attr.choices:
        close = [c for c in attr.choices if c and c.lower() == text.lower()]
        close = close or difflib.get_close_matches(
            text, [c for c in attr.choices if c], n=1, cutoff=0.6
        )
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise AttrsError(
            f"{attr.key}: expected {_describe_expected(attr)}, found {shown}{hint}",
            block=block,
            attr=attr.name,
        )
    return text


#: Longest attrs string read (a block has a handful of attrs; a longer text is an attack).
MAX_ATTRS_CHARS = 65536


def parse_attrs(text: str, spec: BlockSpec) -> dict[str, AttrValue]:
    """Every attr of ``spec``, from ``text`` or its default."""
    if not isinstance(text, str):
        raise AttrsError(f"expected an attrs string, found {type(text).__name__}", block=spec.name)
    if len(text) > MAX_ATTRS_CHARS:
        raise AttrsError(
            f"the attrs string has {len(text)} characters; at most {MAX_ATTRS_CHARS}",
            block=spec.name,
        )
    values = spec.default_attrs()
    seen: dict[str, str] = {}
    for piece, offset in _split_pairs(text, spec.name):
        if not piece.strip():
            continue
        key, raw, _ = _split_pair(piece, offset, spec.name)
        if not key:
            raise AttrsError(
                f"expected a key before '=' at character {offset + 1}, found nothing",
                block=spec.name,
            )
        if not _KEY_RE.fullmatch(key):
            raise AttrsError(
                f"expected a key like {spec.attrs[0].key if spec.attrs else 'name_'}, "
                f"found '{_short(key)}'",
                block=spec.name,
                attr=key,
            )
        attr = spec.attr(key)
        if attr is None:
            raise _unknown_key(key, spec)
        if attr.name in seen:
            raise AttrsError(
                f"duplicate attr key '{key}': '{attr.name}' was already given "
                f"as '{seen[attr.name]}'",
                block=spec.name,
                attr=attr.name,
            )
        seen[attr.name] = key
        if raw.strip():
            values[attr.name] = _value_of(attr, raw, spec.name)
    return values


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_string(value: str) -> str:
    if _PLAIN_WORD_RE.fullmatch(value):
        return value
    return _quoted(value)


def format_attrs(values: Mapping[str, AttrValue], spec: BlockSpec) -> str:
    """The canonical attrs string."""
    given: dict[str, AttrValue] = {}
    for key, value in values.items():
        attr = spec.attr(key)
        if attr is None:
            raise _unknown_key(key, spec)
        if attr.name in given:
            raise AttrsError(f"duplicate attr key '{key}'", block=spec.name, attr=attr.name)
        given[attr.name] = value
    parts: list[str] = []
    for attr in spec.attrs:
        value = given.get(attr.name, attr.default)
        if isinstance(value, np.bool_):  # a NumPy bool from a form or a file
            value = bool(value)
        if attr.type is bool:
            if not isinstance(value, bool | int) or (
                isinstance(value, int) and value not in (0, 1)
            ):
                raise AttrsError(
                    f"{attr.key}: expected true or false, found {value!r}",
                    block=spec.name,
                    attr=attr.name,
                )
            written = "true" if value else "false"
        else:
            if not isinstance(value, str):
                raise AttrsError(
                    f"{attr.key}: expected a string, found {value!r}",
                    block=spec.name,
                    attr=attr.name,
                )
            if attr.choices and value not in attr.choices:
                raise AttrsError(
                    f"{attr.key}: expected {_describe_expected(attr)}, "
                    f"found {_format_string(value)}",
                    block=spec.name,
                    attr=attr.name,
                )
            written = _format_string(value)
        parts.append(f"{attr.key} = {written};")
    return "".join(parts)


def explain_attrs(spec: BlockSpec) -> str:
    """One line per attr (key, type, default, choices, doc), for help texts."""
    if not spec.attrs:
        return f"{spec.name} has no attrs."
    lines: list[str] = []
    for attr in spec.attrs:
        if attr.type is bool:
            kind, default = "bool", "true" if attr.default else "false"
        else:
            kind, default = "string", _format_string(str(attr.default))
        line = f"{attr.key} ({kind}, default {default}"
        if attr.choices:
            line += "; one of " + ", ".join(_format_string(c) for c in attr.choices)
        line += ")"
        if attr.doc:
            line += f": {attr.doc}"
        lines.append(line)
    return "\n".join(lines)
