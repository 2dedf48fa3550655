"""Runs on a worker thread: results come back as signals, Stop cancels, the GUI thread and
the model are never touched by the worker, and one Engine's cache carries across runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.runner import Runner
from graph.engine import Engine, NodeFinished, RunReport
from graph.model import GraphModel, PortRef


def chain(length: int = 3) -> GraphModel:
    """image -> p1 -> ... : Input and 1x1 ExtractImagePatches blocks."""
    model = GraphModel()
    model.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"})
    previous = "image.output"
    for index in range(1, length):
        node = f"p{index}"
        model.add_node("ExtractImagePatches", node, literals={"ksizes": "{1,1,1,1}"})
        model.connect(PortRef.parse(previous), PortRef(node, "images"))
        previous = f"{node}.patches"
    return model


class RecordingEngine(Engine):
    """Records the thread each run executes on and the model object it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[threading.Thread] = []
        self.models: list[GraphModel] = []

    def run(self, model: GraphModel, **kwargs: Any) -> RunReport:  # type: ignore[override]
        self.threads.append(threading.current_thread())
        self.models.append(model)
        return super().run(model, **kwargs)


class GatedEngine(Engine):
    """Holds each run after its first node until ``gate`` is set (or the run is cancelled)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.holding = threading.Event()

    def run(self, model: GraphModel, **kwargs: Any) -> RunReport:  # type: ignore[override]
        progress = kwargs.pop("progress", None)
        cancel: threading.Event = kwargs["cancel"]

        def hold(event: Any) -> None:
            if progress is not None:
                progress(event)
            if isinstance(event, NodeFinished) and event.index == 0:
                self.holding.set()
                while not (self.gate.is_set() or cancel.is_set()):
                    self.gate.wait(0.01)

        return super().run(model, progress=hold, **kwargs)


class BrokenEngine(Engine):
    def run(self, model: GraphModel, **kwargs: Any) -> RunReport:  # type: ignore[override]
        raise RuntimeError("engine exploded")


def test_a_run_executes_on_a_worker_thread_and_reports(qtbot) -> None:  # type: ignore[no-untyped-def]
    engine = RecordingEngine()
    runner = Runner(engine)
    model = chain(3)
    fractions: list[float] = []
    runner.progress.connect(lambda fraction, _text: fractions.append(fraction))
    with qtbot.waitSignal(runner.runFinished, timeout=20_000) as blocker:
        runner.start(model)
        assert runner.running
    report = blocker.args[0]
    assert isinstance(report, RunReport) and report.ok
    assert report.statuses() == {"image": "ran", "p1": "ran", "p2": "ran"}
    np.testing.assert_array_equal(
        report.results["p2.patches"], np.array([[[[1], [2]], [[3], [4]]]], np.float32)
    )
    assert engine.threads[0] is not threading.main_thread()
    assert engine.models[0] is not model  # the worker ran a copy
    assert fractions and fractions[-1] == pytest.approx(1.0)
    assert not runner.running and runner.last_report is report


def test_one_engine_caches_across_runs(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = Runner()
    model = chain(3)
    with qtbot.waitSignal(runner.runFinished, timeout=20_000):
        runner.start(model)
    model.set_literal("p2", "strides", "{1,2,2,1}")
    with qtbot.waitSignal(runner.runFinished, timeout=20_000) as blocker:
        runner.start(model)
    assert blocker.args[0].statuses() == {"image": "cached", "p1": "cached", "p2": "ran"}


def test_stop_cancels_the_rest_of_the_run(qtbot) -> None:  # type: ignore[no-untyped-def]
    engine = GatedEngine()
    runner = Runner(engine)
    with qtbot.waitSignal(runner.runFinished, timeout=20_000) as blocker:
        runner.start(chain(4))
        assert engine.holding.wait(10)
        runner.stop()
    report = blocker.args[0]
    assert report.cancelled
    assert report.statuses()["image"] == "ran"
    assert [report.statuses()[n] for n in ("p1", "p2", "p3")] == ["cancelled"] * 3


def test_edits_during_a_run_do_not_reach_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    engine = GatedEngine()
    runner = Runner(engine)
    model = chain(3)
    with qtbot.waitSignal(runner.runFinished, timeout=20_000) as blocker:
        runner.start(model)
        assert engine.holding.wait(10)
        model.rename_node("p2", "renamed")
        model.remove_node("p1")
        engine.gate.set()
    report = blocker.args[0]
    assert report.ok and set(report.nodes) == {"image", "p1", "p2"}


def test_a_start_during_a_run_cancels_it_and_runs_the_latest_graph(qtbot) -> None:  # type: ignore[no-untyped-def]
    engine = GatedEngine()
    runner = Runner(engine)
    model = chain(3)
    reports: list[RunReport] = []
    runner.runFinished.connect(reports.append)
    runner.start(model)
    assert engine.holding.wait(10)
    model.rename_node("p2", "last")
    runner.start(model)  # cancels the held run and queues this one
    qtbot.waitUntil(lambda: len(reports) == 1, timeout=20_000)
    assert reports[0].cancelled and set(reports[0].nodes) == {"image", "p1", "p2"}
    engine.gate.set()
    qtbot.waitUntil(lambda: len(reports) == 2 and not runner.running, timeout=20_000)
    assert set(reports[1].nodes) == {"image", "p1", "last"} and reports[1].ok


def test_an_engine_failure_is_a_signal_not_a_crash(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = Runner(BrokenEngine())
    with qtbot.waitSignal(runner.runFailed, timeout=20_000) as blocker:
        runner.start(chain(2))
    assert "engine exploded" in blocker.args[0]
    assert not runner.running


def test_wait_and_shutdown(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = GatedEngine()
    runner = Runner(engine)
    runner.start(chain(3))
    assert engine.holding.wait(10)
    assert not runner.wait(50)  # still held
    runner.shutdown()
    assert runner.wait(10_000)
    assert not runner.running


def test_a_session_runner_reports_to_the_session_and_keeps_mid_run_edits_stale(qtbot) -> None:  # type: ignore[no-untyped-def]
    from graph.session import Session

    engine = GatedEngine()
    session = Session(chain(3), engine=engine)
    runner = Runner(session=session)
    assert runner.engine is engine
    reports: list[Any] = []
    session.events.report.connect(lambda event: reports.append(event.report))
    with qtbot.waitSignal(runner.runFinished, timeout=20_000) as blocker:
        runner.start()
        qtbot.waitUntil(engine.holding.is_set, timeout=10_000)
        session.model.set_literal("p2", "strides", "{1,2,2,1}")  # after the copy was taken
        engine.gate.set()
    assert reports == [blocker.args[0]] and session.report is blocker.args[0]
    assert session.stale == {"p2"}  # the run saw the graph before the edit
    with qtbot.waitSignal(runner.runFinished, timeout=20_000):
        runner.start()
    assert session.stale == frozenset() and session.report is not None
    assert session.report.statuses()["p2"] == "ran"


def test_a_superseded_session_run_does_not_reach_the_session(qtbot) -> None:  # type: ignore[no-untyped-def]
    from graph.session import Session

    engine = GatedEngine()
    session = Session(chain(3), engine=engine)
    runner = Runner(session=session)
    reports: list[Any] = []
    session.events.report.connect(lambda event: reports.append(event.report))
    finished: list[RunReport] = []
    runner.runFinished.connect(finished.append)
    runner.start()
    qtbot.waitUntil(engine.holding.is_set, timeout=10_000)
    runner.start()  # cancels the first run and queues a second
    engine.gate.set()  # the queued run must not wait at the gate
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=20_000)
    assert finished[0].cancelled and finished[1].ok
    assert reports == [finished[1]]  # only the latest run's report counts
