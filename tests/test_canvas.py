"""The canvas, driven as a person would: mouse drags on the viewport, typing, shortcuts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication, QMouseEvent, QUndoStack
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.canvas import DARK, LIGHT, GraphScene, GraphView
from app.canvas.items import PortItem, WireItem
from app.canvas.quick_add import match_blocks
from app.canvas.scene import GRAPH_MIME
from blocks.errors import TensorBlocksError
from blocks.library import REGISTRY
from graph.engine import NodeReport, RunReport
from graph.infer import Inference, infer
from graph.model import GraphModel, PortRef, Wire
from graph.session import Session

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def model() -> GraphModel:
    m = GraphModel()
    m.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"}, pos=(0, 0))
    m.add_node("Input", "offsets", literals={"initvalues": "{{0,0}}"}, pos=(0, 240))
    m.add_node("ExtractGlimpse", "glimpse", literals={"size": "{1,1}"}, pos=(320, 0))
    m.add_node("ExtractImagePatches", "patches", pos=(640, 0))
    m.connect(PortRef("image", "output"), PortRef("glimpse", "input"))
    return m


class Canvas:
    def __init__(self, model: GraphModel, qtbot: object) -> None:
        self.model = model
        self.stack = QUndoStack()
        self.scene = GraphScene(Session(model), self.stack)
        self.view = GraphView(self.scene)
        self.messages: list[str] = []
        self.scene.statusMessage.connect(self.messages.append)
        self.view.resize(1200, 700)
        qtbot.addWidget(self.view)  # type: ignore[attr-defined]
        self.view.show()
        qtbot.waitExposed(self.view)  # type: ignore[attr-defined]
        self.view.resetTransform()
        self.view.centerOn(500, 200)
        QApplication.processEvents()

    # -- coordinates
    def port_pos(self, node: str, port: str, *, output: bool) -> QPointF:
        item = self.scene.port_item(PortRef(node, port), output=output)
        assert item is not None, f"no port {node}.{port}"
        return item.scene_centre()

    def to_view(self, scene_pos: QPointF) -> QPoint:
        return self.view.mapFromScene(scene_pos)

    # -- mouse, as a person: press, a few moves with the button held, release
    def send(
        self,
        kind: QEvent.Type,
        pos: QPoint,
        button: Qt.MouseButton,
        buttons: Qt.MouseButton,
        mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
    ) -> None:
        viewport = self.view.viewport()
        event = QMouseEvent(
            kind, QPointF(pos), QPointF(viewport.mapToGlobal(pos)), button, buttons, mods
        )
        QApplication.sendEvent(viewport, event)

    def drag(
        self,
        start: QPointF,
        end: QPointF,
        mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
        button: Qt.MouseButton = Qt.MouseButton.LeftButton,
    ) -> None:
        a, b = self.to_view(start), self.to_view(end)
        self.send(QEvent.Type.MouseButtonPress, a, button, button, mods)
        steps = 6
        for i in range(1, steps + 1):
            p = QPoint(a.x() + (b.x() - a.x()) * i // steps, a.y() + (b.y() - a.y()) * i // steps)
            self.send(QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button, mods)
        self.send(QEvent.Type.MouseButtonRelease, b, button, Qt.MouseButton.NoButton, mods)
        QApplication.processEvents()

    def click(
        self, scene_pos: QPointF, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
    ) -> None:
        QTest.mouseClick(
            self.view.viewport(), Qt.MouseButton.LeftButton, mods, self.to_view(scene_pos)
        )
        QApplication.processEvents()

    def field_centre(self, node: str, port: str) -> QPointF:
        item = self.scene.node_item(node)
        assert item is not None
        rect = item.field_scene_rect(port)
        assert rect is not None
        return rect.center()


@pytest.fixture
def canvas(model: GraphModel, qtbot: object) -> Iterator[Canvas]:
    c = Canvas(model, qtbot)
    yield c
    c.scene.detach()


def wires(model: GraphModel) -> set[str]:
    return {str(w) for w in model.wires()}


# ----------------------------------------------------------------------------- mirroring


def test_scene_mirrors_the_model(canvas: Canvas, model: GraphModel) -> None:
    scene = canvas.scene
    assert {i.node_id for i in scene.node_items()} == set(model.node_ids())
    assert len(scene.wire_items()) == 1
    model.add_node("ExtractGlimpseV2", "v2", pos=(100, 500))
    assert scene.node_item("v2") is not None
    assert scene.node_item("v2").pos() == QPointF(100, 500)  # type: ignore[union-attr]
    model.connect(PortRef("offsets", "output"), PortRef("v2", "offsets"))
    wire_item = scene.wire_item(PortRef("v2", "offsets"))
    assert wire_item is not None
    model.rename_node("v2", "window")
    assert scene.node_item("v2") is None and scene.node_item("window") is not None
    assert scene.wire_item(PortRef("window", "offsets")) is wire_item
    assert wire_item.wire.dst == PortRef("window", "offsets")
    model.move("window", (140, 520))
    assert scene.node_item("window").pos() == QPointF(140, 520)  # type: ignore[union-attr]
    # the wire follows the move
    assert wire_item.path().currentPosition() == canvas.port_pos("window", "offsets", output=False)
    model.remove_node("window")
    assert scene.node_item("window") is None
    assert scene.wire_item(PortRef("window", "offsets")) is None
    assert len(scene.wire_items()) == 1
    model.clear()
    assert scene.node_items() == [] and scene.wire_items() == []


def test_literal_and_wire_changes_show_in_the_node(canvas: Canvas, model: GraphModel) -> None:
    item = canvas.scene.node_item("glimpse")
    assert item is not None
    assert item.field_scene_rect("input") is None  # wired: no field
    assert item.field_scene_rect("offsets") is not None
    model.connect(PortRef("offsets", "output"), PortRef("glimpse", "offsets"))
    assert item.field_scene_rect("offsets") is None
    model.disconnect(PortRef("glimpse", "offsets"))
    assert item.field_scene_rect("offsets") is not None
    model.set_literal("glimpse", "size", "{1,")
    assert "size" in item.literal_errors
    model.set_literal("glimpse", "size", "{3,3}")
    assert "size" not in item.literal_errors


# ----------------------------------------------------------------------------- wiring


def test_drag_from_output_to_input_makes_a_wire(canvas: Canvas, model: GraphModel) -> None:
    canvas.drag(
        canvas.port_pos("offsets", "output", output=True),
        canvas.port_pos("glimpse", "offsets", output=False),
    )
    assert "offsets.output -> glimpse.offsets" in wires(model)
    assert canvas.scene.wire_item(PortRef("glimpse", "offsets")) is not None
    canvas.stack.undo()
    assert "offsets.output -> glimpse.offsets" not in wires(model)


def test_drag_from_an_unwired_input_back_to_an_output(canvas: Canvas, model: GraphModel) -> None:
    canvas.drag(
        canvas.port_pos("patches", "images", output=False),
        canvas.port_pos("glimpse", "glimpse", output=True),
    )
    assert "glimpse.glimpse -> patches.images" in wires(model)


def test_drop_near_a_port_snaps_to_it(canvas: Canvas, model: GraphModel) -> None:
    target = canvas.port_pos("glimpse", "offsets", output=False) + QPointF(6, 5)
    canvas.drag(canvas.port_pos("offsets", "output", output=True), target)
    assert "offsets.output -> glimpse.offsets" in wires(model)


def test_incompatible_drops_make_no_wire_and_say_why(canvas: Canvas, model: GraphModel) -> None:
    before = wires(model)
    # output onto output
    canvas.drag(
        canvas.port_pos("offsets", "output", output=True),
        canvas.port_pos("glimpse", "glimpse", output=True),
    )
    # a wire into a string port
    canvas.drag(
        canvas.port_pos("glimpse", "glimpse", output=True),
        canvas.port_pos("patches", "padding", output=False),
    )
    # a wire that would close a cycle
    canvas.drag(
        canvas.port_pos("glimpse", "glimpse", output=True),
        canvas.port_pos("image", "shape", output=False),
    )
    assert wires(model) == before
    assert canvas.stack.count() == 0
    assert len(canvas.messages) == 3
    assert "both are outputs" in canvas.messages[0]
    assert "padding" in canvas.messages[1] and "not a wire" in canvas.messages[1]
    assert "cycle" in canvas.messages[2]
    # ports are back to normal after the drag
    states = {p.state for n in canvas.scene.node_items() for p in n.inputs.values()}
    assert states == {PortItem.NORMAL}


def test_ports_are_highlighted_while_dragging(canvas: Canvas) -> None:
    scene = canvas.scene
    start = canvas.view.mapFromScene(canvas.port_pos("glimpse", "glimpse", output=True))
    middle = start + QPoint(40, 60)
    canvas.send(
        QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton
    )
    canvas.send(QEvent.Type.MouseMove, middle, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
    assert scene.wire_drag_active
    patches_images = scene.port_item(PortRef("patches", "images"), output=False)
    image_shape = scene.port_item(PortRef("image", "shape"), output=False)  # upstream: a cycle
    padding = scene.port_item(PortRef("patches", "padding"), output=False)  # takes no wire
    assert patches_images is not None and image_shape is not None and padding is not None
    assert patches_images.state == PortItem.COMPATIBLE
    assert image_shape.state == PortItem.INCOMPATIBLE
    assert padding.state == PortItem.INCOMPATIBLE
    canvas.send(
        QEvent.Type.MouseButtonRelease, middle, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    )
    assert not scene.wire_drag_active
    assert patches_images.state == PortItem.NORMAL


def test_wiring_an_occupied_input_replaces_its_wire_in_one_step(
    canvas: Canvas, model: GraphModel
) -> None:
    canvas.drag(
        canvas.port_pos("offsets", "output", output=True),
        canvas.port_pos("glimpse", "input", output=False),
    )
    assert model.wire_into(PortRef("glimpse", "input")) == Wire(
        PortRef("offsets", "output"), PortRef("glimpse", "input")
    )
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    assert model.wire_into(PortRef("glimpse", "input")) == Wire(
        PortRef("image", "output"), PortRef("glimpse", "input")
    )


def test_dragging_a_wire_off_an_input_detaches_or_rewires_it(
    canvas: Canvas, model: GraphModel
) -> None:
    # lift image -> glimpse.input and drop it on glimpse.offsets: re-wired, one step
    canvas.drag(
        canvas.port_pos("glimpse", "input", output=False),
        canvas.port_pos("glimpse", "offsets", output=False),
    )
    assert wires(model) == {"image.output -> glimpse.offsets"}
    assert canvas.stack.count() == 1
    # lift it again and drop it on empty canvas: disconnected
    canvas.drag(
        canvas.port_pos("glimpse", "offsets", output=False),
        canvas.port_pos("glimpse", "offsets", output=False) + QPointF(-120, 300),
    )
    assert wires(model) == set()
    assert canvas.view.quick_add is None  # a lifted wire dropped on nothing just goes
    canvas.stack.undo()
    canvas.stack.undo()
    assert wires(model) == {"image.output -> glimpse.input"}
    assert canvas.scene.wire_item(PortRef("glimpse", "input")).isVisible()  # type: ignore[union-attr]


def test_dropping_a_wire_on_empty_canvas_offers_blocks_wired_to_it(
    canvas: Canvas, model: GraphModel, qtbot: object
) -> None:
    drop = canvas.port_pos("glimpse", "glimpse", output=True) + QPointF(140, 260)
    canvas.drag(canvas.port_pos("glimpse", "glimpse", output=True), drop)
    popup = canvas.view.quick_add
    assert popup is not None and popup.isVisible()
    QTest.keyClicks(popup.search, "patch")
    assert popup.names() == ["ExtractImagePatches"]
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    new_id = "extract_image_patches"
    assert new_id in model
    assert model.wire_into(PortRef(new_id, "images")) == Wire(
        PortRef("glimpse", "glimpse"), PortRef(new_id, "images")
    )
    # the new block's input port sits where the wire was dropped (on the grid)
    port = canvas.port_pos(new_id, "images", output=False)
    assert abs(port.x() - drop.x()) <= 10 and abs(port.y() - drop.y()) <= 10
    assert canvas.scene.selected_node_ids() == [new_id]
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    assert new_id not in model


def test_tab_opens_quick_add_and_arrows_pick(canvas: Canvas, model: GraphModel) -> None:
    canvas.view.setFocus()
    QTest.keyClick(canvas.view, Qt.Key.Key_Tab)
    popup = canvas.view.quick_add
    assert popup is not None
    assert popup.names() == list(REGISTRY)
    QTest.keyClicks(popup.search, "glimpse")
    assert popup.names() == ["ExtractGlimpse", "ExtractGlimpseV2"]
    QTest.keyClick(popup.search, Qt.Key.Key_Down)
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert "extract_glimpse_v2" in model


def test_match_blocks_ranks_names_then_words_then_substrings() -> None:
    specs = list(REGISTRY.values())
    assert [s.name for s in match_blocks(specs, "")] == list(REGISTRY)
    assert [s.name for s in match_blocks(specs, "inp")] == ["Input"]
    assert [s.name for s in match_blocks(specs, "im2col")] == ["ExtractImagePatches"]
    assert [s.name for s in match_blocks(specs, "extract v2")] == ["ExtractGlimpseV2"]
    assert match_blocks(specs, "nothing-like-this") == []


# ----------------------------------------------------------------------------- literals


def test_typing_into_an_inline_literal_sets_it(canvas: Canvas, model: GraphModel) -> None:
    canvas.click(canvas.field_centre("glimpse", "size"))
    editor = canvas.scene.literal_editor()
    assert editor is not None and editor.text() == "{1,1}"
    QTest.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(editor, "{2,3}")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert model.node("glimpse").literals["size"] == "{2,3}"
    assert canvas.scene.literal_editor() is None
    canvas.stack.undo()
    assert model.node("glimpse").literals["size"] == "{1,1}"


def test_far_zoomed_out_a_click_on_a_hidden_field_selects_the_block(
    canvas: Canvas, model: GraphModel
) -> None:
    # Found in a real window: at 43% a click where the size field would be opened its
    # editor over the block's large title, though no field is drawn at that zoom.
    target = canvas.field_centre("glimpse", "size")
    canvas.view.scale(0.4, 0.4)  # far out: blocks show their titles only
    QApplication.processEvents()
    canvas.click(target)
    assert canvas.scene.literal_editor() is None
    assert canvas.scene.selected_node_ids() == ["glimpse"]
    canvas.view.scale(2.5, 2.5)  # back to 1:1: the same click edits the field
    QApplication.processEvents()
    canvas.click(target)
    assert canvas.scene.literal_editor() is not None


def test_escape_cancels_and_empty_clears_a_literal(canvas: Canvas, model: GraphModel) -> None:
    canvas.click(canvas.field_centre("glimpse", "size"))
    editor = canvas.scene.literal_editor()
    assert editor is not None
    QTest.keyClicks(editor, "999")
    QTest.keyClick(editor, Qt.Key.Key_Escape)
    assert model.node("glimpse").literals["size"] == "{1,1}"
    assert canvas.stack.count() == 0
    canvas.click(canvas.field_centre("patches", "padding"))
    editor = canvas.scene.literal_editor()
    assert editor is not None and editor.text() == "" and editor.placeholderText() == "VALID"
    QTest.keyClicks(editor, "SAME")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert model.node("patches").literals["padding"] == "SAME"
    canvas.click(canvas.field_centre("patches", "padding"))
    editor = canvas.scene.literal_editor()
    assert editor is not None
    editor.clear()
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert "padding" not in model.node("patches").literals


def test_an_invalid_literal_is_kept_red_and_explained(canvas: Canvas, model: GraphModel) -> None:
    canvas.click(canvas.field_centre("patches", "padding"))
    editor = canvas.scene.literal_editor()
    assert editor is not None
    QTest.keyClicks(editor, "FULL")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert model.node("patches").literals["padding"] == "FULL"
    item = canvas.scene.node_item("patches")
    assert item is not None and "padding" in item.literal_errors
    tooltip = item.problem_tooltip()
    assert tooltip is not None and "padding" in tooltip and "SAME" in tooltip
    assert any("patches.padding" in m and "FULL" in m for m in canvas.messages)


# ------------------------------------------------------------------ selection, delete, move


def header_point(canvas: Canvas, node: str) -> QPointF:
    item = canvas.scene.node_item(node)
    assert item is not None
    return item.pos() + QPointF(item.width / 2, 12)


def test_click_selection_with_shift_and_ctrl(canvas: Canvas) -> None:
    scene = canvas.scene
    seen: list[list[str]] = []
    scene.selectedNodesChanged.connect(seen.append)
    canvas.click(header_point(canvas, "glimpse"))
    assert scene.selected_node_ids() == ["glimpse"]
    canvas.click(header_point(canvas, "patches"), Qt.KeyboardModifier.ShiftModifier)
    assert scene.selected_node_ids() == ["glimpse", "patches"]
    canvas.click(header_point(canvas, "image"), Qt.KeyboardModifier.ControlModifier)
    assert scene.selected_node_ids() == ["image", "glimpse", "patches"]
    canvas.click(header_point(canvas, "offsets"))
    assert scene.selected_node_ids() == ["offsets"]
    assert seen[0] == ["glimpse"] and seen[-1] == ["offsets"]


def test_rubber_band_selects(canvas: Canvas) -> None:
    canvas.drag(QPointF(-40, -60), QPointF(560, 120))
    assert canvas.scene.selected_node_ids() == ["image", "glimpse"]


def test_delete_and_undo_restore_nodes_and_wires(canvas: Canvas, model: GraphModel) -> None:
    model.connect(PortRef("offsets", "output"), PortRef("glimpse", "offsets"))
    model.connect(PortRef("glimpse", "glimpse"), PortRef("patches", "images"))
    before_wires = wires(model)
    canvas.scene.select_nodes(["glimpse"])
    canvas.view.setFocus()
    QTest.keyClick(canvas.view, Qt.Key.Key_Delete)
    assert "glimpse" not in model and wires(model) == set()
    assert canvas.scene.node_item("glimpse") is None
    canvas.stack.undo()
    assert wires(model) == before_wires
    assert model.node("glimpse").literals == {"size": "{1,1}"}
    assert len(canvas.scene.wire_items()) == 3


def test_selected_wire_is_deleted_with_delete(canvas: Canvas, model: GraphModel) -> None:
    wire_item = canvas.scene.wire_item(PortRef("glimpse", "input"))
    assert wire_item is not None
    canvas.click(wire_item.path().pointAtPercent(0.5))
    assert wire_item.isSelected()
    canvas.scene.delete_selection()
    assert wires(model) == set()
    canvas.stack.undo()
    assert wires(model) == {"image.output -> glimpse.input"}


def test_dragging_a_block_snaps_to_the_grid_in_one_undo_step(
    canvas: Canvas, model: GraphModel
) -> None:
    wire_item = canvas.scene.wire_item(PortRef("glimpse", "input"))
    assert wire_item is not None
    start = header_point(canvas, "glimpse")
    canvas.drag(start, start + QPointF(47, 33))
    assert model.node("glimpse").pos == (360.0, 40.0)
    assert canvas.stack.count() == 1
    assert wire_item.path().currentPosition() == canvas.port_pos("glimpse", "input", output=False)
    canvas.stack.undo()
    assert model.node("glimpse").pos == (320.0, 0.0)
    assert canvas.scene.node_item("glimpse").pos() == QPointF(320, 0)  # type: ignore[union-attr]
    # Alt: no snapping
    start = header_point(canvas, "glimpse")
    canvas.drag(start, start + QPointF(47, 33), Qt.KeyboardModifier.AltModifier)
    assert model.node("glimpse").pos == (367.0, 33.0)


def test_moving_a_block_updates_only_its_own_wires(
    canvas: Canvas, model: GraphModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    model.connect(PortRef("offsets", "output"), PortRef("patches", "images"))
    routed: list[str] = []
    original = WireItem.update_path

    def spy(self: WireItem) -> None:
        routed.append(str(self.wire))
        original(self)

    monkeypatch.setattr(WireItem, "update_path", spy)
    canvas.scene.select_nodes(["glimpse"])
    QTest.keyClick(canvas.view, Qt.Key.Key_Right)
    assert model.node("glimpse").pos == (340.0, 0.0)
    assert set(routed) == {"image.output -> glimpse.input"}


def test_arrow_nudges_merge_into_one_step(canvas: Canvas, model: GraphModel) -> None:
    canvas.scene.select_nodes(["patches"])
    canvas.view.setFocus()
    for _ in range(3):
        QTest.keyClick(canvas.view, Qt.Key.Key_Down)
    assert model.node("patches").pos == (640.0, 60.0)
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    assert model.node("patches").pos == (640.0, 0.0)


# ----------------------------------------------------------------------------- clipboard, layout


def test_copy_paste_gives_fresh_ids_with_inner_wires(canvas: Canvas, model: GraphModel) -> None:
    canvas.scene.select_nodes(["image", "glimpse"])
    canvas.view.setFocus()
    QTest.keyClick(canvas.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    mime = QGuiApplication.clipboard().mimeData()
    assert mime.hasFormat(GRAPH_MIME)
    data = json.loads(mime.text())
    assert data["format"] == "tensorblocks.graph"
    assert [n["id"] for n in data["nodes"]] == ["image", "glimpse"]
    new_ids = canvas.scene.paste(QPointF(100, 600))
    assert new_ids == ["image_2", "glimpse_2"]
    assert model.node("image_2").pos == (100.0, 600.0)
    assert model.node("glimpse_2").pos == (420.0, 600.0)
    assert "image_2.output -> glimpse_2.input" in wires(model)
    assert canvas.scene.selected_node_ids() == ["image_2", "glimpse_2"]
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    assert "image_2" not in model


def test_cut_and_duplicate(canvas: Canvas, model: GraphModel) -> None:
    canvas.scene.select_nodes(["image", "glimpse"])
    assert canvas.scene.duplicate_selection() == ["image_2", "glimpse_2"]
    assert model.node("glimpse_2").pos == (360.0, 40.0)
    assert "image_2.output -> glimpse_2.input" in wires(model)
    canvas.scene.select_nodes(["patches"])
    canvas.scene.cut_selection()
    assert "patches" not in model
    assert canvas.scene.paste() == ["patches"]  # its id is free again
    assert model.node("patches").pos == (680.0, 40.0)


def test_pasting_something_else_says_so(canvas: Canvas, model: GraphModel) -> None:
    QGuiApplication.clipboard().setText("hello")
    assert canvas.scene.paste() == []
    QGuiApplication.clipboard().setText(json.dumps({"format": "other"}))
    assert canvas.scene.paste() == []
    assert len(canvas.messages) == 2 and all(
        "paste" in m.lower() or "clipboard" in m.lower() for m in canvas.messages
    )
    assert canvas.stack.count() == 0


def test_auto_layout_places_generations_in_columns(canvas: Canvas, model: GraphModel) -> None:
    model.connect(PortRef("offsets", "output"), PortRef("glimpse", "offsets"))
    model.connect(PortRef("glimpse", "glimpse"), PortRef("patches", "images"))
    for node_id, pos in {
        "image": (500, 500),
        "offsets": (0, 0),
        "glimpse": (20, 900),
        "patches": (40, 40),
    }.items():
        model.move(node_id, pos)
    canvas.view.setFocus()
    QTest.keyClick(canvas.view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    x = {node_id: model.node(node_id).pos[0] for node_id in model.node_ids()}
    y = {node_id: model.node(node_id).pos[1] for node_id in model.node_ids()}
    assert x["image"] == x["offsets"] < x["glimpse"] < x["patches"]
    assert y["image"] != y["offsets"]
    assert all(v % 20 == 0 for v in [*x.values(), *y.values()])
    # no two blocks overlap
    rects = [canvas.scene.node_item(i).sceneBoundingRect() for i in model.node_ids()]  # type: ignore[union-attr]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    assert model.node("glimpse").pos == (20.0, 900.0)


# ----------------------------------------------------------------------------- inference and runs


def test_set_inference_labels_wires_and_badges_problems(canvas: Canvas, model: GraphModel) -> None:
    model.connect(PortRef("offsets", "output"), PortRef("glimpse", "offsets"))
    model.set_literal("patches", "ksizes", "{1,3,3}")
    model.connect(PortRef("glimpse", "glimpse"), PortRef("patches", "images"))
    inference = infer(model)
    canvas.scene.set_inference(inference)
    label = canvas.scene.wire_item(PortRef("glimpse", "input")).label_text()  # type: ignore[union-attr]
    assert label == "[1,2,2,1] float32"
    assert canvas.scene.wire_item(PortRef("patches", "images")).label_text() == "[1,1,1,1] float32"  # type: ignore[union-attr]
    patches = canvas.scene.node_item("patches")
    assert patches is not None
    tooltip = patches.problem_tooltip()
    assert tooltip is not None and "ksizes" in tooltip
    assert canvas.scene.node_item("glimpse").problem_tooltip() is None  # type: ignore[union-attr]
    # fixed and re-inferred: the badge goes
    model.set_literal("patches", "ksizes", "{1,1,1,1}")
    canvas.scene.set_inference(infer(model))
    assert patches.problem_tooltip() is None
    canvas.scene.set_inference(None)
    assert canvas.scene.wire_item(PortRef("glimpse", "input")).label_text() is None  # type: ignore[union-attr]


def test_inference_like_objects_with_attr_problems(canvas: Canvas) -> None:
    problem = TensorBlocksError(
        "noise must be one of uniform, gaussian, zero", node="glimpse", attr="noise"
    )
    canvas.scene.set_inference(Inference(ports={}, problems=[problem]))
    tooltip = canvas.scene.node_item("glimpse").problem_tooltip()  # type: ignore[union-attr]
    assert tooltip == "attr 'noise': noise must be one of uniform, gaussian, zero"


def test_run_report_badges(canvas: Canvas) -> None:
    failure = TensorBlocksError("boom", node="patches")
    report = RunReport(
        results={},
        nodes={
            "image": NodeReport("image", "Input", "ran", 0.0032),
            "glimpse": NodeReport("glimpse", "ExtractGlimpse", "cached", 0.0),
            "patches": NodeReport("patches", "ExtractImagePatches", "failed", 0.001, failure),
        },
        problems=[failure],
        cancelled=False,
        seconds=0.01,
    )
    canvas.scene.set_run_report(report)
    texts = {i.node_id: i.run_badge_text() for i in canvas.scene.node_items()}
    assert texts == {
        "image": "ran 3.2 ms",
        "glimpse": "cached",
        "patches": "failed",
        "offsets": None,
    }
    canvas.scene.set_run_report(None)
    assert all(i.run_badge_text() is None for i in canvas.scene.node_items())


# ----------------------------------------------------------------------------- view


def test_zoom_is_clamped_and_fit_shows_everything(canvas: Canvas) -> None:
    view = canvas.view
    for _ in range(40):
        view.zoom_by(1.5)
    assert view.zoom() == pytest.approx(3.0)
    for _ in range(40):
        view.zoom_by(0.5)
    assert view.zoom() == pytest.approx(0.05)
    view.resetTransform()
    QTest.keyClick(view, Qt.Key.Key_Home)
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(canvas.scene.nodes_rect())
    canvas.scene.select_nodes(["patches"])
    view.fit_selection()
    assert view.zoom() == pytest.approx(1.25)
    centre = view.mapToScene(view.viewport().rect().center())
    assert canvas.scene.node_item("patches").sceneBoundingRect().contains(centre)  # type: ignore[union-attr]


def test_wheel_zoom_keeps_the_point_under_the_cursor(canvas: Canvas) -> None:
    view = canvas.view
    anchor = QPointF(300, 200)
    before = view.mapToScene(anchor.toPoint())
    view.zoom_by(1.8, anchor)
    after = view.mapToScene(anchor.toPoint())
    assert abs(before.x() - after.x()) < 2 and abs(before.y() - after.y()) < 2


def test_middle_button_pans(canvas: Canvas) -> None:
    view = canvas.view
    centre = view.mapToScene(view.viewport().rect().center())
    canvas.drag(QPointF(200, 200), QPointF(300, 260), button=Qt.MouseButton.MiddleButton)
    moved = view.mapToScene(view.viewport().rect().center())
    assert moved.x() == pytest.approx(centre.x() - 100, abs=2)
    assert moved.y() == pytest.approx(centre.y() - 60, abs=2)
    assert canvas.stack.count() == 0


def test_theme_switch_repaints(canvas: Canvas) -> None:
    light = canvas.view.grab().toImage()
    canvas.scene.set_theme(DARK)
    assert canvas.scene.theme is DARK
    dark = canvas.view.grab().toImage()
    corner = (5, 5)
    assert light.pixelColor(*corner) != dark.pixelColor(*corner)
    canvas.scene.set_theme(LIGHT)


def test_clicking_elsewhere_commits_an_open_literal(canvas: Canvas, model: GraphModel) -> None:
    canvas.click(canvas.field_centre("glimpse", "size"))
    editor = canvas.scene.literal_editor()
    assert editor is not None
    editor.setText("{4,4}")
    canvas.click(QPointF(900, 500))  # empty canvas
    assert model.node("glimpse").literals["size"] == "{4,4}"
    assert canvas.scene.literal_editor() is None


def test_literal_editor_offers_the_port_choices(canvas: Canvas) -> None:
    editor = canvas.scene.edit_literal("patches", "padding")
    assert editor is not None and editor.completer() is not None
    assert editor.completer().model().rowCount() == 2
    dtype_editor = canvas.scene.edit_literal("image", "dtype")
    assert dtype_editor is not None
    words = dtype_editor.completer().model()
    assert "DT_FLOAT" in [words.index(i, 0).data() for i in range(words.rowCount())]


def test_double_click_on_a_block_activates_it(canvas: Canvas) -> None:
    activated: list[str] = []
    canvas.scene.nodeActivated.connect(activated.append)
    point = canvas.to_view(header_point(canvas, "patches"))
    QTest.mouseDClick(
        canvas.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point
    )
    assert activated == ["patches"]


def test_space_drag_pans_without_moving_blocks(canvas: Canvas, model: GraphModel) -> None:
    view = canvas.view
    view.setFocus()
    centre = view.mapToScene(view.viewport().rect().center())
    QTest.keyPress(view, Qt.Key.Key_Space)
    start = header_point(canvas, "glimpse")
    canvas.drag(start, start + QPointF(80, 0))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    moved = view.mapToScene(view.viewport().rect().center())
    assert moved.x() == pytest.approx(centre.x() - 80, abs=2)
    assert model.node("glimpse").pos == (320.0, 0.0)


def test_short_wires_keep_their_label_in_the_tooltip(canvas: Canvas, model: GraphModel) -> None:
    model.move("glimpse", (240, 0))  # right next to image
    canvas.scene.set_inference(infer(model))
    wire_item = canvas.scene.wire_item(PortRef("glimpse", "input"))
    assert wire_item is not None
    assert wire_item.label_text() == "[1,2,2,1] float32"
    assert not wire_item.label_shown()
    assert "image.output -&gt; glimpse.input" in wire_item.toolTip()  # shown as plain text
    assert "[1,2,2,1] float32" in wire_item.toolTip()
    model.move("glimpse", (600, 0))
    assert wire_item.label_shown()


def test_dropping_a_wire_from_an_input_offers_blocks_that_feed_it(
    canvas: Canvas, model: GraphModel
) -> None:
    drop = canvas.port_pos("patches", "images", output=False) + QPointF(-200, 300)
    canvas.drag(canvas.port_pos("patches", "images", output=False), drop)
    popup = canvas.view.quick_add
    assert popup is not None
    QTest.keyClicks(popup.search, "input")
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert model.wire_into(PortRef("patches", "images")) == Wire(
        PortRef("input", "output"), PortRef("patches", "images")
    )
    port = canvas.port_pos("input", "output", output=True)
    assert abs(port.x() - drop.x()) <= 10 and abs(port.y() - drop.y()) <= 10


def test_escape_drops_a_wire_being_dragged(canvas: Canvas, model: GraphModel) -> None:
    start = canvas.to_view(canvas.port_pos("offsets", "output", output=True))
    canvas.send(
        QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton
    )
    canvas.send(
        QEvent.Type.MouseMove,
        start + QPoint(50, 0),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton,
    )
    assert canvas.scene.wire_drag_active
    QTest.keyClick(canvas.view, Qt.Key.Key_Escape)
    assert not canvas.scene.wire_drag_active
    canvas.send(
        QEvent.Type.MouseButtonRelease,
        start + QPoint(50, 0),
        Qt.MouseButton.LeftButton,
        Qt.MouseButton.NoButton,
    )
    assert canvas.view.quick_add is None and canvas.stack.count() == 0


def test_ctrl_rubber_band_adds_to_the_selection(canvas: Canvas) -> None:
    canvas.scene.select_nodes(["patches"])
    canvas.drag(QPointF(-40, -60), QPointF(100, 20), Qt.KeyboardModifier.ControlModifier)
    assert canvas.scene.selected_node_ids() == ["image", "patches"]


def test_a_block_the_library_lacks_is_still_shown_with_its_wires(qtbot: object) -> None:
    model = GraphModel()
    model.add_node("Input", "image", literals={"initvalues": "1"})
    model.add_node("Mystery", "odd", literals={"level": "3"}, pos=(300, 0))
    model.add_wire_unchecked(Wire(PortRef("image", "output"), PortRef("odd", "source")))
    model.add_wire_unchecked(Wire(PortRef("odd", "result"), PortRef("image", "shape")))
    canvas = Canvas(model, qtbot)
    odd = canvas.scene.node_item("odd")
    assert odd is not None
    assert set(odd.inputs) == {"level", "source"} and set(odd.outputs) == {"result"}
    assert canvas.scene.wire_item(PortRef("odd", "source")) is not None
    assert canvas.scene.wire_item(PortRef("image", "shape")) is not None
    assert odd.field_scene_rect("level") is not None
    canvas.view.grab()  # paints without error
    canvas.scene.detach()


def test_double_click_on_empty_canvas_opens_the_block_search(
    canvas: Canvas, model: GraphModel
) -> None:
    spot = QPointF(400, 500)
    QTest.mouseDClick(
        canvas.view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        canvas.to_view(spot),
    )
    popup = canvas.view.quick_add
    assert popup is not None and popup.names() == list(REGISTRY)
    popup.choose_current()
    assert model.node("input").pos == (400.0, 500.0)


def test_outputs_show_their_inferred_tensor_in_the_node(canvas: Canvas, model: GraphModel) -> None:
    canvas.scene.set_inference(infer(model))
    image = canvas.scene.node_item("image")
    glimpse = canvas.scene.node_item("glimpse")
    assert image is not None and glimpse is not None
    assert image.output_info("output") == "[1,2,2,1] float32"
    assert glimpse.output_info("glimpse") == ""  # offsets missing: a problem, unknown output
    model.connect(PortRef("offsets", "output"), PortRef("glimpse", "offsets"))
    canvas.scene.set_inference(infer(model))
    assert glimpse.output_info("glimpse") == "[1,1,1,1] float32"
    model.set_literal("glimpse", "size", "{2,1}")
    canvas.scene.set_inference(infer(model))
    assert glimpse.output_info("glimpse") == "[1,2,1,1] float32"
    canvas.scene.set_inference(None)
    assert image.output_info("output") == ""


def test_selected_blocks_light_up_their_wires(canvas: Canvas) -> None:
    wire_item = canvas.scene.wire_item(PortRef("glimpse", "input"))
    assert wire_item is not None and not wire_item.highlighted
    canvas.scene.select_nodes(["image"])
    assert wire_item.highlighted
    assert canvas.scene.node_item("image").zValue() > canvas.scene.node_item("glimpse").zValue()  # type: ignore[union-attr]
    canvas.scene.select_nodes([])
    assert not wire_item.highlighted


def test_context_menus(canvas: Canvas, model: GraphModel) -> None:
    menu = canvas.scene.context_menu(header_point(canvas, "glimpse"))
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert canvas.scene.selected_node_ids() == ["glimpse"]
    assert {"Copy", "Cut", "Duplicate", "Disconnect", "Delete"} <= set(actions)
    actions["Disconnect"].trigger()
    assert model.wires() == []
    menu = canvas.scene.context_menu(QPointF(100, 600))
    add_menu = next(a.menu() for a in menu.actions() if a.text() == "Add block")
    patches = next(a for a in add_menu.actions() if a.text() == "Extract Image Patches")
    patches.trigger()
    assert model.node("extract_image_patches").pos == (100.0, 600.0)


def test_dragging_a_block_to_the_edge_scrolls_and_the_block_follows(
    canvas: Canvas, model: GraphModel, qtbot: object
) -> None:
    view = canvas.view
    before = view.mapToScene(view.viewport().rect().center())
    start = canvas.to_view(header_point(canvas, "glimpse"))
    edge = QPoint(view.viewport().width() - 5, start.y())
    left = Qt.MouseButton.LeftButton
    canvas.send(QEvent.Type.MouseButtonPress, start, left, left)
    canvas.send(
        QEvent.Type.MouseMove, QPoint(start.x() + 50, start.y()), Qt.MouseButton.NoButton, left
    )
    canvas.send(QEvent.Type.MouseMove, edge, Qt.MouseButton.NoButton, left)
    qtbot.wait(300)  # type: ignore[attr-defined]
    canvas.send(QEvent.Type.MouseButtonRelease, edge, left, Qt.MouseButton.NoButton)
    after = view.mapToScene(view.viewport().rect().center())
    assert after.x() > before.x() + 20
    item = canvas.scene.node_item("glimpse")
    assert item is not None
    # the block stayed under the cursor: it moved with the scroll
    cursor = view.mapToScene(edge)
    centre_x = model.node("glimpse").pos[0] + item.width / 2
    assert abs(centre_x - cursor.x()) <= 20
    assert canvas.stack.count() == 1
