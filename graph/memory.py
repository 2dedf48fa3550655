"""The memory budget of a run: one limit for every tensor a run keeps and each step's work.

Contract:

* :func:`parse_memory_size` reads sizes as the command line takes them: ``512M``, ``4G``,
  ``1.5GiB``, ``1000000`` (bytes); binary units (K = 1024).
* :class:`MemoryBudget` counts bytes against one limit. ``reserve(nbytes, what)`` takes
  bytes before they are allocated and raises :class:`~blocks.errors.MemoryLimitError`
  naming ``what`` (node, port, file) and the bytes when they do not fit — nothing is then
  allocated; ``release(nbytes)`` gives bytes back. ``available`` is what is left.
* The engine (:mod:`graph.engine`) reserves, before calling a kernel, the step's working
  memory as the block declares it (its outputs plus scratch, see
  :func:`step_bytes`) on top of every tensor already kept by the run; after the step the
  scratch is released and the outputs stay reserved as kept tensors. So a run's peak
  memory stays within the limit plus the interpreter's own baseline.
* :func:`estimate_run` predicts, from inference alone (no kernel runs, file headers
  only), the bytes a run keeps and its peak; the batch runner sizes its chunks with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blocks.errors import MemoryLimitError, TensorBlocksError
from blocks.spec import DEFAULT_MEMORY_LIMIT, BlockSpec, InferContext, TensorInfo
from graph.infer import Inference, infer
from graph.model import GraphModel
from graph.resolve import Feeds, prepare

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_memory_size(text: str) -> int:
    """Bytes in ``text`` (``512M``, ``4G``, ``1.5GiB``, ``1000000``); TensorBlocksError if not."""
    match = _SIZE.match(text) if len(text) < 64 else None
    if match is None:
        raise TensorBlocksError(
            f"expected a memory size such as 512M or 4G, got '{text[:64]}'"
        )
    number, unit = match.groups()
    nbytes = int(float(number) * _UNITS[unit.upper()])
    if nbytes <= 0:
        raise TensorBlocksError(f"expected a memory size above zero, got '{text}'")
    return nbytes


def format_bytes(nbytes: int) -> str:
    """``nbytes`` for a reader: ``3.00 GiB (3221225472 bytes)``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.2f} {unit} ({nbytes} bytes)"
    return f"{nbytes} bytes"


