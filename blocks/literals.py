"""Port literals (SPEC section 4): parse typed text into port values and write them back.

``parse_literal(text, kind, dtype=None)`` turns the text typed into an unconnected port
into its value (:data:`blocks.spec.PortValue`); ``format_literal(value, kind)`` writes a
value back so that parsing it returns the same value. ``parse_dtype`` reads ``DT_*`` and
NumPy dtype names; ``dtype_name`` writes the enuSpace ``DT_*`` name. Errors are
:class:`blocks.errors.LiteralError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blocks.spec import PortKind, PortValue


def parse_dtype(text: str) -> np.dtype[Any]:
    """``DT_FLOAT`` or ``float32`` -> ``numpy.dtype('float32')``."""
    raise NotImplementedError


def dtype_name(dtype: np.dtype[Any]) -> str:
    """``numpy.dtype('float32')`` -> ``DT_FLOAT``."""
    raise NotImplementedError


def parse_literal(text: str, kind: PortKind, dtype: str | np.dtype[Any] | None = None) -> PortValue:
    """The value of a literal for a port of ``kind`` (tensor literals cast to ``dtype``)."""
    raise NotImplementedError


def format_literal(value: PortValue, kind: PortKind) -> str:
    """Text that parses back to ``value``."""
    raise NotImplementedError
