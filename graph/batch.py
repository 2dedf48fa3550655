"""Batch runs: a saved graph streamed over a dataset, chunk by chunk, on Dask, into zarr.

Contract:

* :func:`plan_batch` maps datasets onto a graph (``{"image": "photos/*.png",
  "focus.offsets": "offsets.npy"}``). A target that is a node id feeds the node's
  declared ``item_source`` input (Input: ``initvalues``; its ``file`` and ``shape`` are
  then unused, its ``dtype`` still casts); a target ``node.port`` feeds that unwired
  tensor input if its block declares it ``batched`` (:func:`port_mapping_problem`: a
  size or an axis takes one value for the whole run), row ``i`` of the source being item
  ``i``'s value, stacked along the port's first axis within a chunk. All sources must
  hold the same number of items. The plan infers, without running, which product tensors
  follow the items (their axis 0 grows with the chunk) and their per-item shapes for
  every run of alike items; it keeps the sink tensors among those unless told which to
  keep, and splits the items into chunks of equal size. Every problem is a
  TensorBlocksError naming the target, the source, the items, the node and the port.
* :func:`compute_chunk` runs the graph once per run of alike items in ``start..stop-1``
  (once for a chunk of alike items; a tensor whose per-item shape is the same in all of
  them is stacked, otherwise kept item by item) on the worker
  thread's :class:`~graph.engine.Engine` for the run (made once; its cache is cleared
  after every chunk, so memory follows the chunk), the run seed given,
  ``item_offset=start`` so glimpse noise is keyed by each item's global index.
  Item ``i``'s results are therefore bit-for-bit the same whatever the chunk size, the
  number of workers and the scheduler, and the same as :func:`run_items` on item ``i``
  alone. A failing chunk is re-run item by item to name the first bad item.
* :func:`run_batch` writes the kept tensors into a zarr (v3) store: one array per tensor,
  named ``node.port``, items along axis 0 in source order, chunked like the run; a tensor
  whose per-item shape differs between items is stored per item, as ``node.port/<index>``;
  an ``items`` array names each item's source file (a glob) or index. The store's
  ``chunks_done`` array (one zarr chunk per run chunk) is set for a chunk only after all
  its data is written, so a resumed run (``resume=True``) skips exactly the finished
  chunks; the root attribute ``tensorblocks`` records the fingerprints of the graph, the
  sources, the kept tensors, the seed and the chunking, and a resume against another
  graph or other sources is refused, naming what differs.
* A new store is made by zarr in memory and then written as files, the group's with the
  record first (a resumed one is completed by zarr in place), from a thread of its own
  while a local run computes its first chunks; a chunk waits for it only to write, into
  the arrays made (a cluster run makes it before it starts, and its workers open the
  arrays).
* Chunks are Dask tasks: by default Dask's threaded scheduler in this process
  (``workers`` threads, default the machine's usable cores); ``scheduler="tcp://..."``
  sends them to a running ``dask.distributed`` scheduler, whose workers read their items
  and write their chunks straight into the store (which they must all reach). Nothing is
  scheduled here by hand.
* Memory: the run's one budget (``memory_limit``) is shared by the ``workers`` chunks
  that run at once; each chunk's engine gets its share. A chunk's peak is estimated from
  inference (:func:`graph.memory.estimate_run` at 1 and 2 items: the kept tensors and each
  step's working memory, plus the chunk's source items); the default chunk fills at most a
  quarter of a worker's share and 128 MiB, and the default chunks are of equal size, their
  number a multiple of the workers; an explicit chunk that would not fit is refused
  before anything runs.
* Threads: a chunk's kernels use ``cores // workers`` helper threads at most (1 when each
  core already runs a chunk; :func:`blocks.kernels.pieces.thread_limit`).
* :func:`to_dask` gives every per-item tensor as a lazy dask array chunked like the run.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import json
import math
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blocks.errors import GraphError, MemoryLimitError, TensorBlocksError, ValidationError
from blocks.kernels.pieces import thread_count, thread_limit
from blocks.spec import DEFAULT_MEMORY_LIMIT, InputPort, PortKind, TensorInfo
from graph.engine import Engine, RunReport
from graph.fileformat import graph_from_json, graph_to_dict, graph_to_json
from graph.infer import infer
from graph.memory import estimate_run, format_bytes
from graph.model import GraphModel, PortRef
from graph.sources import Source, open_source

#: The store layout's name and version (root attribute ``tensorblocks``).
STORE_FORMAT = "tensorblocks.batch"
STORE_VERSION = 1
#: Largest default chunk, in items, and in bytes of working memory per chunk.
_MAX_DEFAULT_CHUNK = 4096
_CHUNK_BYTES = 128 * 1024**2
_DONE = "chunks_done"
_ITEMS = "items"
#: Compression of stored tensors. None by default: float tensors of image data barely
#: compress, and writing raw chunks keeps a batch run at the speed of its kernels
#: (benchmarks/bench_batch.py); lz4 and zstd (Blosc, one thread) trade speed for size.
COMPRESSIONS = ("none", "lz4", "zstd")
#: Every chunk is written, even one equal to the fill value: zarr's check for such chunks
#: is a full pass over the data that costs more than writing it (bench_batch.py).
_WRITE_CONFIG: Any = {"write_empty_chunks": True}


def _compressors(name: str) -> Any:
    if name == "none":
        return None
    from zarr.codecs import BloscCodec

    cname: Any = name  # "lz4" or "zstd", both Blosc compressor names
    return BloscCodec(cname=cname, clevel=1 if name == "lz4" else 3, shuffle="shuffle",
                      typesize=4, blocksize=0)


class BatchError(GraphError):
    """A batch run that cannot start or that stopped (naming source, item, node, port)."""


def default_workers() -> int:
    """The worker threads of a local run: ``TENSORBLOCKS_WORKERS``, else the usable cores."""
    setting = os.environ.get("TENSORBLOCKS_WORKERS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Target:
    """Where a source's items go: ``node``'s input ``port``; ``cleared`` inputs are unset."""

    address: str
    node: str
    port: str
    cleared: tuple[str, ...] = ()


@dataclass(frozen=True)
class TensorLayout:
    """A kept tensor: its dtype and per-item shape (``None`` when it differs between items)."""

    name: str
    dtype: str
    item_shape: tuple[int, ...] | None


@dataclass
class BatchPlan:
    """Everything a chunk task needs, picklable (the graph travels as its file text)."""

    graph_text: str
    base_dir: str | None
    targets: list[Target]
    sources: list[Source]
    n_items: int
    chunks: list[tuple[int, int]]
    chunk: int
    keep: list[str]
    tensors: dict[str, TensorLayout]
    seed: int | None
    memory_limit: int
    #: Per run of alike items, in item order: (start, stop, {tensor: per-item shape}).
    item_shapes: list[tuple[int, int, dict[str, tuple[int, ...]]]]
    bytes_per_item: int
    #: The dtype of every per-item tensor.
    dtypes: dict[str, str] = field(default_factory=dict)
    #: How stored chunks are compressed: "none", "lz4" or "zstd" (see :data:`COMPRESSIONS`).
    compress: str = "none"
    #: Chunks run at once; each chunk's engine gets this share of the memory budget.
    workers: int = 1
    file: str | None = None
    graph_digest: str = ""

    def model(self) -> GraphModel:
        """The graph, parsed once per process."""
        return _model_for(self.graph_digest, self.graph_text)

    def stacked_tensors(self) -> list[str]:
        """The kept tensors stored as one array (one per-item shape in every item), in
        the plan's order; the others are stored item by item."""
        return [name for name, layout in self.tensors.items() if layout.item_shape is not None]

    def item_name(self, index: int) -> str:
        """How item ``index`` is named: its file in the first glob mapped, else its index."""
        named = next((s for s in self.sources if s.item_names() is not None), None)
        return str(index) if named is None else named.item_name(index)

    def item_names(self) -> list[str] | None:
        """Every item's name (``item_name``), or ``None`` when items are known by index."""
        return next((names for s in self.sources if (names := s.item_names()) is not None),
                    None)


