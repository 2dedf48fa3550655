"""The session: one open graph and everything known about it, observable, without Qt.

The data flow of TensorBlocks is file -> model -> session -> engine -> results -> views: a
graph file loads into a :class:`~graph.model.GraphModel`; a :class:`Session` holds that model
with the folder its relative paths resolve against, the :class:`~graph.engine.Engine` (whose
cache carries over between runs), the latest inference, the latest run report, which of the
report's results are stale, and the selection. The editor's widgets, the scripting API
(:class:`graph.api.Graph`) and the command line all stand on a Session.

Contract:

* Every change is announced to subscribers, napari-style: ``session.events`` is a
  :class:`SessionEvents` group of :class:`Emitter` objects, one per kind of change, each
  carrying one event dataclass: ``events.model`` (every :class:`~graph.model.GraphEvent`
  of the model, forwarded), ``events.path`` (:class:`PathChanged`), ``events.inference``
  (:class:`InferenceChanged`), ``events.run_started`` (:class:`RunStarted`),
  ``events.report`` (:class:`ReportChanged`), ``events.stale`` (:class:`StaleChanged`) and
  ``events.selection`` (:class:`SelectionChanged`). ``emitter.connect(callback)`` returns
  a function that disconnects. A widget takes the session and connects to what it shows.
  Nothing here knows about threads: the editor calls from the GUI thread only.
* ``path`` is the graph file (``None`` while untitled); ``base_dir`` its folder (or the folder
  given explicitly, ``None`` while untitled); ``resolve_dir`` is where relative file names
  resolve now: ``base_dir``, else the current folder.
* Runs: :meth:`run` runs synchronously (the API and the command line);
  :meth:`begin_run` / :meth:`finish_run` bracket a run made elsewhere (the editor runs a
  copy of the model on a worker thread). A run's report replaces the previous one; the
  report of a run superseded by a later ``begin_run``, or of a graph since replaced
  (GraphReset), is ignored.
* Stale results: after a change that affects results (anything but a move), the changed
  node and everything downstream of it are stale if the report holds them — their results
  no longer match the graph — until a run covers them again. Changes made while a run is in
  progress stay stale when its report arrives (the run saw the graph before them). A
  :class:`~graph.model.GraphReset` (open, new) drops the report.
* Selection: ``select(ids)`` keeps the ids in the model (in the given order); removing or
  renaming a selected node updates it. Announced only when it changes.
* Batch runs over datasets (:mod:`graph.batch`): :meth:`plan_batch` maps datasets onto
  the session's graph (its folder and memory budget); :meth:`run_batch` runs a plan into a
  zarr store here and now (the API and the command line). Both announce on the batch
  group: ``events.batch_started`` (:class:`~graph.batch.BatchStarted`),
  ``events.batch_progress`` (:class:`~graph.batch.BatchProgress`, one per chunk) and
  ``events.batch_finished`` (:class:`~graph.batch.BatchFinished`: the summary, or the
  one-line error, or cancelled). The editor runs a batch on a worker thread and brings
  the events to the GUI thread through :meth:`batch_event`; ``batch`` is the latest
  finished batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from blocks.errors import GraphError, TensorBlocksError
from blocks.spec import DEFAULT_MEMORY_LIMIT
from graph.batch import (
    BatchCancelledError,
    BatchEvent,
    BatchFinished,
    BatchPlan,
    BatchProgress,
    BatchStarted,
    BatchSummary,
    plan_batch,
    run_batch,
)
from graph.edits import LiteralEdit, apply_edits, literal_target, rebase_changes
from graph.engine import Engine, ProgressEvent, RunReport
from graph.fileformat import graph_base_dir, load_graph, save_graph
from graph.infer import Inference, infer
from graph.model import (
    AttrsChanged,
    GraphEvent,
    GraphModel,
    GraphReset,
    LiteralChanged,
    NodeAdded,
    NodeMoved,
    NodeRemoved,
    NodeRenamed,
    PortCountChanged,
    PortRef,
    WireAdded,
    WireRemoved,
)

E = TypeVar("E")


class Emitter(Generic[E]):
    """Calls every connected callback with each event emitted, in connection order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[[E], Any]] = []

    def connect(self, callback: Callable[[E], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` on every emit; returns a function that disconnects it."""
        self._callbacks.append(callback)

        def disconnect() -> None:
            self.disconnect(callback)

        return disconnect

    def disconnect(self, callback: Callable[[E], Any]) -> None:
        """Stop calling ``callback`` (nothing happens if it is not connected)."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, event: E) -> None:
        """Call every callback with ``event`` (a callback may disconnect itself meanwhile)."""
        for callback in list(self._callbacks):
            callback(event)

    def __len__(self) -> int:
        return len(self._callbacks)

    def __repr__(self) -> str:
        return f"<Emitter {self.name}: {len(self._callbacks)} callbacks>"


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class PathChanged:
    """The graph belongs to another file (or none); relative names resolve in ``base_dir``."""

    path: Path | None
    base_dir: Path | None


@dataclass(frozen=True)
class InferenceChanged:
    """Shapes, dtypes and problems of the graph as it is now."""

    inference: Inference


@dataclass(frozen=True)
class RunStarted:
    """A run of the graph began (its report comes with a ReportChanged)."""

    seed: int | None


@dataclass(frozen=True)
class ReportChanged:
    """The latest run's report (``None``: no results, e.g. after opening another graph)."""

    report: RunReport | None


@dataclass(frozen=True)
class StaleChanged:
    """The nodes of the report whose results no longer match the graph."""

    nodes: frozenset[str]


@dataclass(frozen=True)
class SelectionChanged:
    """The selected nodes, the current one last."""

    nodes: tuple[str, ...]

    @property
    def current(self) -> str | None:
        """The node the inspector and the results panel show."""
        return self.nodes[-1] if self.nodes else None


class SessionEvents:
    """The session's emitters, one per kind of change (see the module docstring)."""

    def __init__(self) -> None:
        self.model: Emitter[GraphEvent] = Emitter("model")
        self.path: Emitter[PathChanged] = Emitter("path")
        self.inference: Emitter[InferenceChanged] = Emitter("inference")
        # Runs.
        self.run_started: Emitter[RunStarted] = Emitter("run_started")
        self.report: Emitter[ReportChanged] = Emitter("report")
        self.stale: Emitter[StaleChanged] = Emitter("stale")
        self.selection: Emitter[SelectionChanged] = Emitter("selection")
        # Batch runs over datasets.
        self.batch_started: Emitter[BatchStarted] = Emitter("batch_started")
        self.batch_progress: Emitter[BatchProgress] = Emitter("batch_progress")
        self.batch_finished: Emitter[BatchFinished] = Emitter("batch_finished")


# ----------------------------------------------------------------------------- the session


class Session:
    """One open graph and what is known about it; see the module docstring."""

    def __init__(
        self,
        model: GraphModel | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        engine: Engine | None = None,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        self.model = model if model is not None else GraphModel()
        self.events = SessionEvents()
        self.engine = engine if engine is not None else Engine(memory_limit=memory_limit)
        self._path: Path | None = None if path is None else Path(path).resolve()
        if base_dir is not None:
            self._base_dir: Path | None = Path(base_dir).resolve()
        elif self._path is not None:
            self._base_dir = graph_base_dir(self._path)
        else:
            self._base_dir = None
        self._inference: Inference | None = None
        self._report: RunReport | None = None
        self._stale: frozenset[str] = frozenset()
        #: Nodes changed since the current (or last) run began: stale once its report is in.
        self._changed_since_run: set[str] = set()
        self._run_serial = 0  # which begin_run the next report must answer
        self._running = False
        self._selection: tuple[str, ...] = ()
        self._batch: BatchFinished | None = None
        self.model.subscribe(self._on_model_event)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: Any) -> Session:
        """The graph in the file ``path`` (GraphFileError if it cannot be read)."""
        return cls(load_graph(path), path=path, **kwargs)

    # ------------------------------------------------------------------ file and folder

    @property
    def path(self) -> Path | None:
        """The graph file; ``None`` while untitled."""
        return self._path

    @property
    def base_dir(self) -> Path | None:
        """The folder relative file names resolve against; ``None`` while untitled."""
        return self._base_dir

    @property
    def resolve_dir(self) -> Path:
        """Where relative file names resolve now: ``base_dir``, else the current folder."""
        return self._base_dir if self._base_dir is not None else Path.cwd()

    def set_path(self, path: str | os.PathLike[str] | None) -> None:
        """The graph now belongs to ``path`` (``None``: untitled); announced if it changed."""
        new_path = None if path is None else Path(path).resolve()
        new_base = None if new_path is None else graph_base_dir(new_path)
        if (new_path, new_base) == (self._path, self._base_dir):
            return
        self._path, self._base_dir = new_path, new_base
        self.events.path.emit(PathChanged(new_path, new_base))

    def rebase_changes(self, target: str | os.PathLike[str]) -> list[LiteralEdit]:
        """The literal edits that keep relative file names valid once saved to ``target``
        (the first save of an untitled graph too: its names resolved in the current folder)."""
        return rebase_changes(self.model, self.resolve_dir, graph_base_dir(target))

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the graph atomically to ``path`` (default: its file), rebasing relative names
        first when the folder changes; the graph then belongs to that file."""
        target = Path(path).resolve() if path is not None else self._path
        if target is None:
            raise GraphError("the graph has no file yet: pass a path to save()")
        edits = self.rebase_changes(target)
        if edits:
            moved = self.model.copy()
            apply_edits(moved, edits)
            save_graph(moved, target)  # the model changes only once the file is written
            apply_edits(self.model, edits)
        else:
            save_graph(self.model, target)
        self.set_path(target)
        return target

    # ------------------------------------------------------------------ editing

    def set_literal(self, address: str | PortRef, text: str | None) -> None:
        """Type ``text`` into the input ``node.port`` (``None`` clears it), after
        :func:`graph.edits.literal_target`'s checks."""
        ref = address if isinstance(address, PortRef) else PortRef.parse(address)
        literal_target(self.model, ref)
        self.model.set_literal(ref.node, ref.port, text)

    # ------------------------------------------------------------------ inference

    @property
    def inference(self) -> Inference | None:
        """The latest inference (``None`` before the first :meth:`infer`)."""
        return self._inference

    def infer(self) -> Inference:
        """Infer every port's shape and dtype and the problems now; announced."""
        inference = infer(self.model, base_dir=self.resolve_dir,
                          memory_limit=self.engine.memory_limit)
        self._inference = inference
        self.events.inference.emit(InferenceChanged(inference))
        return inference

    # ------------------------------------------------------------------ runs

    @property
    def report(self) -> RunReport | None:
        """The latest run's report."""
        return self._report

    @property
    def stale(self) -> frozenset[str]:
        """The nodes of the report whose results no longer match the graph."""
        return self._stale

    def is_stale(self, node_id: str) -> bool:
        """Whether ``node_id``'s results in the report are out of date."""
        return node_id in self._stale

    def begin_run(self, seed: int | None = None) -> int:
        """A run of the model as it is now begins (announced); returns the run's number for
        :meth:`finish_run`."""
        self._run_serial += 1
        self._changed_since_run = set()
        self._running = True
        self.events.run_started.emit(RunStarted(seed))
        return self._run_serial

    def finish_run(self, report: RunReport | None, run: int | None = None) -> None:
        """The report of run number ``run`` (``None``: the latest) arrived: it replaces the
        previous one (announced), unless a later run began or the graph was replaced since;
        results of nodes changed since the run began stay stale."""
        if run is not None and run != self._run_serial:
            return
        self._running = False
        self._report = report
        self.events.report.emit(ReportChanged(report))
        nodes = set() if report is None else set(report.nodes)
        self._set_stale(frozenset(self._changed_since_run & nodes))

    def run(
        self,
        seed: int | None = None,
        *,
        progress: Callable[[ProgressEvent], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> RunReport:
        """Run the graph here and now (validation problems come back in the report)."""
        run = self.begin_run(seed)
        report = self.engine.run(self.model, base_dir=self.resolve_dir, seed=seed,
                                 progress=progress, cancel=cancel)
        self.finish_run(report, run)
        return report

    def clear_report(self) -> None:
        """Forget the latest report (announced)."""
        if self._report is not None or self._stale:
            self.finish_run(None)

    def _set_stale(self, nodes: frozenset[str]) -> None:
        if nodes != self._stale:
            self._stale = nodes
            self.events.stale.emit(StaleChanged(nodes))

    # ------------------------------------------------------------------ batch runs

    def plan_batch(self, sources: Mapping[str, Any], **options: Any) -> BatchPlan:
        """Map ``sources`` onto the graph (:func:`graph.batch.plan_batch`; ``options`` are its
        keywords), with the session's folder and memory budget."""
        options.setdefault("memory_limit", self.engine.memory_limit)
        options.setdefault("file", None if self._path is None else str(self._path))
        return plan_batch(self.model, sources, base_dir=self.resolve_dir, **options)

    def run_batch(
        self,
        plan: BatchPlan,
        out: str | os.PathLike[str],
        *,
        cancel: threading.Event | None = None,
        **options: Any,
    ) -> BatchSummary:
        """Run ``plan`` into the store ``out`` here and now (:func:`graph.batch.run_batch`),
        announcing its start, each chunk and its end; errors are announced, then raised."""
        try:
            summary = run_batch(plan, out, progress=self.batch_event, cancel=cancel, **options)
        except BatchCancelledError:
            self.batch_event(BatchFinished(None, None, cancelled=True))
            raise
        except TensorBlocksError as error:
            self.batch_event(BatchFinished(None, " ".join(str(error).split())))
            raise
        self.batch_event(BatchFinished(summary))
        return summary

    @property
    def batch(self) -> BatchFinished | None:
        """How the latest batch run ended (``None`` before the first)."""
        return self._batch

    def batch_event(self, event: BatchEvent | BatchFinished) -> None:
        """Announce a batch run's event on its emitter (call from the session's thread)."""
        if isinstance(event, BatchStarted):
            self.events.batch_started.emit(event)
        elif isinstance(event, BatchProgress):
            self.events.batch_progress.emit(event)
        else:
            self._batch = event
            self.events.batch_finished.emit(event)

    # ------------------------------------------------------------------ selection

    @property
    def selection(self) -> tuple[str, ...]:
        """The selected node ids, the current one last."""
        return self._selection

    @property
    def current_node(self) -> str | None:
        """The last selected node (the one the inspector and results panel show)."""
        return self._selection[-1] if self._selection else None

    def select(self, node_ids: Iterable[str]) -> None:
        """Select ``node_ids`` (those in the model, first occurrence kept); announced."""
        chosen = tuple(n for n in dict.fromkeys(node_ids) if n in self.model)
        if chosen != self._selection:
            self._selection = chosen
            self.events.selection.emit(SelectionChanged(chosen))

    # ------------------------------------------------------------------ model changes

    def _affected(self, event: GraphEvent) -> set[str]:
        """The nodes whose results ``event`` changes (the node and what lies downstream)."""
        if isinstance(event, NodeRemoved):
            return {event.node.id}
        if isinstance(event, NodeRenamed):
            # A noisy node's seed derives from its id: its results change with the name.
            origin, extra = event.new_id, {event.old_id}
        elif isinstance(event, WireAdded | WireRemoved):
            origin, extra = event.wire.dst.node, set()
        elif isinstance(event, LiteralChanged | AttrsChanged | PortCountChanged):
            origin, extra = event.node, set()
        elif isinstance(event, NodeAdded):
            origin, extra = event.node.id, set()
        else:
            return set()
        if origin not in self.model:
            return extra
        return extra | {origin} | self.model.downstream(origin)

    def _on_model_event(self, event: GraphEvent) -> None:
        if isinstance(event, GraphReset):
            self._run_serial += 1  # a run in progress ran the graph that was replaced
            self._changed_since_run = set()
            self.clear_report()
            self.select(())
        elif not isinstance(event, NodeMoved):
            # Only needed while a run is in progress or a report is shown.
            affected = (self._affected(event) if self._running or self._report is not None
                        else set())
            self._changed_since_run |= affected
            if self._report is not None and affected:
                self._set_stale(self._stale | (affected & set(self._report.nodes)))
            self._follow_selection(event)
        self.events.model.emit(event)

    def _follow_selection(self, event: GraphEvent) -> None:
        if isinstance(event, NodeRemoved) and event.node.id in self._selection:
            self.select(n for n in self._selection if n != event.node.id)
        elif isinstance(event, NodeRenamed) and event.old_id in self._selection:
            self._selection = tuple(event.new_id if n == event.old_id else n
                                    for n in self._selection)
            self.events.selection.emit(SelectionChanged(self._selection))
