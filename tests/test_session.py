"""The session without Qt: events, stale results, selection, paths, and the shared rules."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graph.stats
from blocks.errors import GraphError
from blocks.library import REGISTRY
from graph.api import Graph
from graph.edits import data_file_inputs, literal_target, new_node_attrs, rebase_changes
from graph.fileformat import load_graph
from graph.model import GraphModel, GraphReset, PortRef, snake_case
from graph.resolve import check_literal, literal_dtype, literal_problem
from graph.session import (
    InferenceChanged,
    PathChanged,
    ReportChanged,
    RunStarted,
    SelectionChanged,
    Session,
    StaleChanged,
)
from graph.stats import tensor_stats


def chain(tmp_path: Path | None = None) -> GraphModel:
    """grid -> crop -> tiles, everything typed in (no files)."""
    model = GraphModel()
    model.add_node("Input", "grid", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"})
    model.add_node("ExtractGlimpseV2", "crop", literals={"size": "{2,2}", "offsets": "{{0,0}}"})
    model.add_node("ExtractImagePatches", "tiles", literals={"ksizes": "{1,1,1,1}"})
    model.add_node("Input", "other", literals={"initvalues": "{1}"})
    model.connect(PortRef.parse("grid.output"), PortRef.parse("crop.input"))
    model.connect(PortRef.parse("crop.glimpse"), PortRef.parse("tiles.images"))
    return model


class Recorder:
    """Every event of every emitter of a session, as (emitter name, event)."""

    def __init__(self, session: Session) -> None:
        self.events: list[tuple[str, Any]] = []
        for name in ("model", "path", "inference", "run_started", "report", "stale",
                     "selection"):
            emitter = getattr(session.events, name)
            emitter.connect(lambda event, name=name: self.events.append((name, event)))

    def of(self, name: str) -> list[Any]:
        return [event for kind, event in self.events if kind == name]


# ----------------------------------------------------------------------------- events


def test_emitters_connect_and_disconnect() -> None:
    session = Session()
    seen: list[Any] = []
    disconnect = session.events.selection.connect(seen.append)
    session.model.add_node("Input", "a")
    session.select(["a"])
    session.select(["a"])  # no change: no event
    disconnect()
    session.select([])
    assert seen == [SelectionChanged(("a",))]
    assert len(session.events.selection) == 0


def test_inference_and_runs_are_announced() -> None:
    session = Session(chain())
    record = Recorder(session)
    inference = session.infer()
    assert record.of("inference") == [InferenceChanged(inference)]
    assert inference.ports["tiles.patches"].shape == (1, 2, 2, 1)
    report = session.run(seed=3)
    assert record.of("run_started") == [RunStarted(3)]
    assert record.of("report") == [ReportChanged(report)]
    assert session.report is report and report.ok
    assert record.of("stale") == []  # nothing was stale, nothing became stale


def test_model_events_are_forwarded() -> None:
    session = Session()
    record = Recorder(session)
    session.model.add_node("Input", "a")
    session.model.clear()
    assert [type(e).__name__ for e in record.of("model")] == ["NodeAdded", "GraphReset"]


# ----------------------------------------------------------------------------- stale


def test_an_edit_makes_the_node_and_what_is_downstream_stale_until_the_next_run() -> None:
    session = Session(chain())
    session.run()
    record = Recorder(session)
    session.model.set_literal("crop", "offsets", "{{0.5,0}}")
    assert session.stale == {"crop", "tiles"}
    assert record.of("stale") == [StaleChanged(frozenset({"crop", "tiles"}))]
    session.model.move("grid", (100.0, 0.0))  # a move changes no result
    session.model.set_literal("other", "initvalues", "{2}")
    assert session.stale == {"crop", "tiles", "other"}
    assert session.is_stale("other") and not session.is_stale("grid")
    session.run()
    assert session.stale == frozenset()
    assert record.of("stale")[-1] == StaleChanged(frozenset())


def test_wires_attrs_renames_and_removals_make_results_stale() -> None:
    session = Session(chain())
    session.run()
    session.model.disconnect(PortRef.parse("tiles.images"))
    assert session.stale == {"tiles"}
    session.run()
    session.model.set_attrs("crop", "centered_ = false;")
    assert session.stale == {"crop"}  # tiles is no longer downstream
    session.run()
    session.model.rename_node("grid", "source")
    assert session.stale == {"grid", "crop"}  # the old id's results, and downstream
    session.run()
    session.model.remove_node("other")
    assert session.stale == {"other"}


def test_edits_made_during_a_run_stay_stale_when_its_report_arrives() -> None:
    session = Session(chain())
    snapshot = session.model.copy()
    session.begin_run()
    session.model.set_literal("other", "initvalues", "{5}")  # after the run took its copy
    session.finish_run(session.engine.run(snapshot))
    assert session.stale == {"other"}
    assert session.report is not None and "other" in session.report.nodes


def test_a_report_of_a_replaced_graph_or_a_superseded_run_is_ignored() -> None:
    session = Session(chain())
    first = session.begin_run()
    report = session.engine.run(session.model.copy())
    session.model.replace_with(chain())  # opened another graph while the run was going
    session.finish_run(report, first)
    assert session.report is None
    first, second = session.begin_run(), session.begin_run()
    session.finish_run(report, first)
    assert session.report is None
    session.finish_run(report, second)
    assert session.report is report


def test_opening_another_graph_drops_the_report_and_the_selection() -> None:
    session = Session(chain())
    session.run()
    session.select(["crop"])
    session.model.set_literal("crop", "size", "{1,1}")
    record = Recorder(session)
    session.model.replace_with(chain())
    assert session.report is None and session.stale == frozenset()
    assert session.selection == ()
    names = [name for name, _ in record.events]
    assert names.index("report") < names.index("model")  # state first, then the reset
    assert isinstance(record.of("model")[-1], GraphReset)
    assert record.of("selection") == [SelectionChanged(())]


# ----------------------------------------------------------------------------- selection


def test_selection_follows_renames_and_removals() -> None:
    session = Session(chain())
    session.select(["grid", "ghost", "crop", "grid"])
    assert session.selection == ("grid", "crop") and session.current_node == "crop"
    session.model.rename_node("crop", "window")
    assert session.selection == ("grid", "window")
    session.model.remove_node("window")
    assert session.selection == ("grid",)


# ----------------------------------------------------------------------------- paths


def write_npy(folder: Path, name: str = "x.npy") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / name, np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1))
    return folder / name


def test_rebase_changes_list_edits_and_change_nothing(tmp_path: Path) -> None:
    model = GraphModel()
    model.add_node("Input", "a", literals={"file": "data/x.npy"})
    model.add_node("Input", "b", literals={"file": "arrays.npz:key"})
    model.add_node("Input", "c", literals={"file": str(tmp_path / "abs.npy")})
    model.add_node("Input", "d", literals={"initvalues": "1"})
    events: list[Any] = []
    model.subscribe(events.append)
    changes = rebase_changes(model, tmp_path / "old", tmp_path / "new" / "deeper")
    assert [(c.node, c.old, c.new) for c in changes] == [
        ("a", "data/x.npy", "../../old/data/x.npy"),
        ("b", "arrays.npz:key", "../../old/arrays.npz:key"),
    ]
    assert events == [] and model.node("a").literals["file"] == "data/x.npy"
    assert rebase_changes(model, tmp_path, tmp_path) == []


def test_the_first_save_rebases_names_typed_while_untitled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    write_npy(work / "data")
    monkeypatch.chdir(work)
    session = Session()
    session.model.add_node("Input", "x", literals={"file": "data/x.npy"})
    assert session.base_dir is None and session.resolve_dir == work
    assert session.infer().ok  # resolves against the current folder while untitled
    record = Recorder(session)
    target = tmp_path / "graphs" / "g.tbg.json"
    target.parent.mkdir()
    session.save(target)
    assert session.model.node("x").literals["file"] == "../work/data/x.npy"
    assert load_graph(target).node("x").literals["file"] == "../work/data/x.npy"
    assert record.of("path") == [PathChanged(target, target.parent)]
    monkeypatch.chdir(tmp_path)
    assert session.infer().ok and Session.load(target).infer().ok


@pytest.mark.filterwarnings("ignore::graph.api.OutsideFilesWarning")  # reads ../data
def test_the_api_saves_through_the_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_npy(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    g = Graph()
    g.model.add_node("Input", "x", literals={"file": "data/x.npy"})
    (tmp_path / "out").mkdir()
    g.save("out/g.tbg.json")
    assert g.model.node("x").literals["file"] == "../data/x.npy"
    assert g.base_dir == tmp_path / "out"
    assert Graph.load(tmp_path / "out" / "g.tbg.json").run()["x.output"].shape == (1, 2, 2, 1)


# ----------------------------------------------------------------------------- shared rules


def test_literal_target_is_the_one_override_check() -> None:
    model = chain()
    assert literal_target(model, PortRef.parse("crop.size")) is REGISTRY[
        "ExtractGlimpseV2"].input("size")
    with pytest.raises(GraphError, match="no node 'ghost'"):
        literal_target(model, PortRef.parse("ghost.size"))
    with pytest.raises(GraphError, match="has no input 'sise'"):
        literal_target(model, PortRef.parse("crop.sise"))
    with pytest.raises(GraphError, match=r"fed by a wire from 'grid\.output'"):
        literal_target(model, PortRef.parse("crop.input"))
    g = Graph(chain())
    with pytest.raises(GraphError, match="fed by a wire"):
        g.set("crop.input", "{1}")


def test_check_literal_judges_the_parsed_value() -> None:
    padding = REGISTRY["ExtractImagePatches"].input("padding")
    assert padding is not None
    assert check_literal(padding, '"SA\\ME"') == "SAME"  # the escape is part of the string
    assert literal_problem(padding, '"SA\\ME"') is None
    assert "expected one of SAME, VALID" in (literal_problem(padding, "same") or "")
    spec = REGISTRY["Input"]
    initvalues = spec.input("initvalues")
    assert initvalues is not None
    dtype = literal_dtype(spec, {"dtype": "DT_UINT8"})
    assert dtype == np.dtype(np.uint8)
    assert literal_problem(initvalues, "{300}", dtype) is not None
    assert literal_problem(initvalues, "{300}", literal_dtype(spec, {})) is None


def test_validation_agrees_with_check_literal() -> None:
    model = GraphModel()
    model.add_node("Input", "x", literals={"initvalues": "{{{{1}}}}"})
    model.add_node("ExtractImagePatches", "p", literals={"ksizes": "{1,1,1,1}",
                                                         "padding": '"SA\\ME"'})
    model.connect(PortRef.parse("x.output"), PortRef.parse("p.images"))
    assert Session(model).infer().problems == []
    model.set_literal("p", "padding", "same")
    assert [p.port for p in Session(model).infer().problems] == ["padding"]


def test_new_nodes_get_canonical_attrs_and_snake_case_ids() -> None:
    assert new_node_attrs(REGISTRY["ExtractGlimpse"]) == (
        "centered_ = true;normalized_ = true;uniform_noise_ = true;noise_ = uniform;"
    )
    assert new_node_attrs(REGISTRY["Input"]) == ""
    assert new_node_attrs(None) == ""
    assert snake_case("ExtractGlimpseV2") == "extract_glimpse_v2"
    assert GraphModel().add_node("ExtractImagePatches") == "extract_image_patches"


def test_a_dropped_data_file_becomes_its_reading_block(tmp_path: Path) -> None:
    path = tmp_path / "data" / "x.npy"
    path.parent.mkdir()
    np.save(path, np.zeros((1, 2, 2, 1), np.uint8))
    spec, blocks = data_file_inputs(REGISTRY, path, tmp_path)
    assert spec.name == "Input"
    assert blocks == [("x", {"file": "data/x.npy", "dtype": "DT_UINT8"})]
    np.savez(tmp_path / "pair.npz", a=np.zeros(2, np.float32), b=np.zeros(2, np.float32))
    _, pair = data_file_inputs(REGISTRY, tmp_path / "pair.npz", None)
    assert [stem for stem, _ in pair] == ["a", "b"]
    assert pair[0][1]["file"].endswith("pair.npz:a") and "dtype" not in pair[0][1]


# ----------------------------------------------------------------------------- statistics


def test_stats_match_numpy_on_non_contiguous_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph.stats, "STATS_CHUNK", 50)
    rng = np.random.default_rng(5)
    base = rng.standard_normal((7, 9, 11, 3)).astype(np.float32)
    base[1, 2, 3, 0] = np.nan
    base[2, 2, 2, 2] = np.inf
    view = base[:, ::2, 1:, ::-1].transpose(0, 2, 1, 3)
    assert not view.flags.c_contiguous
    stats = tensor_stats(view)
    values = view.astype(np.float64)
    finite = values[np.isfinite(values)]
    assert (stats.nan, stats.inf, stats.pos_inf) == (
        int(np.isnan(values).sum()), int(np.isinf(values).sum()),
        int((values == np.inf).sum()),
    )
    assert (stats.min, stats.max) == (finite.min(), finite.max())
    assert stats.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert stats.std == pytest.approx(finite.std(), rel=1e-9)
    complex_stats = tensor_stats(np.array([1 + 2j, 3 - 2j, np.nan], np.complex64))
    assert complex_stats.complex_mean == 2 + 0j and complex_stats.nan == 1


def test_stats_never_make_a_full_size_float64_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph.stats, "STATS_CHUNK", 1 << 16)
    array = np.ones((64, 256, 256), np.float32)[:, ::2, :]  # 2M elements, not contiguous
    assert not array.flags.c_contiguous
    tracemalloc.start()
    try:
        stats = tensor_stats(array)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full_copy = array.size * 8
    assert stats.mean == 1.0 and stats.size == array.size
    assert peak < full_copy / 2, f"peak {peak} bytes vs a full float64 copy of {full_copy}"
