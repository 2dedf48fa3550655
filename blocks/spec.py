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

Variadic inputs: a block may declare one group of inputs whose number each node chooses
(:class:`VariadicInput`, e.g. ConcatV2's ``values``). A node of such a block has the ports
``values_0 .. values_{N-1}`` with ``N`` its count (``Node.port_counts``); everything that
lists a node's inputs calls :func:`node_inputs` (or :func:`node_input`), never
``BlockSpec.inputs`` alone, and a shape rule or kernel reads the group's values in order
with :meth:`InferContext.group` / :meth:`RunContext.group`.
"""

from __future__ import annotations

import enum
import math
import threading
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
    STRING port. ``batched`` says that axis 0 of this TENSOR port runs over items: row
    ``i`` of a dataset can feed item ``i`` (images, offsets, boxes); a port whose value
    holds for the whole batch (a size, ksizes, an axis, a shape) leaves it ``False``,
    and a batch run refuses to map a dataset onto it.
    """

    name: str
    kind: PortKind
    doc: str = ""
    required: bool = True
    default: str | None = None
    dtype: str | None = None
    choices: tuple[str, ...] = ()
    batched: bool = False


#: The most ports a variadic group may have on one node (a graph file asking for more is
#: refused): far beyond any hand-wired block, small enough for the canvas to draw.
MAX_VARIADIC_COUNT = 256


@dataclass(frozen=True)
class VariadicInput:
    """A group of inputs whose number each node chooses: ports ``name_0 .. name_{N-1}``.

    ``min_count <= N <= max_count``; a new node gets ``default_count``. Every port of the
    group has ``kind``, ``doc``, ``dtype`` and ``batched`` (see :class:`InputPort`) and is
    required. ``position`` is where the group goes among the block's declared ``inputs``
    (0: before all of them).
    """

    name: str
    kind: PortKind
    doc: str = ""
    min_count: int = 2
    default_count: int = 2
    max_count: int = MAX_VARIADIC_COUNT
    dtype: str | None = None
    position: int = 0
    batched: bool = False

    def port_name(self, index: int) -> str:
        """The name of the group's port number ``index`` (``values_3``)."""
        return f"{self.name}_{index}"

    def port(self, index: int) -> InputPort:
        """The declaration of the group's port number ``index`` (made here only)."""
        return InputPort(self.port_name(index), self.kind, self.doc, dtype=self.dtype,
                         batched=self.batched)

    def index_of(self, port: str) -> int | None:
        """The index of ``port`` in the group (``values_3`` -> 3), or ``None``."""
        head, underscore, digits = port.rpartition("_")
        if head != self.name or not underscore or not digits.isdigit():
            return None
        if digits != str(int(digits)):  # values_01 is not values_1
            return None
        return int(digits)

    def count_problem(self, count: object) -> str | None:
        """Why ``count`` cannot be this group's number of ports, or ``None`` (the one rule
        for the model, the file format and the editor)."""
        if not isinstance(count, int) or isinstance(count, bool):
            return f"expected a whole number of '{self.name}' ports, got {count!r}"
        if not self.min_count <= count <= self.max_count:
            return (f"'{self.name}' takes {self.min_count} to {self.max_count} ports, "
                    f"got {count}")
        return None


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

    @property
    def nbytes(self) -> int | None:
        """Bytes of a tensor of this shape and dtype; ``None`` when not fully known."""
        if not self.known:
            return None
        assert self.shape is not None and self.dtype is not None
        return math.prod(int(d) for d in self.shape if d is not None) * self.dtype.itemsize

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

    # Shape rules read unconnected inputs as unknown; these say so once for all of them.
    def shape(self, port: str) -> tuple[int | None, ...] | None:
        """The shape inference knows for input ``port`` (``None``: unknown or unset)."""
        info = self.inputs.get(port)
        return None if info is None else info.shape

    def dtype(self, port: str) -> np.dtype[Any] | None:
        """The dtype inference knows for input ``port`` (``None``: unknown or unset)."""
        info = self.inputs.get(port)
        return None if info is None else info.dtype

    def value(self, port: str) -> PortValue | None:
        """The literal value of input ``port`` when known before running, else ``None``."""
        info = self.inputs.get(port)
        return None if info is None else info.value

    def passthrough(self, port: str) -> TensorInfo:
        """An output with input ``port``'s shape and dtype (as far as they are known)."""
        return TensorInfo(self.shape(port), self.dtype(port))

    def group(self, name: str) -> list[TensorInfo]:
        """The TensorInfos of variadic group ``name``'s ports, in order."""
        return group_values(self.inputs, name)


@dataclass(frozen=True)
class RunContext:
    """What a kernel adapter sees at run time.

    ``seed`` is the node's own seed (derived by the engine from the run seed and the
    node id) or ``None`` for fresh noise. ``item_offset`` is the global index of batch
    item 0 (a batch run's chunk starts there; a single run at 0): a noisy kernel keys
    item ``b``'s noise by ``(seed, item_offset + b)``, so an item's noise does not depend on
    the chunk it runs in. ``base_dir`` resolves relative paths. ``cancel`` is the run's
    Stop event: kernels that work in pieces check it between pieces and raise
    :class:`~blocks.errors.CancelledError` once it is set.
    """

    inputs: Mapping[str, PortValue]
    attrs: Mapping[str, AttrValue]
    seed: int | None = None
    item_offset: int = 0
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    base_dir: Path | None = None
    cancel: threading.Event | None = None

    def group(self, name: str) -> list[PortValue]:
        """The values of variadic group ``name``'s ports, in order."""
        return group_values(self.inputs, name)


def group_values(inputs: Mapping[str, Any], name: str) -> list[Any]:
    """``inputs["name_0"], inputs["name_1"], ...`` up to the first index not given.

    The group's ports are all required, so by the time a shape rule or a kernel runs every
    port of the node's count is given and this is the whole group, in order.
    """
    values: list[Any] = []
    while (key := f"{name}_{len(values)}") in inputs:
        values.append(inputs[key])
    return values


# ----------------------------------------------------------------------------- result views


class ResultViewKind(enum.Enum):
    """The domain views the results panel knows how to draw (besides Image and Table)."""

    WINDOWS = "windows"  # rectangles over the source image, one per batch item
    PATCHES = "patches"  # depth vectors unfolded into tiles, receptive field on the source


@dataclass(frozen=True)
class Windows:
    """Where a block's windows lie on its source image (:attr:`ResultViewKind.WINDOWS`)."""

    #: Window height and width in image pixels.
    size: tuple[int, int]
    #: Each batch item's window ``(top, left)`` (it may hang over the border), or ``None``
    #: when no image pixel lands in it.
    origins: list[tuple[int, int] | None]
    #: One line: how the windows were placed and what fills their outside part.
    caption: str


@dataclass(frozen=True)
class PatchGrid:
    """How a block's output depth unfolds into patches (:attr:`ResultViewKind.PATCHES`)."""

    #: Taps per patch, ``(kh, kw)``: a depth vector is ``kh*kw*C``, patch row then column.
    kernel: tuple[int, int]
    #: One line: patch size, dilated extent, strides, rates, padding.
    caption: str
    #: ``(out_row, out_col)`` -> the source pixel ``(row, col)`` each tap reads (may lie in
    #: the padding, outside the image).
    taps: Callable[[int, int], list[tuple[int, int]]]


#: (source image shape, resolved input values, attrs) -> where the windows lie.
WindowsRule = Callable[[tuple[int, ...], Mapping[str, Any], Mapping[str, AttrValue]], Windows]
#: (source image shape, resolved input values) -> how the patches unfold.
PatchesRule = Callable[[tuple[int, ...], Mapping[str, Any]], PatchGrid]


@dataclass(frozen=True)
class ResultView:
    """A domain view a block offers for one of its outputs, declared on its BlockSpec.

    The results panel reads this declaration and never names a block: ``kind`` says which
    view draws it, ``output`` which output it explains, ``source`` which input holds the
    image it draws over, and the rule (``windows`` for WINDOWS, ``patches`` for PATCHES,
    built on the kernel module's public functions) computes the geometry. A rule raises a
    TensorBlocksError when the values it needs are missing or bad; the panel shows it.
    """

    kind: ResultViewKind
    title: str
    output: str
    source: str
    windows: WindowsRule | None = None
    patches: PatchesRule | None = None


InferRule = Callable[[InferContext], dict[str, TensorInfo]]
RunRule = Callable[[RunContext], dict[str, np.ndarray]]
CheckRule = Callable[[Mapping[str, bool]], list[tuple[str, str]]]
#: Bytes a step allocates (outputs included) from its InferContext and inferred outputs.
WorkingMemoryRule = Callable[[InferContext, Mapping[str, TensorInfo]], int]


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
    inputs, except DTYPE ones, are then unset for the run. ``working_memory`` says how many
    bytes one run of the block allocates — its outputs plus its temporaries — from what
    inference knows (``None``: the outputs' bytes); the engine reserves them from the
    run's memory budget before calling ``run``. ``result_views`` declares the domain views
    of its outputs (:class:`ResultView`).
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
    working_memory: WorkingMemoryRule | None = None
    color: str = "#5b7fbf"
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: The domain views of its outputs the results panel offers (glimpse windows, patch
    #: mosaics and receptive fields, ...); see :class:`ResultView`.
    result_views: tuple[ResultView, ...] = ()
    #: The distribution that declared the block through a plugin entry point (``None``:
    #: TensorBlocks itself); set by :mod:`blocks.plugins`.
    package: str | None = None
    #: A group of inputs whose number each node chooses (ConcatV2's ``values``); the
    #: node's ports are :func:`node_inputs`.
    variadic: VariadicInput | None = None

    def input(self, name: str) -> InputPort | None:
        """The declared input port called ``name``, or ``None`` (a variadic group's ports
        depend on the node: :func:`node_input`)."""
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

    def result_views_of(self, output: str, kind: ResultViewKind | None = None
                        ) -> list[ResultView]:
        """The declared result views of ``output`` (of ``kind`` only, when given)."""
        return [view for view in self.result_views
                if view.output == output and (kind is None or view.kind is kind)]

    def default_attrs(self) -> dict[str, AttrValue]:
        """Every attr at its default."""
        return {attr.name: attr.default for attr in self.attrs}


# ----------------------------------------------------------------------------- node ports

PortCounts = Mapping[str, int]

_NODE_INPUTS: dict[tuple[int, int], tuple[BlockSpec, tuple[InputPort, ...]]] = {}


def port_count(spec: BlockSpec, port_counts: PortCounts | None) -> int | None:
    """The number of ports of ``spec``'s variadic group on a node with ``port_counts``
    (its ``default_count`` when the node does not say); ``None`` for a block without one."""
    group = spec.variadic
    if group is None:
        return None
    count = (port_counts or {}).get(group.name, group.default_count)
    return count if group.count_problem(count) is None else group.default_count


def port_count_problem(spec: BlockSpec, group: str, count: object) -> str | None:
    """Why a node of ``spec`` cannot have ``count`` ports in group ``group``, or ``None``:
    the one rule the model, the file format and the editor judge port counts by."""
    variadic = spec.variadic
    if variadic is None or variadic.name != group:
        known = f"its variadic group is '{variadic.name}'" if variadic else "it has none"
        return f"{spec.name} has no variadic input group '{group}' ({known})"
    return variadic.count_problem(count)


def node_inputs(spec: BlockSpec, port_counts: PortCounts | None = None) -> tuple[InputPort, ...]:
    """The input ports of one node of ``spec``: its declared inputs, with its variadic
    group (if any) spelled out as ``name_0 .. name_{N-1}`` at the group's position.

    The one function every part of TensorBlocks lists a node's inputs with: validation,
    inference, the engine, the file format, the command line, the canvas and the
    inspector. A count the group does not allow is read as its default (the model and the
    file format refuse such counts before they get here).
    """
    count = port_count(spec, port_counts)
    if count is None:
        return spec.inputs
    key = (id(spec), count)
    hit = _NODE_INPUTS.get(key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    group = spec.variadic
    assert group is not None
    ports = tuple(group.port(index) for index in range(count))
    at = min(max(group.position, 0), len(spec.inputs))
    inputs = (*spec.inputs[:at], *ports, *spec.inputs[at:])
    if len(_NODE_INPUTS) > 4096:
        _NODE_INPUTS.clear()
    _NODE_INPUTS[key] = (spec, inputs)
    return inputs


def node_input(spec: BlockSpec, port_counts: PortCounts | None, name: str) -> InputPort | None:
    """The input ``name`` of one node of ``spec`` (see :func:`node_inputs`), or ``None``."""
    group = spec.variadic
    if group is not None and group.index_of(name) is not None:
        return next((port for port in node_inputs(spec, port_counts) if port.name == name),
                    None)
    return spec.input(name)