class MemoryBudget:
    """Bytes reserved against one limit (see the module docstring)."""

    def __init__(self, limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        self.limit = int(limit)
        self.used = 0
        #: The most bytes reserved at once.
        self.peak = 0

    @property
    def available(self) -> int:
        """Bytes that can still be reserved."""
        return max(self.limit - self.used, 0)

    def reserve(self, nbytes: int, what: str, **place: str | None) -> None:
        """Take ``nbytes`` for ``what``; MemoryLimitError (nothing taken) if they do not fit."""
        if nbytes <= 0:
            return
        used = self.used + nbytes
        if used > self.limit:
            kept = f" next to {format_bytes(self.used)} the run holds" if self.used else ""
            raise MemoryLimitError(
                f"{what} needs {format_bytes(nbytes)}{kept}: more than the run's memory limit "
                f"of {format_bytes(self.limit)} (raise it with --memory-limit)",
                **place,
            )
        self.used = used
        if used > self.peak:
            self.peak = used

    def release(self, nbytes: int) -> None:
        """Give back ``nbytes`` reserved earlier."""
        if nbytes > 0:
            self.used = max(self.used - nbytes, 0)


# ----------------------------------------------------------------------------- estimates


def step_bytes(spec: BlockSpec, ctx: InferContext) -> tuple[int, dict[str, TensorInfo]]:
    """Bytes one run of ``spec`` allocates with these inputs, and its inferred outputs.

    Runs the block's shape rule (never its kernel): a shape error or a memory error the
    kernel would raise is raised here, before anything is allocated. Outputs whose size
    inference cannot know count as zero (the kernel checks them against its limit).
    """
    outputs = spec.infer(ctx)
    if spec.working_memory is not None:
        return max(int(spec.working_memory(ctx, outputs)), 0), outputs
    return sum(info.nbytes or 0 for info in outputs.values()), outputs


def array_root(array: np.ndarray) -> object:
    """The object that owns ``array``'s memory (views share their base's)."""
    root: object = array
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    return root


def new_bytes(arrays: Iterable[np.ndarray], counted: set[int]) -> int:
    """Bytes of ``arrays`` whose memory is not in ``counted`` yet (then added to it)."""
    total = 0
    for array in arrays:
        if not isinstance(array, np.ndarray):
            continue
        root = array_root(array)
        key = id(root)
        if key in counted:
            continue
        counted.add(key)
        total += root.nbytes if isinstance(root, np.ndarray) else array.nbytes
    return total


@dataclass
class RunEstimate:
    """What a run of a graph will hold, predicted from inference (see :func:`estimate_run`)."""

    #: Bytes of every tensor the run keeps at its end (outputs and parsed literals).
    kept_bytes: int
    #: The most bytes held at once: tensors kept so far plus the largest step's work.
    peak_bytes: int
    #: Whether every size was known; when not, the figures are lower bounds.
    complete: bool
    #: node -> (step bytes, output bytes).
    nodes: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: The first step that would not fit in the memory limit (what the run would raise).
    problem: MemoryLimitError | None = None


def estimate_run(
    model: GraphModel,
    *,
    base_dir: Path | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    inference: Inference | None = None,
    feeds: Feeds | None = None,
) -> RunEstimate:
    """Predict a run's kept and peak bytes from inference alone (file headers only).

    The batch runner sizes its chunks with it: ``peak_bytes`` of a graph whose inputs hold
    ``n`` items, divided by ``n``, is the bytes per item. ``inference``: one already
    made of ``model`` with the same base_dir, memory_limit and feeds (not made again).
    ``feeds`` (see :func:`graph.resolve.prepare`) gives fed ports a TensorInfo.
    """
    if inference is None:
        inference = infer(model, base_dir=base_dir, memory_limit=memory_limit, feeds=feeds)
    plan = prepare(model, base_dir=base_dir, feeds=feeds)
    complete = not inference.problems
    counted: set[int] = set()
    kept = peak = 0
    budget = MemoryBudget(memory_limit)
    problem: MemoryLimitError | None = None
    nodes: dict[str, tuple[int, int]] = {}
    for node_id in plan.order:
        node = plan.nodes[node_id]
        if node.table is None:
            continue
        spec = node.table.spec
        # As the engine does: a node's parsed literals are kept from its visit on.
        kept += new_bytes(
            [value for value in node.literals.values() if isinstance(value, np.ndarray)], counted
        )
        inputs = {
            port.name: info
            for port in node.table.inputs.values()
            if (info := inference.ports.get(f"{node_id}.{port.name}")) is not None
        }
        outputs = {name: inference.ports.get(f"{node_id}.{name}", TensorInfo(None, None))
                   for name in node.table.outputs}
        out_bytes = sum(info.nbytes or 0 for info in outputs.values())
        complete = complete and all(info.known for info in outputs.values())
        step = out_bytes
        if spec.working_memory is not None and all(info.known for info in outputs.values()):
            try:
                step = spec.working_memory(
                    InferContext(inputs, node.attrs, memory_limit=memory_limit,
                                 base_dir=base_dir),
                    outputs,
                )
            except TensorBlocksError:
                complete = False
        nodes[node_id] = (step, out_bytes)
        if problem is None:
            budget.used = kept
            try:
                budget.reserve(step, "the step", node=node_id, block=node.block)
            except MemoryLimitError as error:
                problem = error
        peak = max(peak, kept + step)
        kept += out_bytes
    return RunEstimate(kept, max(peak, kept), complete, nodes, problem)
