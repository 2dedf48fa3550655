"""The undo commands: each does one model operation and undo restores the model exactly."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QUndoStack

from app.commands import (
    AddNode,
    Connect,
    Disconnect,
    MoveNodes,
    PasteGraph,
    RemoveNodes,
    RenameNode,
    SetAttrs,
    SetLiteral,
    graph_dict,
    push_macro,
)
from blocks.errors import GraphError, GraphFileError
from graph.model import GraphModel, PortRef, Wire


def snapshot(model: GraphModel) -> tuple[dict[str, object], set[Wire]]:
    nodes = {n.id: (n.block, n.attrs, dict(n.literals), n.pos, dict(n.port_counts))
             for n in model.nodes()}
    return nodes, set(model.wires())


@pytest.fixture
def model() -> GraphModel:
    m = GraphModel()
    m.add_node("Input", "image", literals={"initvalues": "{{1,2},{3,4}}"}, pos=(0, 0))
    m.add_node("Input", "offsets", literals={"initvalues": "{{0,0}}"}, pos=(0, 200))
    m.add_node(
        "ExtractGlimpse",
        "glimpse",
        attrs="noise_ = zero;",
        literals={"size": "{2,2}"},
        pos=(300, 0),
    )
    m.add_node("ExtractImagePatches", "patches", literals={"padding": "SAME"}, pos=(600, 0))
    m.connect(PortRef("image", "output"), PortRef("glimpse", "input"))
    m.connect(PortRef("offsets", "output"), PortRef("glimpse", "offsets"))
    m.connect(PortRef("glimpse", "glimpse"), PortRef("patches", "images"))
    return m


def test_add_node_keeps_its_id_across_undo_and_redo(model: GraphModel) -> None:
    stack = QUndoStack()
    command = AddNode(model, "ExtractGlimpseV2", pos=(40, 60), literals={"size": "{3,3}"})
    stack.push(command)
    node_id = command.node_id
    assert node_id == "extract_glimpse_v2"
    assert model.node(node_id).pos == (40.0, 60.0)
    assert model.node(node_id).literals == {"size": "{3,3}"}
    stack.undo()
    assert node_id not in model
    stack.redo()
    assert command.node_id == node_id and node_id in model


def test_remove_nodes_undo_restores_nodes_literals_attrs_and_wires(model: GraphModel) -> None:
    before = snapshot(model)
    stack = QUndoStack()
    stack.push(RemoveNodes(model, ["glimpse", "offsets"]))
    assert "glimpse" not in model and "offsets" not in model
    assert model.wires() == []
    stack.undo()
    assert snapshot(model) == before
    stack.redo()
    assert set(model.node_ids()) == {"image", "patches"}
    stack.undo()
    assert snapshot(model) == before


def test_connect_replacing_a_wire_restores_it_on_undo(model: GraphModel) -> None:
    stack = QUndoStack()
    dst = PortRef("glimpse", "input")
    stack.push(Connect(model, PortRef("offsets", "output"), dst))
    wire = model.wire_into(dst)
    assert wire is not None and wire.src == PortRef("offsets", "output")
    stack.undo()
    wire = model.wire_into(dst)
    assert wire is not None and wire.src == PortRef("image", "output")


def test_connect_an_existing_wire_is_a_no_op_whose_undo_keeps_it(model: GraphModel) -> None:
    stack = QUndoStack()
    dst = PortRef("glimpse", "input")
    command = Connect(model, PortRef("image", "output"), dst)
    command.redo()
    command.undo()
    assert model.wire_into(dst) == Wire(PortRef("image", "output"), dst)
    assert stack.count() == 0


def test_connect_refused_by_the_model_raises(model: GraphModel) -> None:
    with pytest.raises(GraphError, match="cycle"):
        Connect(model, PortRef("patches", "patches"), PortRef("glimpse", "size")).redo()


def test_disconnect_and_undo(model: GraphModel) -> None:
    stack = QUndoStack()
    dst = PortRef("glimpse", "offsets")
    stack.push(Disconnect(model, dst))
    assert model.wire_into(dst) is None
    stack.undo()
    assert model.wire_into(dst) == Wire(PortRef("offsets", "output"), dst)


def test_set_literal_and_attrs_undo(model: GraphModel) -> None:
    stack = QUndoStack()
    stack.push(SetLiteral(model, "glimpse", "size", "{5,5}"))
    stack.push(SetLiteral(model, "patches", "padding", None))
    stack.push(SetAttrs(model, "glimpse", "noise_ = gaussian;"))
    assert model.node("glimpse").literals["size"] == "{5,5}"
    assert "padding" not in model.node("patches").literals
    assert model.node("glimpse").attrs == "noise_ = gaussian;"
    assert stack.text(0) == "Set glimpse.size"
    stack.undo()
    stack.undo()
    stack.undo()
    assert model.node("glimpse").literals["size"] == "{2,2}"
    assert model.node("patches").literals["padding"] == "SAME"
    assert model.node("glimpse").attrs == "noise_ = zero;"


def test_move_nodes_merge_only_within_one_drag(model: GraphModel) -> None:
    stack = QUndoStack()
    stack.push(MoveNodes(model, {"image": ((0, 0), (20, 0))}, merge_key=1))
    stack.push(MoveNodes(model, {"image": ((20, 0), (40, 20))}, merge_key=1))
    assert stack.count() == 1
    stack.push(MoveNodes(model, {"image": ((40, 20), (60, 20))}))
    stack.push(MoveNodes(model, {"image": ((60, 20), (80, 20))}))
    assert stack.count() == 3
    assert model.node("image").pos == (80.0, 20.0)
    stack.undo()
    stack.undo()
    assert model.node("image").pos == (40.0, 20.0)
    stack.undo()
    assert model.node("image").pos == (0.0, 0.0)


def test_rename_node_undo(model: GraphModel) -> None:
    stack = QUndoStack()
    stack.push(RenameNode(model, "glimpse", "crop"))
    assert "crop" in model and model.wire_into(PortRef("crop", "input")) is not None
    stack.undo()
    assert "glimpse" in model and "crop" not in model
    assert model.wire_into(PortRef("patches", "images")) == Wire(
        PortRef("glimpse", "glimpse"), PortRef("patches", "images")
    )


def test_paste_gives_fresh_ids_and_keeps_only_inner_wires(model: GraphModel) -> None:
    data = graph_dict(model, ["offsets", "glimpse"])
    stack = QUndoStack()
    command = PasteGraph(model, data, offset=(40, 40))
    stack.push(command)
    assert command.node_ids == ["offsets_2", "glimpse_2"]
    assert model.node("glimpse_2").pos == (340.0, 40.0)
    assert "noise_ = zero;" in model.node("glimpse_2").attrs
    assert model.node("glimpse_2").literals["size"] == "{2,2}"
    # offsets -> glimpse was inside the copy; image -> glimpse was not.
    assert model.wire_into(PortRef("glimpse_2", "offsets")) == Wire(
        PortRef("offsets_2", "output"), PortRef("glimpse_2", "offsets")
    )
    assert model.wire_into(PortRef("glimpse_2", "input")) is None
    stack.undo()
    assert "glimpse_2" not in model and "offsets_2" not in model
    stack.redo()
    assert command.node_ids == ["offsets_2", "glimpse_2"]


def test_paste_refuses_data_that_is_not_a_graph(model: GraphModel) -> None:
    with pytest.raises(GraphFileError):
        PasteGraph(model, {"nodes": []})
    with pytest.raises(GraphFileError):
        PasteGraph(model, {"format": "tensorblocks.graph", "version": 1, "nodes": [{"id": 3}]})


def test_macro_is_one_undo_step(model: GraphModel) -> None:
    stack = QUndoStack()
    push_macro(
        stack,
        "Add and wire",
        [
            AddNode(model, "ExtractGlimpse", "second", pos=(0, 400)),
            Connect(model, PortRef("image", "output"), PortRef("second", "input")),
        ],
    )
    assert stack.count() == 1
    assert model.wire_into(PortRef("second", "input")) is not None
    stack.undo()
    assert "second" not in model


def test_pasting_a_numbered_copy_counts_on(model: GraphModel) -> None:
    stack = QUndoStack()
    first = PasteGraph(model, graph_dict(model, ["glimpse"]))
    stack.push(first)
    second = PasteGraph(model, graph_dict(model, first.node_ids))
    stack.push(second)
    assert first.node_ids == ["glimpse_2"] and second.node_ids == ["glimpse_3"]