_MODELS: dict[str, GraphModel] = {}
_MODELS_LOCK = threading.Lock()


def _model_for(digest: str, text: str) -> GraphModel:
    with _MODELS_LOCK:
        model = _MODELS.get(digest)
        if model is None:
            if len(_MODELS) > 16:
                _MODELS.clear()
            model = _MODELS[digest] = graph_from_json(text)
        return model


def resolve_target(model: GraphModel, address: str) -> Target:
    """The :class:`Target` of ``address`` (a node id, or ``node.port``)."""
    text = address.strip()
    if text in model:
        node = model.node(text)
        spec = model.registry.get(node.block)
        if spec is None or spec.item_source is None:
            raise BatchError(
                f"--map {text}: a {node.block} node takes no dataset; map a port "
                "(node.port) or an Input node", node=text, block=node.block,
            )
        cleared = tuple(
            port.name for port in model.inputs_of(text) or ()
            if port.name != spec.item_source and port.kind is not PortKind.DTYPE
        )
        return Target(text, text, spec.item_source, cleared)
    node_id, dot, port_name = text.rpartition(".")
    if not dot or node_id not in model:
        known = ", ".join(model.node_ids()) or "none"
        raise BatchError(f"--map {text}: no node '{node_id or text}' (nodes: {known})")
    node = model.node(node_id)
    spec = model.registry.get(node.block)
    if spec is None:
        raise BatchError(f"--map {text}: unknown block '{node.block}'", node=node_id)
    port = model.input_of(node_id, port_name)
    if port is None:
        names = ", ".join(p.name for p in model.inputs_of(node_id) or ())
        raise BatchError(f"--map {text}: {spec.name} has no input '{port_name}' "
                         f"(its inputs: {names})", node=node_id, block=node.block)
    problem = port_mapping_problem(port)
    if problem is not None:
        raise BatchError(f"--map {text}: {problem}", node=node_id, block=node.block,
                         port=port_name)
    wire = model.wire_into(PortRef(node_id, port_name))
    if wire is not None:
        raise BatchError(f"--map {text}: the input is fed by a wire from '{wire.src}'",
                         node=node_id, block=node.block, port=port_name)
    return Target(text, node_id, port_name)


def port_mapping_problem(port: InputPort) -> str | None:
    """Why a dataset cannot feed ``port`` item by item, or ``None`` when it can.

    The one rule for ``--map NODE.PORT``, :func:`mappable_targets` and the editor: a
    tensor input declared ``batched`` (its axis 0 runs over items) takes a value per item;
    any other input takes one value for the whole run.
    """
    if port.kind is not PortKind.TENSOR:
        return (f"the input takes {port.kind.value} values; only tensor inputs take a "
                "value per item")
    if not port.batched:
        return ("the input takes one value for the whole run, not one per item; type it in "
                "the graph")
    return None


def mappable_targets(model: GraphModel) -> list[Target]:
    """What a dataset can be mapped onto: nodes with an ``item_source``, then unwired inputs
    that take a value per item (:func:`port_mapping_problem`; the editor's "Run over
    dataset" lists these)."""
    wired = {(wire.dst.node, wire.dst.port) for wire in model.wires()}
    nodes, ports = [], []
    for node in model.nodes():
        spec = model.registry.get(node.block)
        if spec is None:
            continue
        if spec.item_source is not None:
            nodes.append(resolve_target(model, node.id))
            continue
        for port in model.inputs_of(node.id) or ():
            if port_mapping_problem(port) is None and (node.id, port.name) not in wired:
                ports.append(Target(f"{node.id}.{port.name}", node.id, port.name))
    return nodes + ports


