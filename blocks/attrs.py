"""enuSpace attrs strings (SPEC section 3): parse, validate against a block, write canonically.

``parse_attrs("centered_ = true;noise_ = zero;", spec)`` returns every attr of the block
(defaults filled in) as ``{"centered": True, ..., "noise": "zero"}``;
``format_attrs(values, spec)`` writes the canonical form ``key_ = value;`` for every attr
in declared order. Errors are :class:`blocks.errors.AttrsError` naming block, key,
what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Mapping

from blocks.spec import AttrValue, BlockSpec


def parse_attrs(text: str, spec: BlockSpec) -> dict[str, AttrValue]:
    """Every attr of ``spec``, from ``text`` or its default."""
    raise NotImplementedError


def format_attrs(values: Mapping[str, AttrValue], spec: BlockSpec) -> str:
    """The canonical attrs string."""
    raise NotImplementedError
