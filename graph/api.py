"""A small scripting API over graph files: load, change literals and attrs, check, run, save.

Example::

    from graph.api import Graph

    g = Graph.load("assets/examples/glimpses.tbg.json")
    g.set("centre.size", "{32,32}")            # a literal, as typed in the editor
    g.set("centre.offsets", [[0.5, -0.5]])     # or a value, written as a literal for you
    g.set_attrs("centre", "centered_ = false;")
    shapes = g.check()                         # "node.port" -> TensorInfo(shape, dtype)
    results = g.run(seed=1)                    # Results: "node.port" -> numpy array
    print(results["centre.glimpse"].shape, results.report.nodes["centre"].status)
    g.save("my_glimpses.tbg.json")             # atomic; relative file names follow the move

    # Over a dataset, item by item along axis 0: chunked, on Dask, into a zarr store.
    a = Graph.load("assets/examples/attention.tbg.json")
    photos = {"scenes": "assets/examples/photos/*.png",        # Input node <- one per file
              "attention.offsets": "assets/examples/photo_offsets.npy"}   # port <- rows
    summary = a.map(photos, "tiles.zarr", seed=1)  # the store: "tiles.patches", "items"
    lazy = a.to_dask(photos, seed=1)               # "node.port" -> dask array
    first = a.run_item(photos, 0, seed=1)          # item 0 alone, equal to row 0 of both

Contract:

* A :class:`Graph` stands on a :class:`~graph.session.Session` (``g.session``): the
  :class:`~graph.model.GraphModel` (``g.model``), the folder its relative paths resolve
  against (``g.base_dir``: the graph file's folder, or the current folder for a graph made
  in code), the engine and the latest report. Subscribe to ``g.session.events`` to follow
  what a script does.
* :meth:`Graph.set` and :meth:`Graph.set_attrs` check that the node and port exist and that
  no wire feeds the port (:func:`graph.edits.literal_target`; a GraphError otherwise); the
  literal itself is judged by validation when checking or running, as in the editor.
* :meth:`Graph.set_port_count` gives a block with a variadic input group (ConcatV2) its
  number of ports, as the editor's spin box does (lowering it removes the wires and literals
  of the ports that go).
* :meth:`Graph.check` and :meth:`Graph.run` raise :class:`~blocks.errors.ValidationError`
  (its ``problems`` lists every problem) when the graph is invalid or a node fails, unless
  ``strict=False``; :meth:`Graph.problems` lists the problems without raising. A Graph keeps
  one :class:`~graph.engine.Engine`, so a second run reuses the outputs of unchanged nodes.
* :meth:`Graph.save` rewrites relative file names when the folder changes (also on the
  first save of a graph made in code) — :meth:`graph.session.Session.save`.
* A graph that reads files outside its own folder (a stranger's graph) says which ones
  with an :class:`OutsideFilesWarning` before its first run — once per set of files
  (``warnings.simplefilter("ignore", OutsideFilesWarning)`` turns it off).
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from blocks.errors import GraphError, TensorBlocksError, ValidationError
from blocks.literals import format_literal
from blocks.spec import DEFAULT_MEMORY_LIMIT, PortKind, TensorInfo
from graph.batch import BatchEvent, BatchSummary, run_items, to_dask
from graph.edits import literal_target, port_add_problem, port_group
from graph.engine import RunReport
from graph.fileformat import files_outside, load_graph, outside_files_note
from graph.model import GraphModel, PortRef
from graph.session import Session
from graph.validate import validate


class Results(Mapping[str, np.ndarray]):
    """The tensors a run produced, ``"node.port"`` -> array, and the run's ``report``."""

    def __init__(self, report: RunReport) -> None:
        self.report = report

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self.report.results[key]
        except KeyError:
            known = ", ".join(self.report.results) or "none (nothing ran)"
            close = difflib.get_close_matches(str(key), list(self.report.results), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise KeyError(f"no tensor '{key}' in the results{hint} (they hold: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.report.results)

    def __len__(self) -> int:
        return len(self.report.results)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {list(v.shape)}" for k, v in self.report.results.items())
        return f"Results({shapes})"


class OutsideFilesWarning(UserWarning):
    """A graph reads files outside its own folder (see :func:`graph.fileformat.files_outside`)."""


class Graph:
    """A graph to script: see the module docstring."""

    def __init__(
        self,
        model: GraphModel | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        if path is None and base_dir is None:
            base_dir = Path.cwd()  # a graph made in code: names resolve where it was made
        self.session = Session(model, path=path, base_dir=base_dir, memory_limit=memory_limit)
        self._path: Path | None = None if path is None else Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Graph:
        """The graph in the file ``path`` (GraphFileError if it cannot be read)."""
        return cls(load_graph(path), path=path)

    @property
    def model(self) -> GraphModel:
        """The underlying model (change it directly for anything beyond set/set_attrs)."""
        return self.session.model

    @property
    def path(self) -> Path | None:
        """The graph file, as it was given (``None`` for a graph made in code, until saved)."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """The folder relative file names resolve against."""
        return self.session.resolve_dir

    # ------------------------------------------------------------------ editing

    def set(self, address: str, value: Any) -> None:
        """Type ``value`` into the input ``node.port``; ``None`` clears the literal.

        A ``str`` is taken as literal text; anything else (a number, a list, an array, a
        ``Path``) is written as the literal that parses back to it.
        """
        ref = PortRef.parse(address)
        port = literal_target(self.model, ref)
        if value is None or isinstance(value, str):
            text = value
        elif isinstance(value, os.PathLike):
            text = format_literal(os.fspath(value), PortKind.PATH)
        elif port is None:
            block = self.model.node(ref.node).block
            raise GraphError(
                f"cannot write {type(value).__name__} for a port of unknown block "
                f"'{block}': pass the literal text",
                node=ref.node, block=block, port=ref.port,
            )
        elif port.kind in (PortKind.TENSOR, PortKind.INT_LIST):
            text = format_literal(np.asarray(value), port.kind)
        else:
            text = format_literal(value, port.kind)
        self.model.set_literal(ref.node, ref.port, text)

    def set_port_count(self, node_id: str, count: int) -> None:
        """Give ``node_id``'s variadic input group ``count`` ports (ConcatV2: ``values_0 ..
        values_{count-1}``); GraphError for a block without one or a count it does not allow."""
        group = port_group(self.model, node_id)
        if group is None:
            raise GraphError(str(port_add_problem(self.model, node_id)), node=node_id,
                             block=self.model.node(node_id).block)
        self.model.set_port_count(node_id, group.group.name, count)

    def set_attrs(self, node_id: str, text: str) -> None:
        """Set the attrs string of ``node_id`` (e.g. ``"centered_ = false;"``)."""
        self.model.node(node_id)  # GraphError naming the node if there is none
        self.model.set_attrs(node_id, text)

    # ------------------------------------------------------------------ checking

    def problems(self) -> list[TensorBlocksError]:
        """Every problem validation and inference find (empty for a graph that can run)."""
        return self.session.infer().problems

    def check(self, *, strict: bool = True) -> dict[str, TensorInfo]:
        """Every port's inferred shape and dtype, ``"node.port"`` -> TensorInfo, without running.

        With ``strict`` (the default) a ValidationError lists the problems, if any.
        """
        inference = self.session.infer()
        if strict and inference.problems:
            raise ValidationError(inference.problems, file=self._file())
        return dict(inference.ports)

    def run(self, seed: int | None = None, *, strict: bool = True) -> Results:
        """Validate and execute; ``seed`` makes glimpse noise reproducible.

        With ``strict`` (the default) a ValidationError lists the problems when the graph is
        invalid or a node fails; otherwise the Results hold what could be computed and
        ``results.report.problems`` says what went wrong.
        """
        self._tell_outside_files()
        if strict:
            problems = validate(self.model, base_dir=self.base_dir)
            if problems:
                raise ValidationError(problems, file=self._file())
        report = self.session.run(seed)
        if strict and report.problems:
            raise ValidationError(report.problems, file=self._file())
        return Results(report)

    # ------------------------------------------------------------------ datasets

    def map(
        self,
        sources: Mapping[str, Any],
        out: str | os.PathLike[str],
        *,
        chunk: int | None = None,
        workers: int | None = None,
        scheduler: str | None = None,
        seed: int | None = None,
        keep: Sequence[str] | None = None,
        resume: bool = False,
        overwrite: bool = False,
        compress: str = "none",
        progress: Callable[[BatchEvent], None] | None = None,
    ) -> BatchSummary:
        """Run the graph over datasets into the zarr store ``out`` (what ``run --map`` does).

        ``sources`` maps an Input node id or ``node.port`` to a path (``.npy``,
        ``name.npz:key``, ``data.zarr[:path]``, a glob) or to a numpy, zarr or dask array;
        see :mod:`graph.batch` for chunks, determinism, the store layout and resuming.
        ``progress`` receives the run's start and one event per chunk (as do the session's
        batch events).
        """
        plan = self.session.plan_batch(sources, keep=keep, chunk=chunk, workers=workers,
                                       seed=seed, compress=compress)
        following = [] if progress is None else [
            self.session.events.batch_started.connect(progress),
            self.session.events.batch_progress.connect(progress),
        ]
        try:
            return self.session.run_batch(plan, out, scheduler=scheduler, workers=workers,
                                          resume=resume, overwrite=overwrite)
        finally:
            for disconnect in following:
                disconnect()

    def to_dask(
        self, sources: Mapping[str, Any], *, chunk: int | None = None, seed: int | None = None
    ) -> dict[str, Any]:
        """Every per-item product tensor as a lazy dask array chunked along the items.

        Compose them with your own dask or xarray code; computing one runs the graph chunk
        by chunk (a tensor whose per-item shape varies between items is left out).
        """
        plan = self.session.plan_batch(sources, chunk=chunk, seed=seed, all_tensors=True)
        return to_dask(plan)

    def run_item(
        self, sources: Mapping[str, Any], index: int, *, seed: int | None = None
    ) -> dict[str, np.ndarray]:
        """Every per-item tensor of item ``index`` of ``sources`` alone (axis 0 of length 1).

        Bit-for-bit the item's row in a :meth:`map` or :meth:`to_dask` with the same seed.
        """
        return run_items(self.model, sources, index, base_dir=self.session.resolve_dir,
                         seed=seed, memory_limit=self.session.engine.memory_limit)

    # ------------------------------------------------------------------ saving

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the graph atomically to ``path`` (default: where it was loaded); returns it.

        Saving into another folder rewrites relative file names so they still point at
        the same files; the graph then belongs to the new file.
        """
        target = Path(path) if path is not None else self._path
        if target is None:
            raise GraphError("the graph has no file yet: pass a path to save()")
        self.session.save(target)
        self._path = target
        return target

    def _tell_outside_files(self) -> None:
        """Warn once per set of outside files, before the run reads them."""
        outside = files_outside(self.model, self.base_dir)
        told = frozenset(str(item.path) for item in outside)
        if outside and told != getattr(self, "_told_outside", None):
            self._told_outside = told
            where = f"{self.path}: " if self.path is not None else ""
            warnings.warn(f"{where}{outside_files_note(outside)}", OutsideFilesWarning,
                          stacklevel=3)

    def _file(self) -> str | None:
        return None if self._path is None else str(self._path)

    def __repr__(self) -> str:
        where = f" from {self._path}" if self._path is not None else ""
        return f"<Graph{where}: {len(self.model)} nodes, {len(self.model.wires())} wires>"
