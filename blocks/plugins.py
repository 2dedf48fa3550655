"""Block plugins: installed packages that add blocks through an entry point group.

Contract:

* A plugin is an installed distribution whose metadata declares entry points in the
  group :data:`ENTRY_POINT_GROUP` (``tensorblocks.blocks``), e.g. in its pyproject.toml::

      [project.entry-points."tensorblocks.blocks"]
      blur = "tb_blur.blocks:BLUR"          # a BlockSpec, or a tuple/list of them

  The named module should import from ``blocks.spec`` (and ``blocks.errors``,
  ``blocks.kernels``), not from the ``blocks`` package itself, which is still being set
  up while plugins load.
* :func:`load_plugins` imports exactly the objects the entry points name and returns
  each :class:`~blocks.spec.BlockSpec` with ``package`` set to its distribution's name and
  its category set to that name too (the palette groups blocks by category, so plugin
  blocks are grouped by package; their own category becomes a tag). An entry point that
  fails to import, names something that is not a block declaration, or reuses a block
  name already taken is left out with a one-line problem; a broken plugin never stops
  TensorBlocks.
* Graph files never name code: a file's block names are only looked up among the
  declared blocks. ``TENSORBLOCKS_NO_PLUGINS=1`` turns plugin loading off.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from blocks.spec import BlockSpec

ENTRY_POINT_GROUP = "tensorblocks.blocks"
#: Set to 1 to load no plugins (e.g. to rule a plugin out when something breaks).
DISABLE_VARIABLE = "TENSORBLOCKS_NO_PLUGINS"


@dataclass
class PluginLoad:
    """What loading the plugins gave: the block declarations and the problems."""

    specs: list[BlockSpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Block name -> distribution, for every block a plugin declared.
    packages: dict[str, str] = field(default_factory=dict)


def _declarations(value: Any) -> list[BlockSpec] | None:
    if isinstance(value, BlockSpec):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(
        isinstance(item, BlockSpec) for item in value
    ):
        return list(value)
    return None


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return str(dist.metadata["Name"]) if dist is not None else entry.module.split(".")[0]


def load_plugins(taken: Iterable[str] = ()) -> PluginLoad:
    """Every block the installed plugins declare; ``taken`` are names already used."""
    result = PluginLoad()
    if os.environ.get(DISABLE_VARIABLE, "").strip() not in ("", "0"):
        return result
    names = set(taken)
    entries = sorted(
        metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (_distribution(e), e.name)
    )
    for entry in entries:
        package = _distribution(entry)
        where = f"plugin {package}, entry point '{entry.name} = {entry.value}'"
        try:
            value = entry.load()
        except Exception as error:  # any failure of foreign code is reported, not raised
            result.problems.append(f"{where}: cannot be loaded: {type(error).__name__}: {error}")
            continue
        specs = _declarations(value)
        if specs is None:
            result.problems.append(
                f"{where}: expected a BlockSpec or a list of them, found {type(value).__name__}"
            )
            continue
        for spec in specs:
            if spec.name in names:
                result.problems.append(
                    f"{where}: block '{spec.name}' is left out: that name is already taken"
                )
                continue
            names.add(spec.name)
            result.packages[spec.name] = package
            result.specs.append(
                dataclasses.replace(
                    spec,
                    package=package,
                    category=package,
                    tags=(*spec.tags, spec.category, package),
                )
            )
    return result


def missing_block_reason(block: str, package: str | None) -> str:
    """The one line for a graph's block that no installed package declares."""
    if package:
        return (
            f"unknown block '{block}': it comes from the plugin package '{package}', which "
            f"is not installed (pip install {package})"
        )
    return f"unknown block '{block}'"
