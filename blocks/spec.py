"""How a block is declared: ports, attrs, defaults, shape rule and kernel, once.

A :class:`BlockSpec` is the single declaration of a block. The canvas, the
inspector, the graph file format and the command line read it and nothing else:
port names and kinds, which inputs are required and their default literals,
attrs with their types, defaults and allowed values, the shape-and-dtype
inference rule (which never runs the kernel) and the kernel itself.

Values that flow between blocks:

* at run time a port holds a :data:`PortValue` — an ``numpy.ndarray`` for a
  tensor, a ``tuple[int, ...]`` for an int list, a ``str`` for a string or a
  path, a ``numpy.dtype`` for a dtype;
* during inference a port holds a :class:`TensorInfo`: the shape (dims may be
  ``None`` when unknown), the dtype (``None`` when unknown) and, when the value
  is a literal known before running, the value itself.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: 2 GiB: the default largest output a kernel may allocate.
DEFAULT_MEMORY_LIMIT = 2 * 1024**3


class PortKind(enum.Enum):
    """What a port holds; decides how its literal is parsed and what may be wired to it."""

    TENSOR = "tensor"  # any-rank numpy array
    INT_LIST = "int list"  # e.g. ksizes [1,3,3,1]; a wired 1-D integer tensor is accepted
    STRING = "string"  # e.g. padding SAME; never wired
    DTYPE = "dtype"  # e.g. DT_FLOAT; never wired
    PATH = "path"  # a file name, relative to the graph file; never wired

    @property
    def wirable(self) -> bool:
        """Whether a wire (always carrying a tensor) may feed a port of this kind."""
        return self in (PortKind.TENSOR, PortKind.INT_LIST)


@dataclass(frozen=True)
class InputPort:
    """An input port of a block.

    ``default`` is a literal string used when the port has neither wire nor literal;
    ``dtype`` is the dtype a tensor literal is converted to (``None``: inferred from
    the literal, or from the block's ``dtype`` port for Input); ``choices`` restricts a
    STRING port.
    """

    name: str
    kind: PortKind
    doc: str = ""
    required: bool = True
    default: str | None = None
    dtype: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputPort:
    """An output port; it always carries a tensor."""

    name: str
    doc: str = ""


@dataclass(frozen=True)
class AttrSpec:
    """An attr of a block, written ``name_ = value;`` in an attrs string.

    ``type`` is ``bool`` or ``str``. ``choices`` restricts a string attr (the empty
    string may be one of them).
    """

    name: str
    type: type
    default: bool | str
    doc: str = ""
    choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The canonical key in an attrs string: the name with a trailing underscore."""
        return self.name + "_"


AttrValue = bool | str
PortValue = Any  # np.ndarray | tuple[int, ...] | str | np.dtype


@dataclass(frozen=True)
class TensorInfo:
    """What inference knows of a tensor: shape (``None`` dims unknown), dtype, maybe the value."""

    shape: tuple[int | None, ...] | None
    dtype: np.dtype[Any] | None
    value: PortValue | None = None

    @property
    def known(self) -> bool:
        """Whether shape and dtype are fully known."""
        return (
            self.shape is not None
            and all(d is not None for d in self.shape)
            and self.dtype is not None
        )

    def describe(self) -> str:
        """Short text for a wire label, e.g. ``[1,64,64,3] float32``."""
        if self.shape is None:
            shape = "[?]"
        else:
            shape = "[" + ",".join("?" if d is None else str(d) for d in self.shape) + "]"
        dtype = "?" if self.dtype is None else _dtype_name(self.dtype)
        return f"{shape} {dtype}"


def _dtype_name(dtype: np.dtype[Any]) -> str:
    return str(dtype.name)


@dataclass(frozen=True)
class InferContext:
    """What a shape rule sees: each connected or literal input as a TensorInfo, and the attrs."""

    inputs: Mapping[str, TensorInfo]
    attrs: Mapping[str, AttrValue]
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    base_dir: Path | None = None


@dataclass(frozen=True)
class RunContext:
    """What a kernel adapter sees at run time.

    ``seed`` is the node's own seed (derived by the engine from the run seed and the
    node id) or ``None`` for fresh noise. ``item_offset`` is the global index of batch
    item 0 (a batch run's chunk starts there; a single run at 0): a noisy kernel keys
    item ``b``'s noise by ``(seed, item_offset + b)``, so an item's noise does not depend on
    the chunk it runs in. ``base_dir`` resolves relative paths.
    """

    inputs: Mapping[str, PortValue]
    attrs: Mapping[str, AttrValue]
    seed: int | None = None
    item_offset: int = 0
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    base_dir: Path | None = None


InferRule = Callable[[InferContext], dict[str, TensorInfo]]
RunRule = Callable[[RunContext], dict[str, np.ndarray]]
CheckRule = Callable[[Mapping[str, bool]], list[tuple[str, str]]]


@dataclass(frozen=True)
class BlockSpec:
    """The one declaration of a block.

    ``infer`` computes every output's TensorInfo without running the kernel and raises
    the same :class:`~blocks.errors.TensorBlocksError` the kernel would where it can be
    known early. ``run`` executes. ``check_inputs`` receives, for each input port, whether
    it is set (wire or literal) and returns ``(port, reason)`` problems beyond
    "required but missing" (e.g. Input's "exactly one of initvalues or file").
    ``noisy`` marks blocks whose output depends on the seed. ``item_source`` names the
    input that a batch run feeds item by item when a dataset is mapped onto the node
    itself (``--map NODE=SOURCE``): Input's ``initvalues``. The node's other unwired
    inputs, except DTYPE ones, are then unset for the run.
    """

    name: str
    title: str
    category: str
    doc: str
    inputs: tuple[InputPort, ...]
    outputs: tuple[OutputPort, ...]
    attrs: tuple[AttrSpec, ...]
    infer: InferRule
    run: RunRule
    check_inputs: CheckRule | None = None
    noisy: bool = False
    reads_files: bool = False
    item_source: str | None = None
    color: str = "#5b7fbf"
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: The distribution that declared the block through a plugin entry point (``None``:
    #: TensorBlocks itself); set by :mod:`blocks.plugins`.
    package: str | None = None

    def input(self, name: str) -> InputPort | None:
        """The input port called ``name``, or ``None``."""
        for port in self.inputs:
            if port.name == name:
                return port
        return None

    def output(self, name: str) -> OutputPort | None:
        """The output port called ``name``, or ``None``."""
        for port in self.outputs:
            if port.name == name:
                return port
        return None

    def attr(self, name: str) -> AttrSpec | None:
        """The attr called ``name`` (with or without the trailing underscore), or ``None``."""
        bare = name[:-1] if name.endswith("_") else name
        for attr in self.attrs:
            if attr.name == bare:
                return attr
        return None

    def default_attrs(self) -> dict[str, AttrValue]:
        """Every attr at its default."""
        return {attr.name: attr.default for attr in self.attrs}
