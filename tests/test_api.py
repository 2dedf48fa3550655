"""The scripting API: load, set literals and attrs, check, run, save."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blocks.errors import GraphError, GraphFileError, ValidationError
from graph.api import Graph, Results
from graph.model import GraphModel, PortRef

GRID = "{{0,1,2,3},{4,5,6,7},{8,9,10,11},{12,13,14,15}}"


def grid_graph(tmp_path: Path, *, file_input: bool = False) -> Path:
    """A 4x4 grid -> a 2x2 V2 glimpse at pixel (1,1); optionally the grid read from a .npy."""
    inputs = {"initvalues": GRID, "shape": "{1,4,4,1}"}
    if file_input:
        data = tmp_path / "data"
        data.mkdir()
        np.save(data / "grid.npy", np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
        inputs = {"file": "data/grid.npy"}
    path = tmp_path / "g.tbg.json"
    path.write_text(json.dumps({
        "format": "tensorblocks.graph", "version": 1,
        "nodes": [
            {"id": "grid", "block": "Input", "inputs": inputs, "pos": [0, 0]},
            {"id": "crop", "block": "ExtractGlimpseV2",
             "attrs": "centered_ = false;normalized_ = false;",
             "inputs": {"size": "{2,2}", "offsets": "{{1,1}}"}, "pos": [280, 0]},
        ],
        "edges": [{"from": "grid.output", "to": "crop.input"}],
        "ui": {"zoom": 2},
    }), encoding="utf-8")
    return path


def test_load_run_and_results(tmp_path: Path) -> None:
    g = Graph.load(grid_graph(tmp_path))
    assert isinstance(g.model, GraphModel) and g.model.node_ids() == ["grid", "crop"]
    results = g.run()
    assert isinstance(results, Results)
    assert sorted(results) == ["crop.glimpse", "grid.output"] and len(results) == 2
    np.testing.assert_array_equal(results["crop.glimpse"][0, :, :, 0], [[5, 6], [9, 10]])
    assert results.report.nodes["crop"].status == "ran"
    assert "crop.glimpse: [1, 2, 2, 1]" in repr(results)
    # The Graph keeps its engine: a second run reuses unchanged nodes (a glimpse may draw
    # noise, so it is reused only when the run is seeded).
    assert g.run().report.statuses() == {"grid": "cached", "crop": "ran"}
    g.run(seed=4)
    assert g.run(seed=4).report.statuses() == {"grid": "cached", "crop": "cached"}


def test_set_literal_text_and_values(tmp_path: Path) -> None:
    g = Graph.load(grid_graph(tmp_path))
    g.set("crop.size", "{3,3}")
    g.set("crop.offsets", [[0, 1]])
    assert g.model.node("crop").literals["offsets"] == "{{0,1}}"
    np.testing.assert_array_equal(
        g.run()["crop.glimpse"][0, :, :, 0], [[1, 2, 3], [5, 6, 7], [9, 10, 11]]
    )
    g.set("crop.offsets", np.array([[0.5, 2.0]], np.float32))
    assert g.model.node("crop").literals["offsets"] == "{{0.5,2.0}}"
    g.set("grid.dtype", np.dtype(np.float64))
    assert g.model.node("grid").literals["dtype"] == "DT_DOUBLE"
    g.set("crop.offsets", None)
    assert "offsets" not in g.model.node("crop").literals


def test_set_attrs_changes_the_run(tmp_path: Path) -> None:
    g = Graph.load(grid_graph(tmp_path))
    g.set_attrs("crop", "centered_ = true;normalized_ = false;")
    # V2 centred pixel offsets: top-left = offset + H/2 = (3,3); the rest is outside.
    g.set("crop.offsets", "{{-2,-2}}")
    np.testing.assert_array_equal(g.run()["crop.glimpse"][0, :, :, 0], [[0, 1], [4, 5]])


@pytest.mark.parametrize(
    ("address", "words"),
    [("ghost.size", "no node 'ghost'"), ("crop.sise", "has no input 'sise'"),
     ("crop", "node.port")],
)
def test_set_refuses_unknown_places(tmp_path: Path, address: str, words: str) -> None:
    g = Graph.load(grid_graph(tmp_path))
    with pytest.raises(GraphError, match=words):
        g.set(address, "1")
    with pytest.raises(GraphError, match="no node 'ghost'"):
        g.set_attrs("ghost", "")


def test_check_gives_every_port(tmp_path: Path) -> None:
    g = Graph.load(grid_graph(tmp_path))
    ports = g.check()
    assert ports["crop.glimpse"].shape == (1, 2, 2, 1)
    assert ports["crop.glimpse"].dtype == np.float32
    assert ports["crop.size"].shape == (2,)
    assert g.problems() == []


def test_invalid_graphs_raise_with_every_problem(tmp_path: Path) -> None:
    g = Graph.load(grid_graph(tmp_path))
    g.set("crop.size", "{2,")
    g.set_attrs("crop", "centred_ = true;")
    with pytest.raises(ValidationError) as info:
        g.run()
    assert len(info.value.problems) == 2
    assert info.value.file == str(tmp_path / "g.tbg.json")
    with pytest.raises(ValidationError):
        g.check()
    assert len(g.problems()) == 2
    partial = g.run(strict=False)
    assert "grid.output" in partial and "crop.glimpse" not in partial
    assert len(partial.report.problems) == 2
    assert "crop.glimpse" in g.check(strict=False)


def test_a_failing_node_raises_when_strict(tmp_path: Path) -> None:
    g = Graph.load(grid_graph(tmp_path))
    g.set("crop.offsets", "{{1,1},{2,2}}")  # two offsets for a batch of one
    with pytest.raises(ValidationError) as info:
        g.run()
    assert info.value.node == "crop"


def test_save_round_trips_and_keeps_extra_keys(tmp_path: Path) -> None:
    path = grid_graph(tmp_path)
    g = Graph.load(path)
    g.set("crop.size", "{3,3}")
    assert g.save() == path
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["ui"] == {"zoom": 2}
    assert saved["nodes"][1]["inputs"]["size"] == "{3,3}"
    assert Graph.load(path).model.node("crop").literals["size"] == "{3,3}"


@pytest.mark.filterwarnings("ignore::graph.api.OutsideFilesWarning")  # reads ../../data
def test_save_elsewhere_keeps_relative_files_reachable(tmp_path: Path) -> None:
    g = Graph.load(grid_graph(tmp_path, file_input=True))
    expected = g.run()["crop.glimpse"]
    other = tmp_path / "elsewhere" / "deeper"
    other.mkdir(parents=True)
    g.save(other / "moved.tbg.json")
    assert g.model.node("grid").literals["file"] == "../../data/grid.npy"
    assert g.base_dir == other.resolve()
    moved = Graph.load(other / "moved.tbg.json")
    np.testing.assert_array_equal(moved.run()["crop.glimpse"], expected)


def test_a_failed_save_changes_nothing(tmp_path: Path) -> None:
    g = Graph.load(grid_graph(tmp_path, file_input=True))
    with pytest.raises(GraphFileError):
        g.save(tmp_path / "missing" / "g.tbg.json")
    assert g.model.node("grid").literals["file"] == "data/grid.npy"
    assert g.path == tmp_path / "g.tbg.json"


def test_a_graph_made_in_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    g = Graph()
    g.model.add_node("Input", "x", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"})
    g.model.add_node("ExtractImagePatches", "p", literals={"ksizes": "{1,2,2,1}"})
    g.model.connect(PortRef.parse("x.output"), PortRef.parse("p.images"))
    np.testing.assert_array_equal(g.run()["p.patches"].reshape(-1), [1, 2, 3, 4])
    with pytest.raises(GraphError, match="no file yet"):
        g.save()
    assert g.save("made.tbg.json") == Path("made.tbg.json")
    assert Graph.load(tmp_path / "made.tbg.json").model.node_ids() == ["x", "p"]
    assert "2 nodes, 1 wires" in repr(g)


@pytest.mark.filterwarnings("ignore::graph.api.OutsideFilesWarning")  # moved next to tmp
def test_the_docstring_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import graph.api
    from assets import asset_path

    doc = graph.api.__doc__ or ""
    example = doc.split("Example::")[1].split("Contract:")[0]
    code = "\n".join(line[4:] for line in example.splitlines())
    code = code.replace('"assets/examples/', '"' + str(asset_path("examples")) + "/")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, "graph.api docstring", "exec"), namespace)  # our own docstring
    assert (tmp_path / "my_glimpses.tbg.json").is_file()
    results = namespace["results"]
    assert isinstance(results, Results)
    assert results["centre.glimpse"].shape == (1, 32, 32, 3)
    assert Graph.load(tmp_path / "my_glimpses.tbg.json").run(seed=1)["scene.output"].shape == (
        1, 128, 128, 3,
    )
    lazy: Any = namespace["lazy"]
    first: Any = namespace["first"]
    assert lazy["tiles.patches"].shape == (6, 3, 3, 768)
    assert (tmp_path / "tiles.zarr" / "tiles.patches").is_dir()
    np.testing.assert_array_equal(first["tiles.patches"][0], lazy["tiles.patches"][0].compute())


def test_a_graph_reading_outside_files_warns_once_before_running(tmp_path: Path) -> None:
    import warnings

    from graph.api import OutsideFilesWarning

    np.save(tmp_path / "data.npy", np.ones((1, 2, 2, 1), np.float32))
    (tmp_path / "g").mkdir()
    model = GraphModel()
    model.add_node("Input", "image", literals={"file": "../data.npy"}, pos=(0, 0))
    graph = Graph(model, base_dir=tmp_path / "g")
    with pytest.warns(OutsideFilesWarning, match=r"\.\./data\.npy"):
        graph.run()
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideFilesWarning)
        graph.run()  # told already
