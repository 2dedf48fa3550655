"""Blocks with a variable number of inputs (ConcatV2's ``values``), end to end.

The declaration (node_inputs), the model's port counts and their undoable edit, validation
and inference naming node and port with TensorFlow's messages, the engine, ``check`` and
``run`` with ``--set``, a batch run mapping a variadic port, the scripting API, the canvas
(the "+" handle, a wire dropped on it, the right-click menu) and the inspector's spin box.
The file format's ``ports`` key is tested in test_fileformat.py, the multi-scale glimpse
example in test_examples.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QApplication
from test_canvas import Canvas as CanvasDriver  # the same mouse and view set-up

from app.canvas.items import AddPortHandle
from app.commands import PasteGraph, RemoveNodes, SetPortCount, graph_dict
from app.inspector import Inspector
from blocks.errors import GraphError, InvalidArgumentError
from blocks.library import REGISTRY
from blocks.spec import (
    InputPort,
    PortKind,
    RunContext,
    VariadicInput,
    node_input,
    node_inputs,
)
from graph.api import Graph
from graph.cli import main
from graph.edits import port_group, port_removal_problem
from graph.engine import Engine
from graph.fileformat import save_graph
from graph.infer import infer
from graph.model import (
    GraphEvent,
    GraphModel,
    LiteralChanged,
    PortCountChanged,
    PortRef,
    Wire,
    WireRemoved,
)
from graph.session import Session
from graph.validate import validate

CONCAT = REGISTRY["ConcatV2"]
ROOT = Path(__file__).resolve().parents[1]


def names(ports: tuple[InputPort, ...] | None) -> list[str]:
    return [port.name for port in ports or ()]


@pytest.fixture
def model() -> GraphModel:
    """Three inputs of [1,2], [1,3] and [1,1] joined along axis 1 by a 3-value ConcatV2."""
    m = GraphModel()
    m.add_node("Input", "a", literals={"initvalues": "{{1,2}}"}, pos=(0, 0))
    m.add_node("Input", "b", literals={"initvalues": "{{3,4,5}}"}, pos=(0, 240))
    m.add_node("Input", "c", literals={"initvalues": "{{6}}"}, pos=(0, 480))
    m.add_node("ConcatV2", "join", literals={"axis": "1"}, pos=(320, 120),
               port_counts={"values": 3})
    for index, source in enumerate("abc"):
        m.connect(PortRef(source, "output"), PortRef("join", f"values_{index}"))
    return m


def wires(model: GraphModel) -> set[str]:
    return {str(w) for w in model.wires()}


# ----------------------------------------------------------------------------- declaration


def test_node_inputs_spell_the_group_out_at_its_position() -> None:
    assert names(CONCAT.inputs) == ["axis"]
    assert names(node_inputs(CONCAT)) == ["values_0", "values_1", "axis"]
    three = node_inputs(CONCAT, {"values": 3})
    assert names(three) == ["values_0", "values_1", "values_2", "axis"]
    assert all(p.kind is PortKind.TENSOR and p.required for p in three[:3])
    assert node_inputs(CONCAT, {"values": 3}) is three  # made once per count
    assert node_input(CONCAT, {"values": 3}, "values_2") == three[2]
    assert node_input(CONCAT, {"values": 3}, "values_3") is None
    assert node_input(CONCAT, {"values": 3}, "values_02") is None
    assert node_input(CONCAT, None, "axis") == CONCAT.inputs[0]
    # A block without a group: its declared inputs, whatever the counts say.
    glimpse = REGISTRY["ExtractGlimpse"]
    assert node_inputs(glimpse, {"values": 9}) is glimpse.inputs


def test_a_group_can_sit_after_declared_inputs() -> None:
    group = VariadicInput("x", PortKind.TENSOR, position=1, min_count=1, default_count=1)
    spec = CONCAT.__class__(**{**CONCAT.__dict__, "variadic": group})
    assert names(node_inputs(spec, {"x": 2})) == ["axis", "x_0", "x_1"]
    assert group.index_of("x_10") == 10 and group.index_of("x_") is None
    assert group.index_of("y_1") is None
    assert group.count_problem(0) == "'x' takes 1 to 256 ports, got 0"
    assert group.count_problem(True) is not None and group.count_problem(1) is None


def test_the_kernel_gets_the_values_in_order() -> None:
    values = {f"values_{i}": np.full((1, i + 1), i, np.int32) for i in range(4)}
    out = CONCAT.run(RunContext({**values, "axis": np.int32(-1)}, {}))["output"]
    np.testing.assert_array_equal(out, [[0, 1, 1, 2, 2, 2, 3, 3, 3, 3]])


# ----------------------------------------------------------------------------- model


def test_a_new_node_gets_the_default_count_and_bad_counts_are_refused() -> None:
    m = GraphModel()
    m.add_node("ConcatV2", "join")
    assert dict(m.node("join").port_counts) == {"values": 2}
    assert names(m.inputs_of("join")) == ["values_0", "values_1", "axis"]
    for counts, words in [({"values": 1}, "takes 2 to 256 ports, got 1"),
                          ({"values": 257}, "got 257"),
                          ({"values": "3"}, "whole number"),
                          ({"items": 3}, "no variadic input group 'items'")]:
        with pytest.raises(GraphError, match=words):
            m.add_node("ConcatV2", "other", port_counts=counts)
    with pytest.raises(GraphError, match="Input has no variadic input group"):
        m.add_node("Input", "image", port_counts={"values": 2})
    assert m.node_ids() == ["join"]


def test_set_port_count_drops_wires_and_literals_of_the_ports_that_go(model: GraphModel) -> None:
    model.set_literal("join", "values_2", "{{7}}")  # kept under the wire
    events: list[GraphEvent] = []
    model.subscribe(events.append)
    dropped = model.set_port_count("join", "values", 2)
    assert dropped.wires == (Wire(PortRef("c", "output"), PortRef("join", "values_2")),)
    assert dict(dropped.literals) == {"values_2": "{{7}}"}
    assert [type(e) for e in events] == [WireRemoved, LiteralChanged, PortCountChanged]
    assert events[-1] == PortCountChanged("join", "values", 3, 2)
    assert "c.output -> join.values_2" not in wires(model)
    assert "values_2" not in model.node("join").literals
    assert names(model.inputs_of("join")) == ["values_0", "values_1", "axis"]
    # Raising it adds required, empty ports; nothing else changes.
    events.clear()
    assert model.set_port_count("join", "values", 4).wires == ()
    assert events == [PortCountChanged("join", "values", 2, 4)]
    assert model.set_port_count("join", "values", 4).wires == () and len(events) == 1
    with pytest.raises(GraphError, match="takes 2 to 256 ports, got 1"):
        model.set_port_count("join", "values", 1)
    with pytest.raises(GraphError, match="Input has no variadic input group 'values'"):
        model.set_port_count("a", "values", 3)
    assert model.node("join").port_counts["values"] == 4


def test_wiring_follows_the_count(model: GraphModel) -> None:
    assert model.can_connect(PortRef("a", "output"), PortRef("join", "values_3")) == (
        "'join.values_3' is not an input of ConcatV2")
    model.set_port_count("join", "values", 4)
    assert model.can_connect(PortRef("a", "output"), PortRef("join", "values_3")) is None


def test_undo_of_set_port_count_restores_wires_and_literals(model: GraphModel) -> None:
    model.set_literal("join", "values_1", "{{9}}")  # under b's wire
    model.set_literal("join", "values_2", "{{7}}")
    before = (wires(model), dict(model.node("join").literals), dict(model.node("join").port_counts))
    stack = QUndoStack()
    stack.push(SetPortCount(model, "join", "values", 2))
    assert stack.count() == 1 and "3 → 2" in stack.undoText()
    assert "c.output -> join.values_2" not in wires(model)
    assert dict(model.node("join").literals) == {"axis": "1", "values_1": "{{9}}"}
    stack.undo()
    after = (wires(model), dict(model.node("join").literals), dict(model.node("join").port_counts))
    assert after == before
    stack.redo()
    assert model.node("join").port_counts["values"] == 2
    stack.push(SetPortCount(model, "join", "values", 5))
    assert names(model.inputs_of("join"))[:5] == [f"values_{i}" for i in range(5)]
    stack.undo()
    stack.undo()
    assert (wires(model), dict(model.node("join").literals)) == before[:2]


def test_delete_undo_and_paste_keep_the_count(model: GraphModel) -> None:
    stack = QUndoStack()
    stack.push(RemoveNodes(model, ["join"]))
    stack.undo()
    assert model.node("join").port_counts["values"] == 3
    assert len(model.wires_into("join")) == 3
    data = graph_dict(model, ["a", "b", "c", "join"])
    assert data["nodes"][3]["ports"] == {"values": 3}
    paste = PasteGraph(model, data, offset=(40, 40))
    stack.push(paste)
    copy = paste.node_ids[3]
    assert model.node(copy).port_counts["values"] == 3
    assert len(model.wires_into(copy)) == 3


def test_removing_by_hand_takes_only_an_unwired_last_port(model: GraphModel) -> None:
    assert port_removal_problem(model, "join") == (
        "'values_2' is wired from 'c.output': disconnect it first")
    model.disconnect(PortRef("join", "values_2"))
    assert port_removal_problem(model, "join") is None
    model.set_port_count("join", "values", 2)
    assert port_removal_problem(model, "join") == "ConcatV2 takes at least 2 'values' ports"
    group = port_group(model, "join")
    assert group is not None and (group.next_port, group.last_port) == ("values_2", "values_1")
    assert port_group(model, "a") is None


# ----------------------------------------------------------------------------- inference, runs


def test_inference_joins_the_shapes_and_the_run_agrees(model: GraphModel) -> None:
    inference = infer(model)
    assert inference.problems == []
    info = inference.ports["join.output"]
    assert (info.shape, info.dtype) == ((1, 6), np.dtype(np.float32))
    report = Engine().run(model)
    assert report.ok if hasattr(report, "ok") else not report.problems
    np.testing.assert_array_equal(report.results["join.output"], [[1, 2, 3, 4, 5, 6]])


@pytest.mark.parametrize(
    ("edit", "port", "words"),
    [
        # TensorFlow's messages, named on the port that breaks the rule.
        (("c", "initvalues", "{6}"), "values_2",
         "ConcatOp : Ranks of all input tensors should match: shape[0] = [1,2] vs. "
         "shape[2] = [1]"),
        (("b", "initvalues", "{{3,4,5},{6,7,8}}"), "values_1",
         "ConcatOp : Dimension 0 in both shapes must be equal: shape[0] = [1,2] vs. "
         "shape[1] = [2,3]"),
        (("join", "axis", "2"), "axis",
         "ConcatOp : Expected concatenating dimensions in the range [-2, 2), but got 2"),
        (("join", "axis", "{0,1}"), "axis",
         "Concat dim tensor should be a scalar integer, but got shape [2]"),
        (("c", "dtype", "DT_INT32"), "values_2", "cannot compute ConcatV2 as input #2(zero-based) "
         "was expected to be a float tensor but is a int32 tensor"),
        (("a", "initvalues", "5"), "values_0",
         "ConcatOp : Can't concatenate scalars (use tf.stack instead)"),
    ],
)
def test_inference_raises_the_kernels_errors_naming_node_and_port(
    model: GraphModel, edit: tuple[str, str, str], port: str, words: str
) -> None:
    model.set_literal(*edit)
    problems = infer(model).problems
    assert [(p.node, p.block, p.port) for p in problems] == [("join", "ConcatV2", port)]
    assert problems[0].reason == f"{port}: {words}"
    assert isinstance(problems[0], InvalidArgumentError)
    # The kernel, run without the shape rule's help, raises the very same error.
    inputs = {f"values_{i}": Engine().run(model).results.get(f"{s}.output")
              for i, s in enumerate("abc")}
    axis = np.asarray(json.loads(model.node("join").literals["axis"].replace("{", "[")
                                 .replace("}", "]")), np.int32)
    with pytest.raises(InvalidArgumentError) as raised:
        CONCAT.run(RunContext({**inputs, "axis": axis}, {}))
    assert (raised.value.port, raised.value.reason) == (port, f"{port}: {words}")
    failed = Engine().run(model).nodes["join"]
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.port == port


def test_validation_names_missing_and_unknown_ports(model: GraphModel) -> None:
    model.set_port_count("join", "values", 4)
    model.set_literal("join", "values_7", "{{1}}")
    problems = validate(model)
    assert [(p.node, p.port) for p in problems] == [("join", "values_7"), ("join", "values_3")]
    assert problems[0].reason == (
        "unknown port 'values_7' of ConcatV2 (its inputs: values_0, values_1, values_2, "
        "values_3, axis)")
    assert problems[1].reason == "input 'values_3' is required: connect a wire or type a value"


def test_a_wired_axis_leaves_only_the_rank_known(model: GraphModel, tmp_path: Path) -> None:
    np.save(tmp_path / "axis.npy", np.int32(1))  # read at run time: unknown to inference
    model.add_node("Input", "axis", literals={"file": "axis.npy", "dtype": "DT_INT32"})
    model.connect(PortRef("axis", "output"), PortRef("join", "axis"))
    inference = infer(model, base_dir=tmp_path)
    assert inference.problems == []
    info = inference.ports["join.output"]
    assert (info.shape, info.dtype) == ((None, None), np.dtype(np.float32))
    np.testing.assert_array_equal(Engine().run(model, base_dir=tmp_path).results["join.output"],
                                  [[1, 2, 3, 4, 5, 6]])


def test_the_engine_reruns_when_the_count_changes(model: GraphModel) -> None:
    engine = Engine()
    model.disconnect(PortRef("join", "values_2"))
    model.set_literal("join", "values_2", "{{8.0,9.0}}")  # float32, as the others
    assert engine.run(model).results["join.output"].shape == (1, 7)
    model.set_port_count("join", "values", 2)  # values_2's literal goes with it
    report = engine.run(model)
    assert report.nodes["join"].status == "ran"
    np.testing.assert_array_equal(report.results["join.output"], [[1, 2, 3, 4, 5]])


# ----------------------------------------------------------------------------- CLI, batch, API


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


HALVES = "{{{{0.5},{0.5}},{{0.5},{0.5}}}}"


def concat_file(tmp_path: Path) -> Path:
    """A graph file: a [1,2,2,1] image joined with a typed [1,2,2,1] along channels."""
    m = GraphModel()
    m.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"})
    m.add_node("ConcatV2", "join", literals={"axis": "-1", "values_1": HALVES},
               port_counts={"values": 2}, pos=(300, 0))
    m.connect(PortRef("image", "output"), PortRef("join", "values_0"))
    path = tmp_path / "join.tbg.json"
    save_graph(m, path)
    return path


def test_check_and_run_a_graph_with_concat(tmp_path: Path) -> None:
    path = concat_file(tmp_path)
    code, out, err = call(["check", str(path)])
    assert code == 0, err
    assert any(line.startswith("join.values_1 ") and "[1,2,2,1]" in line
               for line in out.splitlines())
    assert any(line.startswith("join.output ") and "[1,2,2,2]" in line
               for line in out.splitlines())
    pairs = "{{{{5.0,6.0},{5.0,6.0}},{{5.0,6.0},{5.0,6.0}}}}"
    code, out, err = call(["run", str(path), "--set", f"join.values_1={pairs}",
                           "--out", str(tmp_path / "r.npz")])
    assert code == 0, err
    with np.load(tmp_path / "r.npz") as results:
        joined = results["join.output"]
    assert joined.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(joined[0, :, :, 0], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(joined[0, 1, 0], [3, 5, 6])
    # A port the node does not have: one line naming it and the node's inputs.
    code, out, err = call(["run", str(path), "--set", "join.values_2={{{0}}}"])
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "ConcatV2 has no input 'values_2' (its inputs: values_0, values_1, axis)" in err
    # A shape TensorFlow refuses: exit 1, one line naming node and port.
    code, out, err = call(["check", str(path), "--set", "join.values_1={{0.5}}"])
    assert code == 1 and err.count("\n") == 1
    assert "join" in err and "values_1" in err and "Ranks of all input tensors" in err


def test_a_batch_run_maps_a_variadic_port(tmp_path: Path) -> None:
    path = concat_file(tmp_path)
    extra = np.arange(5 * 4, dtype=np.float32).reshape(5, 2, 2, 1) + 100  # row i: item i
    np.save(tmp_path / "extra.npy", extra)
    images = np.arange(5 * 4, dtype=np.float32).reshape(5, 2, 2, 1)
    np.save(tmp_path / "images.npy", images)
    store = tmp_path / "out.zarr"
    code, out, err = call(["run", str(path), "--map", f"image={tmp_path / 'images.npy'}",
                           "--map", f"join.values_1={tmp_path / 'extra.npy'}",
                           "--out", str(store), "--chunk", "2"])
    assert code == 0, err
    assert out.startswith("5 items in 3 chunks")
    joined = np.asarray(zarr.open_group(store=str(store), mode="r")["join.output"][...])
    assert joined.shape == (5, 2, 2, 2)
    np.testing.assert_array_equal(joined[..., 0], images[..., 0])
    np.testing.assert_array_equal(joined[..., 1], extra[..., 0])
    code, _, err = call(["check", str(path), "--map",
                         f"join.values_7={tmp_path / 'extra.npy'}"])
    assert code != 0 and "ConcatV2 has no input 'values_7'" in err


def test_the_api_sets_counts_and_values(tmp_path: Path) -> None:
    graph = Graph.load(concat_file(tmp_path))
    graph.set_port_count("join", 3)
    graph.set("join.values_2", np.zeros((1, 2, 2, 2), np.float32))
    assert graph.check()["join.output"].shape == (1, 2, 2, 4)
    assert graph.run()["join.output"].shape == (1, 2, 2, 4)
    with pytest.raises(GraphError, match="Input has no variable number of inputs"):
        graph.set_port_count("image", 3)
    with pytest.raises(GraphError, match="takes 2 to 256 ports, got 300"):
        graph.set_port_count("join", 300)
    saved = graph.save(tmp_path / "again.tbg.json")
    assert json.loads(saved.read_text(encoding="utf-8"))["nodes"][1]["ports"] == {"values": 3}


def test_the_example_runs_over_the_sample_photos(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "assets" / "examples")
    maps = ["--map", "scenes=photos/*.png", "--map", "locations=photo_offsets.npy"]
    code, out, err = call(["check", "multiscale_glimpse.tbg.json", *maps])
    assert code == 0, err
    assert any(line.split()[:3] == ["scales.output", "[16,16,9]", "float32"]
               for line in out.splitlines())
    store = tmp_path / "sensor.zarr"
    code, _, err = call(["run", "multiscale_glimpse.tbg.json", *maps, "--out", str(store),
                         "--chunk", "4"])
    assert code == 0, err
    root = zarr.open_group(store=str(store), mode="r")
    sensor = np.asarray(root["sensor.patches"][...])
    assert sensor.shape == (6, 2, 2, 576)
    # Each item equals the graph run on that photo and location alone.
    graph = Graph.load("multiscale_glimpse.tbg.json")
    sources = {"scenes": "photos/*.png", "locations": "photo_offsets.npy"}
    for item in (0, 4):
        alone = graph.run_item(sources, item)
        np.testing.assert_array_equal(alone["sensor.patches"][0], sensor[item])
        # Channels 0-2 of the joined scales are the 16x16 glimpse itself.
        scales = alone["scales.output"][0]
        np.testing.assert_array_equal(scales[..., :3], alone["glimpse_16.glimpse"][0])


# ----------------------------------------------------------------------------- canvas


class Canvas(CanvasDriver):
    """test_canvas's driver (a view at 1:1 zoom, mouse drags and clicks as a person makes
    them), plus the session and the "+" handle."""

    def __init__(self, model: GraphModel, qtbot: Any) -> None:
        super().__init__(model, qtbot)
        self.session = self.scene.session

    def handle(self, node: str = "join") -> AddPortHandle:
        item = self.scene.node_item(node)
        assert item is not None and item.add_handle is not None
        return item.add_handle


@pytest.fixture
def canvas(model: GraphModel, qtbot: Any) -> Iterator[Canvas]:
    c = Canvas(model, qtbot)
    yield c
    c.scene.detach()


def test_the_block_shows_its_ports_and_a_plus_under_the_last(canvas: Canvas) -> None:
    item = canvas.scene.node_item("join")
    assert item is not None
    assert list(item.inputs) == ["values_0", "values_1", "values_2", "axis"]
    handle = canvas.handle()
    assert handle.next_port == "values_3" and handle.isVisible()
    y = handle.pos().y()
    assert item.inputs["values_2"].pos().y() < y < item.inputs["axis"].pos().y()
    # Big enough to hit at normal zoom, and inside the view.
    rect = canvas.view.mapFromScene(handle.sceneBoundingRect()).boundingRect()
    assert rect.width() >= 12 and rect.height() >= 12
    assert canvas.view.transform().m11() == 1.0
    assert canvas.view.viewport().rect().contains(canvas.to_view(handle.scene_centre()))


def test_clicking_the_plus_adds_a_port_in_one_undo_step(canvas: Canvas,
                                                        model: GraphModel) -> None:
    canvas.click(canvas.handle().scene_centre())
    assert model.node("join").port_counts["values"] == 4
    item = canvas.scene.node_item("join")
    assert item is not None and "values_3" in item.inputs
    assert canvas.handle().next_port == "values_4"
    # The wires into the rebuilt block still end on its ports.
    for index in range(3):
        wire_item = canvas.scene.wire_item(PortRef("join", f"values_{index}"))
        assert wire_item is not None and wire_item.dst_port is item.inputs[f"values_{index}"]
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    assert model.node("join").port_counts["values"] == 3
    item = canvas.scene.node_item("join")
    assert item is not None and "values_3" not in item.inputs


def test_a_wire_dropped_on_the_plus_adds_a_wired_port(canvas: Canvas, model: GraphModel) -> None:
    source = canvas.scene.port_item(PortRef("a", "output"), output=True)
    assert source is not None
    canvas.drag(source.scene_centre(), canvas.handle().scene_centre())
    assert model.node("join").port_counts["values"] == 4
    assert "a.output -> join.values_3" in wires(model)
    assert canvas.stack.count() == 1  # one undo step
    canvas.stack.undo()
    assert model.node("join").port_counts["values"] == 3
    assert "a.output -> join.values_3" not in wires(model)


def test_the_right_click_menu_removes_only_an_unwired_last_port(
    canvas: Canvas, model: GraphModel
) -> None:
    menus: list[Any] = []  # kept alive while their actions are used

    def actions() -> dict[str, Any]:
        item = canvas.scene.node_item("join")
        assert item is not None
        menus.append(canvas.scene.context_menu(item.sceneBoundingRect().center()))
        return {a.text(): a for a in menus[-1].actions() if a.text()}

    found = actions()
    removal = next(a for text, a in found.items() if text.startswith("Remove input values_2"))
    assert not removal.isEnabled() and "wired from 'c.output'" in removal.text()
    assert found["Add input values_3"].isEnabled()
    model.disconnect(PortRef("join", "values_2"))
    actions()["Remove input values_2"].trigger()
    assert model.node("join").port_counts["values"] == 2
    canvas.stack.undo()
    assert model.node("join").port_counts["values"] == 3


def test_a_port_count_change_keeps_the_selection(canvas: Canvas, model: GraphModel) -> None:
    canvas.scene.select_nodes(["join"])
    canvas.stack.push(SetPortCount(model, "join", "values", 5))
    item = canvas.scene.node_item("join")
    assert item is not None and item.isSelected()
    assert canvas.session.selection == ("join",)


# ----------------------------------------------------------------------------- inspector


def test_the_inspector_spin_box_sets_the_count(model: GraphModel, qtbot: Any) -> None:
    stack = QUndoStack()
    session = Session(model)
    inspector = Inspector(session, stack)
    qtbot.addWidget(inspector)
    inspector.show()
    session.select(["join"])
    qtbot.wait(5)
    spin = inspector.port_count_spin
    assert spin is not None and spin.value() == 3
    assert (spin.minimum(), spin.maximum()) == (2, 256)
    assert list(inspector.ports) == ["values_0", "values_1", "values_2", "axis"]
    spin.setValue(2)  # drops c's wire into values_2
    qtbot.wait(5)
    assert model.node("join").port_counts["values"] == 2
    assert "c.output -> join.values_2" not in wires(model)
    assert list(inspector.ports) == ["values_0", "values_1", "axis"]
    stack.undo()
    qtbot.wait(5)
    assert "c.output -> join.values_2" in wires(model)
    assert inspector.port_count_spin is not None and inspector.port_count_spin.value() == 3
    session.select(["a"])
    qtbot.wait(5)
    assert inspector.port_count_spin is None


def test_the_plus_is_not_clickable_where_it_is_not_drawn(canvas: Canvas,
                                                         model: GraphModel) -> None:
    canvas.view.scale(0.4, 0.4)  # far out: blocks show their titles only
    QApplication.processEvents()
    canvas.click(canvas.handle().scene_centre())
    assert model.node("join").port_counts["values"] == 3
    assert canvas.stack.count() == 0


def test_a_wire_that_would_close_a_cycle_adds_no_port(canvas: Canvas, model: GraphModel) -> None:
    output = canvas.scene.port_item(PortRef("join", "output"), output=True)
    assert output is not None
    canvas.drag(output.scene_centre(), canvas.handle().scene_centre())  # onto its own +
    assert model.node("join").port_counts["values"] == 3 and canvas.stack.count() == 0
    assert canvas.scene.add_group_port("join", src=PortRef("join", "output")) is None
    assert canvas.messages[-1] == (
        "Cannot connect join.output → join.values_3: it would make a cycle")
    assert canvas.stack.count() == 0