def _feeds(targets: Sequence[Target], values: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """The engine's and inference's ``feeds``: each target's port gets its value (an array
    to run, a TensorInfo to infer) and the ports it unsets get ``None``."""
    feeds: dict[str, dict[str, Any]] = {}
    for target, value in zip(targets, values, strict=True):
        entry = feeds.setdefault(target.node, {})
        for port in target.cleared:
            entry.setdefault(port, None)
        entry[target.port] = value
    return feeds


def _graph_digest(model: GraphModel) -> tuple[str, str]:
    """The graph's file text and a digest of what it computes (positions left out)."""
    data = graph_to_dict(model)
    for node in data["nodes"]:
        node.pop("pos", None)
    digest = hashlib.blake2b(json.dumps(data, sort_keys=True).encode("utf-8", "surrogatepass"),
                             digest_size=16).hexdigest()
    return graph_to_json(model), digest


def product_tensors(model: GraphModel) -> list[str]:
    """Every output ``node.port`` of the graph, in node order."""
    names: list[str] = []
    for node in model.nodes():
        spec = model.registry.get(node.block)
        if spec is not None:
            names.extend(f"{node.id}.{port.name}" for port in spec.outputs)
    return names


def sink_tensors(model: GraphModel) -> list[str]:
    """The outputs that no wire consumes."""
    consumed = {str(wire.src) for wire in model.wires()}
    return [name for name in product_tensors(model) if name not in consumed]


def plan_batch(
    model: GraphModel,
    sources: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    keep: Sequence[str] | None = None,
    chunk: int | None = None,
    workers: int | None = None,
    seed: int | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    file: str | None = None,
    all_tensors: bool = False,
    compress: str = "none",
) -> BatchPlan:
    """Check the mapping and plan the chunks (see the module docstring).

    ``all_tensors`` keeps every per-item tensor (what :func:`to_dask` returns).
    """
    if not sources:
        raise BatchError("expected at least one --map TARGET=SOURCE", file=file)
    if compress not in COMPRESSIONS:
        raise BatchError(f"--compress expects one of {', '.join(COMPRESSIONS)}, got "
                         f"'{compress}'", file=file)
    targets = [resolve_target(model, address) for address in sources]
    seen: dict[tuple[str, str], str] = {}
    for target in targets:
        key = (target.node, target.port)
        if key in seen:
            raise BatchError(f"--map {target.address} and --map {seen[key]} feed the same input",
                             file=file, node=target.node, port=target.port)
        seen[key] = target.address
    opened: list[Source] = []
    for address, value in sources.items():
        try:
            opened.append(open_source(value, memory_limit=memory_limit))
        except TensorBlocksError as error:
            error.reason = f"--map {address}: {error.reason}"
            error.port = None  # the file reader names an Input's 'file' port; not this one
            raise
    counts = [len(source) for source in opened]
    if len(set(counts)) > 1:
        first, other = 0, next(i for i, n in enumerate(counts) if n != counts[0])
        raise BatchError(
            f"--map {targets[first].address} has {counts[first]} items but --map "
            f"{targets[other].address} has {counts[other]}: mapped sources are zipped item "
            "by item and must hold the same number", file=file,
        )
    n_items = counts[0]
    if n_items == 0:
        raise BatchError(f"--map {targets[0].address}: the source '{opened[0].name}' holds "
                         "no items", file=file)

    # Runs of items alike in every source: the graph never runs across a boundary.
    bounds = {0, n_items}
    for source in opened:
        for start, stop, _, _ in source.runs():
            bounds.update((start, stop))
    edges = sorted(bounds)
    runs = list(itertools.pairwise(edges))

    graph_text, digest = _graph_digest(model)
    names = product_tensors(model)
    per_run: list[tuple[int, int, dict[str, tuple[int, ...]]]] = []
    dtypes: dict[str, str] = {}
    per_item_bytes = fixed_bytes = 0
    following: set[str] | None = None
    # Runs alike in every source are inferred once: a glob whose images come in a few sizes
    # makes many runs but few looks, and planning stays linear in the items.
    inferred: dict[tuple[tuple[tuple[int, ...], np.dtype[Any]], ...],
                   tuple[dict[str, tuple[int, ...]], int, int]] = {}
    for (start, stop), looks in zip(runs, _run_looks(opened, runs), strict=True):
        known = inferred.get(looks)
        if known is None:
            known = inferred[looks] = _infer_run(model, targets, looks, names, dtypes,
                                                 base_dir=base_dir, memory_limit=memory_limit,
                                                 file=file, where=_items_text(start, stop))
        shapes, bytes_here, fixed_here = known
        fixed_bytes = max(fixed_bytes, fixed_here)
        following = set(shapes) if following is None else following & set(shapes)
        per_run.append((start, stop, shapes))
        per_item_bytes = max(per_item_bytes, bytes_here)
    assert following is not None

    if all_tensors:
        kept = [name for name in names if name in following]
    elif keep:
        kept = []
        for name in keep:
            if name not in names:
                raise BatchError(f"--keep {name}: no such tensor (tensors: {', '.join(names)})",
                                 file=file)
            if name not in following:
                raise BatchError(
                    f"--keep {name}: the tensor does not follow the items (its axis 0 does not "
                    "grow with them); only per-item tensors are stored", file=file,
                )
            if name not in kept:
                kept.append(name)
    else:
        kept = [name for name in sink_tensors(model) if name in following]
        if not kept:
            raise BatchError(
                "no output of the graph follows the mapped items (no sink tensor's axis 0 "
                "grows with them): map the inputs that feed the outputs, or name them with "
                "--keep", file=file,
            )

    tensors = {}
    for name in kept:
        shapes_seen = {shapes[name] for _, _, shapes in per_run}
        common = next(iter(shapes_seen)) if len(shapes_seen) == 1 else None
        tensors[name] = TensorLayout(name, dtypes[name], common)

    workers = workers or default_workers()
    size = _chunk_size(chunk, n_items, per_item_bytes, fixed_bytes, workers, memory_limit, file)
    # Chunks of equal size whatever the runs: a chunk that spans runs runs the graph once
    # per run and stacks what stacks, so a folder of photos of many sizes still makes few
    # tasks, files and marks, not one per photo.
    chunks = [(s, min(s + size, n_items)) for s in range(0, n_items, size)]
    return BatchPlan(
        graph_text=graph_text, base_dir=None if base_dir is None else str(base_dir),
        targets=targets, sources=opened, n_items=n_items, chunks=chunks,
        chunk=size, keep=kept, tensors=tensors, seed=seed, memory_limit=memory_limit,
        item_shapes=per_run, bytes_per_item=per_item_bytes, dtypes=dtypes, compress=compress,
        workers=workers,
        file=file, graph_digest=digest,
    )


def _items_text(start: int, stop: int) -> str:
    return f"item {start}" if stop - start == 1 else f"items {start}..{stop - 1}"


def _run_looks(
    sources: Sequence[Source], runs: Sequence[tuple[int, int]]
) -> Iterable[tuple[tuple[tuple[int, ...], np.dtype[Any]], ...]]:
    """Each run's item shape and dtype in every source, walking the sources' own runs once
    alongside (both are in item order): linear in the runs, however many there are."""
    walks = [iter(source.runs()) for source in sources]
    current = [next(walk) for walk in walks]
    for start, _ in runs:
        looks = []
        for k, walk in enumerate(walks):
            while current[k][1] <= start:
                current[k] = next(walk)
            looks.append((tuple(current[k][2]), current[k][3]))
        yield tuple(looks)


def _infer_run(
    model: GraphModel,
    targets: Sequence[Target],
    looks: tuple[tuple[tuple[int, ...], np.dtype[Any]], ...],
    names: Sequence[str],
    dtypes: dict[str, str],
    *,
    base_dir: Path | None,
    memory_limit: int,
    file: str | None,
    where: str,
) -> tuple[dict[str, tuple[int, ...]], int, int]:
    """The per-item shapes of the product tensors for items that look like ``looks`` (the
    tensors whose axis 0 follows the items; their dtypes go into ``dtypes``), the bytes one
    more item costs, and the fixed bytes of a chunk (see the module docstring)."""
    shapes_by_n = []
    peaks = []
    for n in (1, 2):
        infos = [TensorInfo((n, *shape), dtype) for shape, dtype in looks]
        feeds = _feeds(targets, infos)
        inference = infer(model, base_dir=base_dir, memory_limit=memory_limit, feeds=feeds)
        if inference.problems:
            problems = [p.at(location=f"{where} of the mapped sources")
                        for p in inference.problems]
            raise ValidationError(problems, file=file)
        shapes_by_n.append(inference.ports)
        # The run's peak (kept tensors and each step's working memory) at n items: its
        # growth from 1 to 2 items is what one more item costs.
        peaks.append(estimate_run(model, base_dir=base_dir, memory_limit=2**62,
                                  inference=inference, feeds=feeds).peak_bytes)
    shapes: dict[str, tuple[int, ...]] = {}
    slope = max(peaks[1] - peaks[0], 0)
    # The chunk's source items are held too (read before the run starts).
    bytes_here = slope + sum(math.prod(shape) * dtype.itemsize for shape, dtype in looks)
    for name in names:
        one, two = shapes_by_n[0].get(name), shapes_by_n[1].get(name)
        if one is None or two is None or not one.known or not two.known:
            continue
        assert one.shape is not None and two.shape is not None and one.dtype is not None
        if (len(one.shape) >= 1 and one.shape[0] == 1 and len(two.shape) >= 1
                and two.shape[0] == 2 and one.shape[1:] == two.shape[1:]):
            shapes[name] = tuple(int(d) for d in one.shape[1:] if d is not None)
            dtypes[name] = one.dtype.name
    return shapes, bytes_here, peaks[0] - slope


def _chunk_size(
    chunk: int | None, n_items: int, per_item: int, fixed: int, workers: int,
    memory_limit: int, file: str | None,
) -> int:
    """Items per chunk: ``workers`` chunks at once share the budget (see the module)."""
    per_item = max(per_item, 1)
    share = memory_limit // workers  # each worker's part of the run's one budget
    if chunk is not None:
        if chunk < 1:
            raise BatchError(f"--chunk must be at least 1, got {chunk}", file=file)
        needed = fixed + chunk * per_item
        if needed > share:
            most = max(1, (share - fixed) // per_item)
            raise MemoryLimitError(
                f"--chunk {chunk} needs about {format_bytes(needed * workers)} ({per_item} "
                f"bytes per item, {workers} workers at once), more than the memory budget of "
                f"{format_bytes(memory_limit)}: use --chunk {most} or less, fewer --workers, "
                "or a larger --memory-limit", file=file,
            )
        return chunk
    budget = min(share // 4, _CHUNK_BYTES) - fixed
    size = max(1, min(budget // per_item, _MAX_DEFAULT_CHUNK))
    # Chunks of equal size, as few as fit, their number a multiple of the workers: every
    # worker has a chunk in every round (none idles through a last, short one), and no
    # chunk is a remainder that zarr pads to a whole stored chunk.
    rounds = math.ceil(n_items / (size * workers))
    return max(1, math.ceil(n_items / (rounds * workers)))


# ----------------------------------------------------------------------------- running


def _run_once(plan: BatchPlan, start: int, stop: int, names: Iterable[str]) -> RunReport:
    arrays = []
    for target, source in zip(plan.targets, plan.sources, strict=True):
        try:
            arrays.append(source.read(start, stop))
        except TensorBlocksError as error:
            error.at(location=_items_text(start, stop))
            error.reason = f"--map {target.address}: {error.reason}"
            raise
    base_dir = None if plan.base_dir is None else Path(plan.base_dir)
    engine = _engine_for(plan)
    # ``workers`` chunks already run at once: each chunk's kernels get their share of the
    # cores (1 when there is a worker per core), so kernel helper threads never
    # oversubscribe the machine. Decided from the cores and settings, never the load.
    try:
        with thread_limit(max(1, thread_count() // plan.workers)):
            return engine.run(
                plan.model(), base_dir=base_dir, seed=plan.seed, item_offset=start,
                feeds=_feeds(plan.targets, arrays), targets=list(names),
            )
    finally:
        engine.clear_cache()  # the chunk's outputs go with the chunk, not with the engine


_ENGINES = threading.local()


def _engine_for(plan: BatchPlan) -> Engine:
    """This thread's engine for ``plan``'s graph and memory share, made once per run.

    It keeps what does not depend on the items from chunk to chunk (the step sizes its
    shape rules gave, keyed by the chunk's shapes); its cache of outputs is cleared after
    every chunk, so memory still follows the chunk.
    """
    engines: dict[tuple[str, int], Engine] | None = getattr(_ENGINES, "engines", None)
    if engines is None:
        engines = _ENGINES.engines = {}
    key = (plan.graph_digest, plan.memory_limit // plan.workers)
    engine = engines.get(key)
    if engine is None:
        if len(engines) >= 8:
            engines.clear()
        engine = engines[key] = Engine(memory_limit=key[1])
    return engine


#: A chunk's tensor: one array (items along axis 0), or the items' arrays when their
#: shapes differ.
ChunkTensor = np.ndarray | list[np.ndarray]


def compute_chunk(
    plan: BatchPlan, start: int, stop: int, names: Sequence[str] | None = None
) -> dict[str, ChunkTensor]:
    """The kept tensors (or ``names``) for items ``start..stop-1`` (see the module docstring).

    The graph runs once per run of alike items in the chunk. A tensor whose per-item shape
    is the same in all of them is one array, items along axis 0; otherwise it is a list of
    the items' arrays.
    """
    wanted = list(plan.keep if names is None else names)
    runs = _runs_within(plan, start, stop)
    outputs: dict[str, ChunkTensor] = {}
    for run_start, run_stop, _ in runs:
        report = _run_once(plan, run_start, run_stop, wanted)
        if report.problems:
            raise _first_bad_item(plan, run_start, run_stop, wanted, report)
        for name in wanted:
            array = report.results[name]
            if array.ndim == 0 or array.shape[0] != run_stop - run_start:
                raise BatchError(
                    f"{_items_text(run_start, run_stop)}: the tensor {name} has shape "
                    f"{list(array.shape)}, expected {run_stop - run_start} items along axis 0",
                    file=plan.file, node=name.rpartition(".")[0],
                    port=name.rpartition(".")[2],
                )
            if len(runs) == 1:
                outputs[name] = array
                continue
            if name not in outputs:
                seen = {shapes_here.get(name) for _, _, shapes_here in runs}
                outputs[name] = ([] if len(seen) > 1 or None in seen
                                 else np.empty((stop - start, *array.shape[1:]), array.dtype))
            into = outputs[name]
            if isinstance(into, np.ndarray):  # stacked: copied in, the run's array let go
                into[run_start - start:run_stop - start] = array
            else:
                into.extend(array)
    return outputs


def _runs_within(
    plan: BatchPlan, start: int, stop: int
) -> list[tuple[int, int, dict[str, tuple[int, ...]]]]:
    """The runs of alike items that meet items ``start..stop-1``, cut to them (a binary
    search: the runs are in item order)."""
    runs = plan.item_shapes
    first = bisect.bisect_right(runs, start, key=lambda run: run[0]) - 1
    found = []
    for run_start, run_stop, shapes in itertools.islice(runs, max(first, 0), None):
        if run_start >= stop:
            break
        found.append((max(run_start, start), min(run_stop, stop), shapes))
    return found


def _first_bad_item(
    plan: BatchPlan, start: int, stop: int, names: list[str], report: RunReport
) -> TensorBlocksError:
    """The chunk's error, narrowed to its first failing item when one fails alone."""
    error = report.problems[0]
    if stop - start > 1:
        for index in range(start, stop):
            alone = _run_once(plan, index, index + 1, names)
            if alone.problems:
                start, stop, error = index, index + 1, alone.problems[0]
                break
    where = _items_text(start, stop)
    if stop - start == 1 and plan.item_name(start) != str(start):
        where += f" ({plan.item_name(start)})"
    error.reason = f"{where}: {error.reason}"
    return error.at(file=plan.file)


def preview_report(plan: BatchPlan, index: int = 0) -> RunReport:
    """The whole run report of item ``index`` alone (every node), for the editor to show."""
    names = product_tensors(plan.model())
    return _run_once(plan, index, index + 1, names)


def run_items(
    model: GraphModel,
    sources: Mapping[str, Any],
    start: int,
    stop: int | None = None,
    *,
    base_dir: Path | None = None,
    seed: int | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> dict[str, np.ndarray]:
    """Every per-item tensor for items ``start..stop-1`` (default: item ``start`` alone)."""
    stop = start + 1 if stop is None else stop
    plan = plan_batch(model, sources, base_dir=base_dir, seed=seed, memory_limit=memory_limit,
                      all_tensors=True, chunk=1, workers=1)
    if not 0 <= start < stop <= plan.n_items:
        raise BatchError(f"items {start}..{stop - 1} are outside 0..{plan.n_items - 1}")
    for run_start, run_stop, _ in plan.item_shapes:
        if run_start <= start < run_stop and stop > run_stop:
            raise BatchError(f"items {start}..{stop - 1} differ in shape at item {run_stop}")
    # One run of alike items: every tensor is one array.
    return {name: value for name, value in compute_chunk(plan, start, stop).items()
            if isinstance(value, np.ndarray)}


# ----------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class BatchStarted:
    """A batch run begins: ``items``/``chunks`` in all, ``skipped`` chunks already done."""

    items: int
    chunks: int
    skipped_items: int
    skipped_chunks: int


@dataclass(frozen=True)
class BatchProgress:
    """A chunk finished."""

    items_done: int
    items: int
    chunks_done: int
    chunks: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.items_done / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BatchSummary:
    """What a batch run did (the command line prints :meth:`line`)."""

    store: str
    items: int
    chunks: int
    items_run: int
    chunks_run: int
    seconds: float
    tensors: dict[str, TensorLayout] = field(default_factory=dict)

    @property
    def items_per_second(self) -> float:
        return self.items_run / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        skipped = self.chunks - self.chunks_run
        resumed = f", {skipped} chunks already done" if skipped else ""
        return (f"{self.items_run} items in {self.chunks_run} chunks, {self.seconds:.2f} s, "
                f"{self.items_per_second:,.0f} items/s -> {self.store}{resumed}")


@dataclass(frozen=True)
class BatchFinished:
    """A batch run ended: its ``summary``, or the one-line ``error``, or ``cancelled``."""

    summary: BatchSummary | None
    error: str | None = None
    cancelled: bool = False


BatchEvent = BatchStarted | BatchProgress


# ----------------------------------------------------------------------------- the store


def _fingerprint(plan: BatchPlan) -> dict[str, Any]:
    sources = {t.address: s.fingerprint() for t, s in zip(plan.targets, plan.sources,
                                                          strict=True)}
    return {
        "graph": plan.graph_digest,
        "sources": sources,
        "keep": list(plan.keep),
        "seed": plan.seed,
        "items": plan.n_items,
        "chunk": plan.chunk,
    }


_FINGERPRINT_WORDS = {
    "graph": "another graph",
    "sources": "other sources",
    "keep": "other kept tensors",
    "seed": "another seed",
    "items": "another number of items",
    "chunk": "another chunk size",
}


def _open_store(
    plan: BatchPlan, out: str, *, resume: bool, overwrite: bool
) -> tuple[Callable[[], dict[str, Any]], list[bool]]:
    """Check ``out``: the chunks already done, and what makes (or, on resume, completes and
    opens) the store, returning its arrays by name (:func:`_make_arrays`)."""
    import zarr
    from zarr.api import asynchronous

    path = Path(out)
    stamp = _fingerprint(plan)
    if path.exists() and resume:
        try:
            root = zarr.open_group(store=str(path), mode="r+")
            recorded = dict(root.attrs).get("tensorblocks")
        except Exception as error:  # not a zarr store
            raise BatchError(f"--resume: {out} is not a batch store ({error})") from None
        if not isinstance(recorded, dict) or recorded.get("format") != STORE_FORMAT:
            raise BatchError(f"--resume: {out} was not written by a TensorBlocks batch run")
        old = recorded.get("fingerprint", {})
        differ = [word for key, word in _FINGERPRINT_WORDS.items() if old.get(key) != stamp[key]]
        if not differ and recorded.get("chunks") != [list(c) for c in plan.chunks]:
            differ = ["other chunk boundaries (an older TensorBlocks)"]
        if differ:
            raise BatchError(
                f"--resume: the store {out} was made from {', '.join(differ)}; resume only the "
                "same command, or write to a new store"
            )
        present = set(root.keys())
        done = [False] * len(plan.chunks)
        if _DONE in present:
            marks: Any = root[_DONE]
            done = np.asarray(marks[:]).astype(bool).tolist()

        async def complete() -> dict[str, Any]:
            # A run killed while it made the store: make what is missing, then go on.
            opened = await asynchronous.open_group(store=str(path), mode="r+")
            return await _make_arrays(plan, opened, present=present)

        return lambda: _sync(complete()), done
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise BatchError(
                f"{out} exists: add --resume to finish that run, --overwrite to replace it, "
                "or choose another store"
            )
        if not (path / "zarr.json").is_file():
            raise BatchError(f"--overwrite: {out} is not a zarr store; refusing to delete it")
        shutil.rmtree(path)
    # The record first, with the group itself (one write): a run killed from here on
    # leaves a store that --resume completes.
    record = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "fingerprint": stamp,
        "chunks": [list(c) for c in plan.chunks],
        "tensors": {name: {"dtype": layout.dtype,
                           "item_shape": None if layout.item_shape is None
                           else list(layout.item_shape),
                           "layout": "stacked" if layout.item_shape is not None else "per_item"}
                    for name, layout in plan.tensors.items()},
        "maps": {t.address: s.name for t, s in zip(plan.targets, plan.sources, strict=True)},
    }

    return functools.partial(_make_store, plan, path, record), [False] * len(plan.chunks)


def _make_store(plan: BatchPlan, path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Make the new store at ``path`` with the root attribute ``tensorblocks=record``;
    returns the arrays chunks are written into, by name (:func:`_make_arrays`).

    zarr makes the store in memory, then its files are written here, the group's (with the
    record) first and refused if it appeared meanwhile, every file under a temporary name
    renamed into place as zarr does (:func:`_write_file`). So the store is exactly what zarr
    makes, while zarr's file I/O, a thread hop per file from its event loop, is skipped:
    6-10 ms of a run's CPU against 2 ms (benchmarks/bench_batch.py).
    """
    import zarr
    from zarr.api import asynchronous
    from zarr.core.array import AsyncArray
    from zarr.storage import LocalStore, MemoryStore, StorePath

    documents: dict[str, Any] = {}

    async def make() -> dict[str, Any]:
        root = await asynchronous.create_group(store=MemoryStore(documents),
                                               attributes={"tensorblocks": record})
        return await _make_arrays(plan, root, present=set())

    made = _sync(make())
    group = "zarr.json"
    _write_file(path / group, documents.pop(group).as_buffer_like(), exclusive=True)
    for key in sorted(documents, key=lambda key: not key.endswith(group)):  # metadata first
        _write_file(path / key, documents[key].as_buffer_like())
    local = LocalStore(path)
    return {name: zarr.Array(AsyncArray(metadata=array.metadata, config=_WRITE_CONFIG,
                                        store_path=StorePath(local, array.path)))
            for name, array in made.items()}


def _sync(work: Any) -> Any:
    """Run the coroutine ``work`` on zarr's event loop (what zarr's own calls do), once:
    a store made call by call costs a hop to that loop per call, about 1 ms each."""
    from zarr.core.sync import sync

    return sync(work)


async def _make_arrays(plan: BatchPlan, root: Any, *, present: set[str]) -> dict[str, Any]:
    """Create the store's arrays that are not ``present`` at once, (re)write the ``items``
    names, and return the arrays chunks are written into (the stacked tensors and
    ``chunks_done``) as zarr arrays, by name."""
    import asyncio

    import zarr

    along = plan.chunk
    making: dict[str, Any] = {}
    for name, layout in plan.tensors.items():
        if name in present:
            continue
        if layout.item_shape is None:
            making[name] = root.create_group(name)
            continue
        making[name] = root.create_array(
            name, shape=(plan.n_items, *layout.item_shape), dtype=layout.dtype,
            chunks=(min(along, plan.n_items), *[max(1, d) for d in layout.item_shape]),
            fill_value=0, compressors=_compressors(plan.compress), config=_WRITE_CONFIG,
        )
    names = plan.item_names()
    numbered = names is None
    if _ITEMS not in present:
        making[_ITEMS] = root.create_array(
            _ITEMS, shape=(plan.n_items,), dtype="int64" if numbered else str,
            chunks=(min(plan.n_items, 65536),))
    if _DONE not in present:
        # Raw bytes: a mark is one byte, written once per chunk; a codec only costs time.
        making[_DONE] = root.create_array(_DONE, shape=(len(plan.chunks),), dtype="uint8",
                                          chunks=(1,), fill_value=0, compressors=None,
                                          config=_WRITE_CONFIG)
    nodes = dict(zip(making, await asyncio.gather(*making.values()), strict=True))
    written = plan.stacked_tensors()
    for name in [*written, _DONE, _ITEMS]:
        if name not in nodes:
            opened = await root.getitem(name)
            nodes[name] = opened.with_config(_WRITE_CONFIG)
    await nodes[_ITEMS].setitem(
        slice(None),
        np.arange(plan.n_items, dtype=np.int64) if numbered else np.array(names, dtype=object),
    )
    return {name: zarr.Array(nodes[name]) for name in [*written, _DONE]}


def _store_arrays(store: str, plan: BatchPlan) -> dict[str, Any]:
    """The arrays chunks are written into, opened from ``store`` (a cluster's worker)."""
    import zarr

    names = plan.stacked_tensors()
    return {name: zarr.open_array(store=store, path=name, mode="r+").with_config(_WRITE_CONFIG)
            for name in [*names, _DONE]}


class _StoreMaker:
    """A local run's store, made (or completed, on resume) on a thread of its own while the
    first chunks compute; a chunk waits for it only when it is ready to be written, and
    nothing is written before the store's record. It holds the arrays the run's chunks are
    written into, so no chunk opens the store again."""

    def __init__(self, store: str, make: Callable[[], dict[str, Any]]) -> None:
        self.store = store
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.arrays: dict[str, Any] = {}
        _MAKERS[store] = self
        self.thread = threading.Thread(target=self._make, args=(make,), daemon=True,
                                       name="tensorblocks-store")
        self.thread.start()

    def _make(self, make: Callable[[], dict[str, Any]]) -> None:
        try:
            self.arrays = make()
        except BaseException as error:  # raised to the caller by run_batch
            self.error = error
        finally:
            self.ready.set()

    def wait(self) -> dict[str, Any]:
        """The store's arrays, once it is made; a BatchError if it could not be."""
        self.ready.wait()
        if self.error is not None:
            raise BatchError(f"the store {self.store} could not be made")
        return self.arrays

    def finish(self) -> BaseException | None:
        """Wait for the thread and forget the store; what making it raised, if anything."""
        self.thread.join()
        _MAKERS.pop(self.store, None)
        return self.error


#: Stores of the local runs of this process, by absolute path.
_MAKERS: dict[str, _StoreMaker] = {}


def write_chunk(plan: BatchPlan, store: str, index: int) -> tuple[int, int]:
    """Run chunk ``index`` and write it into ``store``; returns ``(index, items)``.

    The chunk's data is written first, its ``chunks_done`` mark last, so a chunk cut short
    by a kill is never counted as done.
    """
    import zarr

    start, stop = plan.chunks[index]
    outputs = compute_chunk(plan, start, stop)
    maker = _MAKERS.get(store)
    arrays = maker.wait() if maker is not None else _store_arrays(store, plan)
    for name, array in outputs.items():
        layout = plan.tensors[name]
        if layout.item_shape is not None:
            assert isinstance(array, np.ndarray)  # one per-item shape: stacked
            _write_rows(arrays[name], start, array)
            continue
        for offset in range(stop - start):
            item = np.ascontiguousarray(array[offset])
            target = zarr.create_array(
                store=store, name=f"{name}/{start + offset}", shape=item.shape,
                dtype=item.dtype, chunks=tuple(max(1, d) for d in item.shape), overwrite=True,
                fill_value=0, compressors=_compressors(plan.compress), config=_WRITE_CONFIG,
            )
            if item.ndim == 0 or not _write_raw_chunk(target, 0, item):
                target[...] = item
    _write_rows(arrays[_DONE], index, np.ones(1, np.uint8))
    return index, stop - start


def _write_rows(array: Any, start: int, rows: np.ndarray) -> None:
    """``array[start:start + len(rows)] = rows``: straight to the chunk's file when the rows
    are one whole stored chunk of raw bytes (:func:`_write_raw_chunk`), else through zarr."""
    chunk = array.chunks[0]
    if start % chunk or not _write_raw_chunk(array, start // chunk, rows):
        array[start:start + len(rows)] = rows


def _write_raw_chunk(array: Any, index: int, data: np.ndarray) -> bool:
    """Write ``data`` as stored chunk ``index`` (along axis 0) of the zarr ``array``, as
    zarr writes it, when the array keeps raw bytes in a local folder; ``False`` otherwise
    (a compressed array, another store, a part of a chunk), for zarr to write it.

    A raw chunk's file holds the chunk's C-ordered bytes in the codec's byte order, so the
    kernel's output is written as it is: no copy, and none of zarr's per-write event loop
    and thread hops (about 0.5 ms of CPU per write; benchmarks/bench_batch.py). Like zarr,
    the file is written under a temporary name and renamed, so a kill never leaves a
    half-written chunk file.
    """
    from zarr.codecs import BytesCodec
    from zarr.storage import LocalStore

    codecs: tuple[Any, ...] = tuple(getattr(array.metadata, "codecs", ()))
    codec = codecs[0] if len(codecs) == 1 else None
    if not (isinstance(array.store, LocalStore) and isinstance(codec, BytesCodec)):
        return False
    if data.shape != tuple(array.chunks) or data.dtype != array.dtype:
        return False
    endian = codec.endian
    in_order = data.dtype.itemsize == 1 or (
        endian is not None and data.dtype.isnative and endian.value == sys.byteorder)
    if not (in_order and data.flags.c_contiguous):
        return False
    key = array.metadata.encode_chunk_key((index, *[0] * (data.ndim - 1)))
    _write_file(Path(array.store.root, array.path, key), data.data)
    return True


def _write_file(target: Path, data: Any, *, exclusive: bool = False) -> None:
    """Write the bytes ``data`` (any buffer) as the store's file ``target`` as zarr's local
    store does: its folders made, the bytes written under a temporary name then renamed,
    so a kill never leaves a half-written file; ``exclusive`` refuses a ``target`` that
    exists (a FileExistsError), checked at the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
        if exclusive:
            os.link(partial, target)  # fails if target exists; then the name goes below
            partial.unlink()
        else:
            os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def run_batch(
    plan: BatchPlan,
    out: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[BatchEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> BatchSummary:
    """Run ``plan`` into the zarr store ``out`` (see the module docstring)."""
    store = os.path.abspath(os.fspath(out))
    make, done = _open_store(plan, store, resume=resume, overwrite=overwrite)
    started = time.perf_counter()
    maker = None
    if scheduler:
        make()  # the cluster's workers must find the store when they write
    else:
        maker = _StoreMaker(store, make)
    pending = [k for k, finished in enumerate(done) if not finished]
    skipped_items = sum(stop - start for k, (start, stop) in enumerate(plan.chunks) if done[k])
    if progress is not None:
        progress(BatchStarted(plan.n_items, len(plan.chunks), skipped_items,
                              len(plan.chunks) - len(pending)))
    counter = _Counter(plan, pending, started, progress)
    token = hashlib.blake2b(f"{store}|{time.time_ns()}".encode(), digest_size=6).hexdigest()
    task = _cancellable(write_chunk, cancel)
    keys = [f"tensorblocks-chunk-{k:09d}-{token}" for k in pending]
    try:
        if keys and scheduler:
            import dask

            shared = dask.delayed(plan, pure=False)  # one copy of the plan in the task graph
            tasks = [dask.delayed(task, pure=False)(shared, store, k, dask_key_name=key)
                     for k, key in zip(pending, keys, strict=True)]
            _run_distributed(scheduler, tasks, counter, cancel)
        elif keys:
            run = functools.partial(task, plan, store)
            _run_local({key: (run, k) for k, key in zip(pending, keys, strict=True)},
                       workers or plan.workers, counter)
    except BaseException:
        failure = None if maker is None else maker.finish()
        if failure is not None:  # the chunks failed because the store was not made
            raise failure from None
        raise
    failure = None if maker is None else maker.finish()
    if failure is not None:
        raise failure
    seconds = time.perf_counter() - started
    return BatchSummary(store, plan.n_items, len(plan.chunks), counter.items_done,
                        counter.chunks_done, seconds, dict(plan.tensors))


class BatchCancelledError(BatchError):
    """The run was stopped; finished chunks stay in the store."""


def _cancellable(
    function: Callable[[BatchPlan, str, int], tuple[int, int]], cancel: threading.Event | None
) -> Callable[[BatchPlan, str, int], tuple[int, int]]:
    if cancel is None:
        return function

    def run(plan: BatchPlan, store: str, index: int) -> tuple[int, int]:
        if cancel.is_set():
            raise BatchCancelledError("the batch run was cancelled")
        return function(plan, store, index)

    return run


class _Counter:
    """Counts finished chunks and reports progress (called in the thread that runs Dask)."""

    def __init__(self, plan: BatchPlan, pending: list[int], started: float,
                 progress: Callable[[BatchEvent], None] | None) -> None:
        self.plan, self.pending, self.started, self.progress = plan, pending, started, progress
        self.items_done = 0
        self.chunks_done = 0
        self.items_pending = sum(plan.chunks[k][1] - plan.chunks[k][0] for k in pending)
        self.lock = threading.Lock()

    def finished(self, index: int) -> None:
        start, stop = self.plan.chunks[index]
        with self.lock:
            self.items_done += stop - start
            self.chunks_done += 1
            event = BatchProgress(self.items_done, self.items_pending, self.chunks_done,
                                  len(self.pending), time.perf_counter() - self.started)
        if self.progress is not None:
            self.progress(event)


def _run_local(graph: dict[str, tuple[Any, ...]], workers: int, counter: _Counter) -> None:
    """Run the chunk tasks of ``graph`` on Dask's threaded scheduler.

    A plain task graph goes straight to the scheduler: the delayed objects and
    ``dask.compute`` cost about 5 ms of optimisation per run for tasks that have no
    dependencies to optimise (benchmarks/bench_batch.py), as much as 700 items take.
    """
    import dask.threaded
    from dask.callbacks import Callback

    def finished(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        counter.finished(int(result[0]))

    dask.threaded.get(graph, list(graph), num_workers=workers,
                      callbacks=[Callback(posttask=finished)._callback])


def _run_distributed(
    address: str, tasks: list[Any], counter: _Counter, cancel: threading.Event | None
) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise BatchError(
            "--scheduler needs dask.distributed: pip install -e \".[cluster]\""
        ) from None
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise BatchError(f"--scheduler {address}: cannot reach the scheduler ({error})") from None
    with client:
        futures = client.compute(tasks)
        try:
            for future in as_completed(futures, loop=client.loop):
                if cancel is not None and cancel.is_set():
                    raise BatchCancelledError("the batch run was cancelled")
                index, _ = future.result()
                counter.finished(int(index))
        except BaseException:
            client.cancel(futures)
            raise


# ----------------------------------------------------------------------------- dask arrays


def to_dask(plan: BatchPlan) -> dict[str, Any]:
    """Every kept per-item tensor (with ``all_tensors=True``: every one) as a dask array.

    Each array is chunked like the run along axis 0; the chunk's graph run is shared by
    all the arrays that come from it. A tensor whose per-item shape differs between items
    cannot be one array and is left out.
    """
    import dask
    import dask.array as da

    names = plan.stacked_tensors()
    shared = dask.delayed(plan, pure=False)  # one copy of the plan in the task graph
    runs = [dask.delayed(compute_chunk, pure=False)(shared, start, stop, names)
            for start, stop in plan.chunks]
    arrays = {}
    for name in names:
        layout = plan.tensors[name]
        assert layout.item_shape is not None
        parts = [
            da.from_delayed(run[name], shape=(stop - start, *layout.item_shape),
                            dtype=np.dtype(layout.dtype))
            for run, (start, stop) in zip(runs, plan.chunks, strict=True)
        ]
        arrays[name] = da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    return arrays
