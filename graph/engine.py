"""The execution engine: validate, then run every node in topological order, with a cache.

Contract (:class:`Engine`):

* ``run(model)`` validates first (:mod:`graph.validate`), then executes. A node with a
  validation problem is ``"failed"`` with that problem; a node depending on a failed,
  skipped or cancelled node is ``"skipped"`` with a :class:`~blocks.errors.NodeFailedError`
  naming the failed upstream node; independent branches still run. A run never raises for a
  bad graph or a failing kernel: a kernel's TensorBlocksError gets node/block set, and any
  other exception (a bug) becomes "internal error in <block>: <type>: <msg>".
* Inputs resolve as: wire (the upstream output array; an INT_LIST port converts a 1-D
  integer tensor to ``tuple[int, ...]``) > literal > the port's default literal > absent.
  Literals are parsed with the port's kind and dtype (an Input's ``initvalues`` take the
  dtype of its ``dtype`` port); parse results are memoized by (text, kind, dtype).
* Cache: each node has a signature — block, canonical attrs, the literal texts in effect,
  the file signature of every PATH input of a ``reads_files`` block, the node's seed for a
  ``noisy`` block, and the signatures of the nodes wired into it. A node whose signature
  matches the cached one is ``"cached"`` and its kernel is not called, so after an edit
  only the edited node and what lies downstream run again. A noisy node without a run
  seed is never cached (fresh noise is wanted), nor is anything downstream of it. The
  cache keeps the latest outputs per node id; a renamed node finds its outputs by
  signature; entries of nodes no longer in the model are evicted after each run.
* Memory: one :class:`~graph.memory.MemoryBudget` of ``memory_limit`` bytes per run
  counts the parsed literals, every output the run keeps (arrays sharing memory count
  once) and, before each kernel call, the step's working memory as its block declares it
  (:func:`graph.memory.step_bytes`: the shape rule, never the kernel). A step that does
  not fit fails with a MemoryLimitError naming node, block and bytes before anything is
  allocated; the kernel gets ``RunContext.memory_limit`` = its reservation plus what is
  left, and an Input judges its file at the moment of reading against it. A
  ``MemoryError`` still raised (the machine has less free memory than the budget) fails
  the node cleanly. A node's previous outputs are dropped from the cache before it runs.
* Output arrays are made read-only: they are shared by the cache, the report and the
  kernels downstream. The report's ``inputs`` are those same objects, not copies.
* ``seed``: each noisy node gets ``node_seed(seed, node_id)``; the same run seed gives the
  same noise, ``None`` gives fresh noise. ``item_offset`` (default 0) is the global index
  of the batch's item 0, passed to kernels as ``RunContext.item_offset`` so noise is keyed
  per item (a batch run's chunk, or a single run previewing item i); it is part of a
  noisy node's signature.
* ``feeds`` (node -> {port: array or None}) replaces literals for this run, as
  :func:`graph.resolve.prepare` describes; a node with a fed port is never a cache hit.
* ``progress`` receives :class:`NodeStarted` / :class:`NodeFinished` for every node that
  is visited; ``cancel`` is checked before each node starts, and kernels that work in
  pieces check it between pieces (``RunContext.cancel``, raising CancelledError): when
  set, the running node and the rest are ``"cancelled"`` and ``report.cancelled`` is true.
* ``targets``: node ids (or ``node.port`` addresses) to compute; only they and their
  upstream nodes are visited. ``None``: every node.
* ``run`` reads the model once, at the start; a caller that edits the model from another
  thread while a run starts should pass ``model.copy()``. Runs of one Engine are
  serialized by a lock.

``node_seed(run_seed, node_id)`` is the first 8 bytes of BLAKE2b over
``"<run_seed>:<node_id>"`` (UTF-8), little-endian, masked to 63 bits — stable across
processes and platforms.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from blocks.errors import (
    CancelledError,
    GraphError,
    MemoryLimitError,
    NodeFailedError,
    TensorBlocksError,
)
from blocks.input_files import file_signature
from blocks.spec import (
    DEFAULT_MEMORY_LIMIT,
    AttrValue,
    InferContext,
    PortKind,
    PortValue,
    RunContext,
    TensorInfo,
)
from graph.infer import literal_info
from graph.memory import MemoryBudget, new_bytes, step_bytes
from graph.model import GraphModel
from graph.resolve import Feeds, NodePlan, Plan, int_list_from_tensor, prepare

NodeStatus = Literal["ran", "cached", "failed", "skipped", "cancelled"]

_SEED_MASK = (1 << 63) - 1


def node_seed(run_seed: int, node_id: str) -> int:
    """The seed of node ``node_id`` in a run seeded with ``run_seed`` (see the module docstring)."""
    digest = hashlib.blake2b(f"{run_seed}:{node_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _SEED_MASK


@dataclass
class NodeReport:
    """What happened to one node."""

    node: str
    block: str
    status: NodeStatus
    seconds: float
    error: TensorBlocksError | None = None
    #: The resolved values passed to the kernel (the same objects, not copies).
    inputs: dict[str, PortValue] = field(default_factory=dict)
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class RunReport:
    """What a run produced."""

    #: ``"node.port"`` -> array for every output produced (ran or cached).
    results: dict[str, np.ndarray]
    #: Every visited node, in execution order.
    nodes: dict[str, NodeReport]
    #: Validation problems, then node failures (not the skips they cause).
    problems: list[TensorBlocksError]
    cancelled: bool
    seconds: float
    #: The most bytes the run's memory budget held at once (kept tensors + a step's work).
    peak_bytes: int = 0

    @property
    def ok(self) -> bool:
        """Whether every node ran (or was cached) without problem and nothing was cancelled."""
        return not self.problems and not self.cancelled

    def statuses(self) -> dict[str, NodeStatus]:
        """``node -> status``, in execution order."""
        return {node_id: report.status for node_id, report in self.nodes.items()}

    def with_status(self, status: NodeStatus) -> list[str]:
        """The nodes that ended with ``status``, in execution order."""
        return [node_id for node_id, report in self.nodes.items() if report.status == status]


@dataclass(frozen=True)
class NodeStarted:
    """A node is about to run (``index`` counts from 0 in execution order)."""

    node: str
    index: int
    total: int

    @property
    def fraction(self) -> float:
        """The share of the run done before this node."""
        return self.index / self.total if self.total else 1.0


@dataclass(frozen=True)
class NodeFinished:
    """A node is done."""

    node: str
    status: NodeStatus
    seconds: float
    index: int
    total: int

    @property
    def fraction(self) -> float:
        """The share of the run done, this node included."""
        return (self.index + 1) / self.total if self.total else 1.0


ProgressEvent = NodeStarted | NodeFinished

_Outputs = dict[str, np.ndarray]


class Engine:
    """Runs graphs and caches node outputs between runs (see the module docstring)."""

    def __init__(self, *, memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        self.memory_limit = memory_limit
        #: node id -> (signature, outputs) of its latest successful run.
        self._cache: dict[str, tuple[str, _Outputs]] = {}
        #: signature -> outputs, for nodes that were renamed.
        self._by_signature: dict[str, _Outputs] = {}
        self._lock = threading.Lock()
        # Unseeded noisy nodes get a signature that never repeats.
        self._fresh = itertools.count()
        #: The global index of batch item 0 in the current run (RunContext.item_offset).
        self._item_offset = 0
        #: The current run's Stop event, passed to kernels (RunContext.cancel).
        self._cancel: threading.Event | None = None
        #: What the shape rule sees -> the bytes a step allocates (see _step_need).
        self._step_memo: dict[tuple[Any, ...], int] = {}

    def clear_cache(self) -> None:
        """Forget every cached output."""
        with self._lock:
            self._cache.clear()
            self._by_signature.clear()

    def cached_nodes(self) -> set[str]:
        """The node ids that have cached outputs."""
        return set(self._cache)

    def run(
        self,
        model: GraphModel,
        *,
        base_dir: Path | None = None,
        seed: int | None = None,
        progress: Callable[[ProgressEvent], None] | None = None,
        cancel: threading.Event | None = None,
        targets: Iterable[str] | None = None,
        item_offset: int = 0,
        feeds: Feeds | None = None,
    ) -> RunReport:
        """Validate and execute ``model`` (see the module docstring)."""
        with self._lock:
            self._item_offset = item_offset
            self._cancel = cancel
            return self._run(model, base_dir, seed, progress, cancel, targets, feeds)

    # ------------------------------------------------------------------ internals

    def _run(
        self,
        model: GraphModel,
        base_dir: Path | None,
        seed: int | None,
        progress: Callable[[ProgressEvent], None] | None,
        cancel: threading.Event | None,
        targets: Iterable[str] | None,
        feeds: Feeds | None,
    ) -> RunReport:
        started = time.perf_counter()
        plan = prepare(model, base_dir=base_dir, feeds=feeds)
        order, problems = _select(plan, targets)

        total = len(order)
        reports: dict[str, NodeReport] = {}
        results: dict[str, np.ndarray] = {}
        produced: dict[str, _Outputs] = {}  # node -> outputs, for nodes that ran or were cached
        signatures: dict[str, str] = {}
        #: node -> the failed node that stops it (itself when it failed).
        failed_root: dict[str, str] = {}
        cancelled = False
        perf_counter = time.perf_counter
        # One budget for the whole run: parsed literals, every output kept, each step's work.
        budget = MemoryBudget(self.memory_limit)
        counted: set[int] = set()

        for index, node_id in enumerate(order):
            node = plan.nodes[node_id]
            if cancelled or (cancel is not None and cancel.is_set()):
                cancelled = True
                reports[node_id] = NodeReport(node_id, node.block, "cancelled", 0.0)
                failed_root[node_id] = node_id
                continue
            if progress is not None:
                progress(NodeStarted(node_id, index, total))
            t0 = perf_counter()
            report = self._visit(
                node, base_dir, seed, budget, counted, produced, signatures, failed_root, reports,
            )
            report.seconds = perf_counter() - t0
            reports[node_id] = report
            if report.status == "cancelled":  # Stop landed inside the kernel
                cancelled = True
                failed_root[node_id] = node_id
            elif report.status == "failed":
                failed_root[node_id] = node_id
                if report.error is not None and not node.problems:
                    problems.append(report.error)
            elif report.status == "skipped":
                pass
            else:
                produced[node_id] = report.outputs
                for port_name, array in report.outputs.items():
                    results[f"{node_id}.{port_name}"] = array
            if progress is not None:
                progress(NodeFinished(node_id, report.status, report.seconds, index, total))

        self._evict(plan.nodes)
        return RunReport(
            results, reports, problems, cancelled, perf_counter() - started, budget.peak
        )

    def _visit(
        self,
        node: NodePlan,
        base_dir: Path | None,
        run_seed: int | None,
        budget: MemoryBudget,
        counted: set[int],
        produced: dict[str, _Outputs],
        signatures: dict[str, str],
        failed_root: dict[str, str],
        reports: dict[str, NodeReport],
    ) -> NodeReport:
        node_id, block, table = node.id, node.block, node.table
        if node.problems or table is None:
            error = node.problems[0] if node.problems else None
            return NodeReport(node_id, block, "failed", 0.0, error)
        for source in node.sources:
            root = failed_root.get(source)
            if root is not None:
                failed_root[node_id] = root
                how = "was cancelled" if reports[root].status == "cancelled" else "failed"
                return NodeReport(
                    node_id, block, "skipped", 0.0,
                    NodeFailedError(
                        f"not run: upstream node '{root}' {how}", node=node_id, block=block
                    ),
                )

        spec = table.spec
        # Resolve inputs: wire > literal (or default); literals are parsed already.
        inputs: dict[str, PortValue] = dict(node.literals)
        upstream: list[str] = []
        try:
            for port_name, src in node.wires.items():
                array = produced[src.node][src.port]
                if table.inputs[port_name].kind is PortKind.INT_LIST:
                    try:
                        inputs[port_name] = int_list_from_tensor(array)
                    except TensorBlocksError as error:
                        raise error.at(port=port_name) from None
                else:
                    inputs[port_name] = array
                upstream.append(f"{port_name}<{signatures[src.node]}.{src.port}")
            seed = None
            if spec.noisy and run_seed is not None:
                seed = node_seed(run_seed, node_id)
            signature = self._signature(node, base_dir, seed, upstream)
        except TensorBlocksError as error:
            return NodeReport(
                node_id, block, "failed", 0.0, error.at(node=node_id, block=block),
                inputs, node.attrs,
            )
        signatures[node_id] = signature
        literal_arrays = [v for v in node.literals.values() if isinstance(v, np.ndarray)]
        if literal_arrays:
            try:
                self._keep(literal_arrays, budget, counted, node_id, block, "its typed values")
            except TensorBlocksError as error:
                return NodeReport(node_id, block, "failed", 0.0, error, inputs, node.attrs)

        hit = self._cache.get(node_id)
        outputs: _Outputs | None
        if hit is not None and hit[0] == signature:
            outputs = hit[1]
        else:
            outputs = self._by_signature.get(signature)  # a renamed node, or a twin
        if outputs is not None:
            try:
                self._keep(list(outputs.values()), budget, counted, node_id, block)
            except TensorBlocksError as error:
                return NodeReport(node_id, block, "failed", 0.0, error, inputs, node.attrs)
            self._cache[node_id] = (signature, outputs)
            return NodeReport(node_id, block, "cached", 0.0, None, inputs, node.attrs, outputs)

        # The previous outputs of this node are about to be replaced: let them go now, so
        # they are not held (uncounted) next to the new ones.
        old = self._cache.pop(node_id, None)
        if old is not None and self._by_signature.get(old[0]) is old[1]:
            del self._by_signature[old[0]]
        need = 0
        try:
            # Reserve the step's working memory before the kernel allocates any of it.
            need = self._step_need(node, inputs, base_dir, budget)
            budget.reserve(need, "the step", node=node_id, block=block)
            try:
                outputs = spec.run(
                    RunContext(
                        inputs, node.attrs, seed, item_offset=self._item_offset,
                        memory_limit=need + budget.available, base_dir=base_dir,
                        cancel=self._cancel,
                    )
                )
            finally:
                budget.release(need)
            outputs = _checked_outputs(outputs, table.outputs, block)
            self._keep(list(outputs.values()), budget, counted, node_id, block)
        except CancelledError:
            return NodeReport(node_id, block, "cancelled", 0.0, None, inputs, node.attrs)
        except TensorBlocksError as error:
            return NodeReport(
                node_id, block, "failed", 0.0, error.at(node=node_id, block=block),
                inputs, node.attrs,
            )
        except MemoryError as error:  # the machine has less free memory than the budget
            return NodeReport(
                node_id, block, "failed", 0.0,
                MemoryLimitError(
                    f"out of memory while running ({error or 'MemoryError'}; "
                    f"{need} bytes were budgeted): lower the memory limit or the input size",
                    node=node_id, block=block,
                ),
                inputs, node.attrs,
            )
        except Exception as error:  # a kernel bug must not end the run
            internal = TensorBlocksError(
                f"internal error in {block}: {type(error).__name__}: {error}",
                node=node_id, block=block,
            )
            return NodeReport(node_id, block, "failed", 0.0, internal, inputs, node.attrs)
        self._cache[node_id] = (signature, outputs)
        self._by_signature[signature] = outputs
        return NodeReport(node_id, block, "ran", 0.0, None, inputs, node.attrs, outputs)

    def _step_need(
        self,
        node: NodePlan,
        inputs: dict[str, PortValue],
        base_dir: Path | None,
        budget: MemoryBudget,
    ) -> int:
        """The bytes a step will allocate (:func:`graph.memory.step_bytes`), memoized.

        The memo key is what the shape rule sees — block, attrs, literal texts, the
        shapes and dtypes of wired and fed tensors (and their values when small enough
        to be seen) — so a chain of like nodes, an edit-and-rerun, or the chunks of a
        batch run compute it once. Nodes naming a file are never memoized (the file may
        change). The shape rule gets the run's whole limit: what does not fit next to the
        kept tensors is the budget's to say (naming what the run holds already).
        """
        table = node.table
        assert table is not None
        # Wired and fed tensors are seen as a wire's are (by shape and dtype when large).
        fed = _fed_ports(node)
        infos = {name: _info(value, name in node.wires or name in fed)
                 for name, value in inputs.items()}
        key: tuple[Any, ...] | None = None
        if not (table.spec.reads_files and any(
            table.inputs[name].kind is PortKind.PATH for name in node.literals
        )):
            key = (id(table.spec), node.attrs_key, node.literal_key, *(
                _memo_part(name, inputs[name], infos[name])
                for name in inputs if name in node.wires or name in fed
            ))
            need = self._step_memo.get(key)
            if need is not None:
                return need
        need, _ = step_bytes(
            table.spec,
            InferContext(infos, node.attrs, memory_limit=budget.limit, base_dir=base_dir),
        )
        if key is not None:
            if len(self._step_memo) > 8192:
                self._step_memo.clear()
            self._step_memo[key] = need
        return need

    @staticmethod
    def _keep(
        arrays: list[np.ndarray],
        budget: MemoryBudget,
        counted: set[int],
        node_id: str,
        block: str,
        what: str = "its outputs",
    ) -> None:
        """Count ``arrays`` as kept by the run (memory shared with counted arrays is free)."""
        budget.reserve(
            new_bytes(arrays, counted),
            f"keeping {what}",
            node=node_id, block=block,
        )

    def _signature(
        self, node: NodePlan, base_dir: Path | None, seed: int | None, upstream: list[str],
    ) -> str:
        table = node.table
        assert table is not None
        spec = table.spec
        # Sorted: the order in which wires were drawn does not change what the node computes.
        parts = [node.block, node.attrs_key, node.literal_key, *sorted(upstream)]
        if "=<fed>" in node.literal_key:  # fed values are new each run: never a cache hit
            parts.append(f"fed={next(self._fresh)}")
        if spec.reads_files:
            for port in table.inputs.values():
                value = node.literals.get(port.name)
                if port.kind is PortKind.PATH and value is not None:
                    try:
                        parts.append("file=" + file_signature(str(value), base_dir))
                    except TensorBlocksError as error:
                        raise error.at(port=port.name) from None
                    except Exception as error:  # a bug in file_signature must not end the run
                        raise TensorBlocksError(
                            f"internal error stamping file '{value}': "
                            f"{type(error).__name__}: {error}",
                            port=port.name,
                        ) from None
        if spec.noisy:
            parts.append(f"seed={seed}" if seed is not None else f"fresh={next(self._fresh)}")
            parts.append(f"item_offset={self._item_offset}")
        text = "\x1e".join(parts)
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def _evict(self, present: Mapping[str, object]) -> None:
        cache = self._cache
        gone = [node_id for node_id in cache if node_id not in present]
        for node_id in gone:
            del cache[node_id]
        if gone or len(self._by_signature) > len(cache):
            self._by_signature = {signature: outputs for signature, outputs in cache.values()}


def _fed_ports(node: NodePlan) -> frozenset[str]:
    """The inputs of ``node`` whose value a caller fed (``feeds``) for this run."""
    if "=<fed>" not in node.literal_key:
        return frozenset()
    return frozenset(part[: -len("=<fed>")] for part in node.literal_key.split("\x1f")
                     if part.endswith("=<fed>"))


def _memo_part(name: str, value: PortValue, info: TensorInfo) -> tuple[Any, ...]:
    """What the step memo keys a wired or fed input by: what its shape rule sees of it."""
    if not isinstance(value, np.ndarray):
        return (name, value)
    seen = value.tobytes() if info.value is not None else None  # a small value is seen
    return (name, value.shape, value.dtype.str, seen)


def _info(value: PortValue, wired: bool) -> TensorInfo:
    """What a step's shape rule sees of a resolved input: literals and small wired values
    (an int list) with their value, as inference has them; a wired tensor by shape and
    dtype only (its shape rule must not copy or convert it)."""
    if wired and isinstance(value, np.ndarray) and value.size > 64:
        return TensorInfo(tuple(value.shape), value.dtype)
    return literal_info(value)


def _checked_outputs(outputs: Any, names: tuple[str, ...], block: str) -> _Outputs:
    """The declared outputs, each an ndarray made read-only (a TypeError names a bad one).

    Numpy scalars are accepted as 0-d arrays; undeclared extra outputs are dropped.
    """
    if not isinstance(outputs, dict):
        raise TypeError(f"{block} returned {type(outputs).__name__}, not a dict of arrays")
    checked: _Outputs = {}
    for name in names:
        array = outputs.get(name)
        if isinstance(array, np.generic):  # numpy arithmetic on 0-d arrays gives scalars
            array = np.asarray(array)
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{block} returned no array for output '{name}'")
        array.flags.writeable = False
        checked[name] = array
    return checked


def _select(plan: Plan, targets: Iterable[str] | None) -> tuple[list[str], list[Any]]:
    """The nodes to visit (targets and their upstream, in plan order) and their problems."""
    if targets is None:
        return list(plan.order), list(plan.problems)
    problems: list[TensorBlocksError] = []
    wanted: set[str] = set()
    stack: list[str] = []
    for target in targets:
        node_id = target if target in plan.nodes else target.rpartition(".")[0]
        if node_id not in plan.nodes:
            problems.append(GraphError(f"no node '{target}' to run", node=target))
            continue
        stack.append(node_id)
    while stack:
        node_id = stack.pop()
        if node_id in wanted:
            continue
        wanted.add(node_id)
        stack.extend(src for src in plan.nodes[node_id].sources if src in plan.nodes)
    problems[:0] = [p for p in plan.problems if p.node is None or p.node in wanted]
    return [node_id for node_id in plan.order if node_id in wanted], problems
