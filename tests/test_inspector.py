"""The inspector: fields generated from the declarations, edits through undo commands.

Form <-> attrs string sync both ways, a bad attrs string shown and not applied, literal
edits (typed, combo, dtype) reaching the model and undoing, renames refused or applied,
and the view following model events.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QToolButton

from app.inspector import EMPTY_CHOICE, Inspector
from blocks.attrs import format_attrs, parse_attrs
from blocks.library import REGISTRY
from graph.infer import infer
from graph.model import GraphModel, PortRef
from graph.session import Session

GLIMPSE = REGISTRY["ExtractGlimpse"]


@pytest.fixture(autouse=True)
def _private_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENSORBLOCKS_SETTINGS_DIR", os.fspath(tmp_path / "settings"))


@pytest.fixture
def graph() -> GraphModel:
    model = GraphModel()
    model.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"})
    model.add_node("ExtractGlimpse", "crop", literals={"size": "{1,1}", "offsets": "{{0,0}}"})
    model.add_node("ExtractImagePatches", "tiles")
    model.connect(PortRef("image", "output"), PortRef("crop", "input"))
    return model


@pytest.fixture
def inspector(qtbot, graph: GraphModel) -> Inspector:  # type: ignore[no-untyped-def]
    widget = Inspector(Session(graph), QUndoStack())
    qtbot.addWidget(widget)
    widget.resize(360, 900)
    widget.show()
    return widget


def settle(qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.wait(5)  # the inspector rebuilds on a zero timer after structural events


def type_and_enter(qtbot, field: QLineEdit, text: str) -> None:  # type: ignore[no-untyped-def]
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


# ----------------------------------------------------------------------------- attrs


def test_form_edit_writes_the_canonical_string(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    box = inspector.attr_widgets["centered"]
    assert isinstance(box, QCheckBox) and box.isChecked()  # the default
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    expected = format_attrs({**GLIMPSE.default_attrs(), "centered": False}, GLIMPSE)
    assert inspector.model.node("crop").attrs == expected
    assert inspector.attrs_edit is not None and inspector.attrs_edit.text() == expected

    noise = inspector.attr_widgets["noise"]
    assert isinstance(noise, QComboBox)
    noise.setCurrentIndex(noise.findText("zero"))
    noise.activated.emit(noise.currentIndex())
    assert parse_attrs(inspector.model.node("crop").attrs, GLIMPSE)["noise"] == "zero"
    assert "noise_ = zero;" in inspector.attrs_edit.text()


def test_string_edit_updates_the_form_then_applies_canonically(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    field = inspector.attrs_edit
    assert field is not None
    field.setFocus()
    qtbot.keyClicks(field, 'normalized = FALSE ; noise_ = ""')
    # The form follows as soon as the text parses, before anything is applied.
    normalized = inspector.attr_widgets["normalized"]
    noise = inspector.attr_widgets["noise"]
    assert isinstance(normalized, QCheckBox) and not normalized.isChecked()
    assert isinstance(noise, QComboBox) and noise.currentText() == EMPTY_CHOICE
    assert inspector.model.node("crop").attrs == ""
    qtbot.keyClick(field, Qt.Key.Key_Return)
    values = {**GLIMPSE.default_attrs(), "normalized": False, "noise": ""}
    assert inspector.model.node("crop").attrs == format_attrs(values, GLIMPSE)
    assert field.text() == format_attrs(values, GLIMPSE)


def test_a_bad_attrs_string_shows_its_error_and_is_not_applied(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    before = inspector.model.node("crop").attrs
    type_and_enter(qtbot, inspector.attrs_edit, "centred_ = true;")
    error = inspector.attrs_error
    assert error is not None and error.isVisible()
    assert "unknown attr key 'centred_'" in error.text()
    assert "did you mean 'centered_'" in error.text()
    assert inspector.model.node("crop").attrs == before
    assert inspector.undo_stack.count() == 0
    # Fixing the text clears the error and applies it.
    type_and_enter(qtbot, inspector.attrs_edit, "centered_ = false;")
    assert not error.isVisible()
    assert parse_attrs(inspector.model.node("crop").attrs, GLIMPSE)["centered"] is False


def test_model_attrs_changes_reach_both_views(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    inspector.model.set_attrs("crop", "uniform_noise_ = 0;noise_ = gaussian;")
    assert inspector.attrs_edit is not None
    assert inspector.attrs_edit.text() == "uniform_noise_ = 0;noise_ = gaussian;"
    uniform = inspector.attr_widgets["uniform_noise"]
    noise = inspector.attr_widgets["noise"]
    assert isinstance(uniform, QCheckBox) and not uniform.isChecked()
    assert isinstance(noise, QComboBox) and noise.currentText() == "gaussian"


# ----------------------------------------------------------------------------- literals


def test_a_literal_typed_in_the_inspector_reaches_the_model_and_undoes(
    qtbot, inspector: Inspector
) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    field = inspector.ports["size"].editor
    assert isinstance(field, QLineEdit)
    type_and_enter(qtbot, field, "{2,2}")
    assert inspector.model.node("crop").literals["size"] == "{2,2}"
    inspector.undo_stack.undo()
    assert inspector.model.node("crop").literals["size"] == "{1,1}"
    assert field.text() == "{1,1}"  # the field follows the model
    inspector.undo_stack.redo()
    assert field.text() == "{2,2}"


def test_an_invalid_literal_is_shown_inline_and_not_applied(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    row = inspector.ports["offsets"]
    assert isinstance(row.editor, QLineEdit)
    type_and_enter(qtbot, row.editor, "{{0,0}")
    assert row.error.isVisible() and row.error.text()
    assert row.editor.property("invalid") is True
    assert inspector.model.node("crop").literals["offsets"] == "{{0,0}}"
    assert inspector.undo_stack.count() == 0


def test_clearing_a_literal_falls_back_to_the_default(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("tiles")
    row = inspector.ports["ksizes"]
    assert isinstance(row.editor, QLineEdit)
    assert row.editor.placeholderText() == "default: {1,3,3,1}"
    type_and_enter(qtbot, row.editor, "{1,2,2,1}")
    assert inspector.model.node("tiles").literals["ksizes"] == "{1,2,2,1}"
    row.editor.setFocus()
    row.editor.clear()
    qtbot.keyClick(row.editor, Qt.Key.Key_Return)
    assert "ksizes" not in inspector.model.node("tiles").literals


def test_choice_and_dtype_ports_are_combos(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("tiles")
    padding = inspector.ports["padding"].editor
    assert isinstance(padding, QComboBox) and not padding.isEditable()
    assert [padding.itemText(i) for i in range(padding.count())] == ["SAME", "VALID"]
    assert padding.currentText() == "VALID"  # the declared default
    padding.setCurrentIndex(padding.findText("SAME"))
    padding.activated.emit(padding.currentIndex())
    assert inspector.model.node("tiles").literals["padding"] == "SAME"

    inspector.set_node("image")
    dtype = inspector.ports["dtype"].editor
    assert isinstance(dtype, QComboBox) and dtype.isEditable()
    names = [dtype.itemText(i) for i in range(dtype.count())]
    assert {"DT_FLOAT", "DT_INT32", "DT_COMPLEX64"} <= set(names)
    dtype.setCurrentIndex(dtype.findText("DT_INT32"))
    dtype.activated.emit(dtype.currentIndex())
    assert inspector.model.node("image").literals["dtype"] == "DT_INT32"


def test_a_wired_port_shows_its_source_and_can_be_disconnected(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    row = inspector.ports["input"]
    assert row.editor is None  # no editor while a wire feeds the port
    buttons = [
        b for b in inspector.widget().findChildren(QToolButton) if "Disconnect" in b.toolTip()
    ]
    assert len(buttons) == 1 and "image.output" in buttons[0].toolTip()
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert inspector.model.wire_into(PortRef("crop", "input")) is None
    settle(qtbot)
    assert isinstance(inspector.ports["input"].editor, QLineEdit)


# ----------------------------------------------------------------------------- node id


def test_rename_applies_valid_ids_and_refuses_bad_ones(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    field = inspector.id_edit
    assert field is not None and inspector.id_error is not None
    type_and_enter(qtbot, field, "9lives")
    assert inspector.id_error.isVisible() and "not a valid id" in inspector.id_error.text()
    assert "crop" in inspector.model
    type_and_enter(qtbot, field, "tiles")
    assert "exists already" in inspector.id_error.text()
    assert "crop" in inspector.model
    type_and_enter(qtbot, field, "centre_crop")
    assert "centre_crop" in inspector.model and "crop" not in inspector.model
    assert inspector.node_id == "centre_crop"
    assert not inspector.id_error.isVisible()
    # The wire followed the rename, and undo brings the old id back into the field.
    assert inspector.model.wire_into(PortRef("centre_crop", "input")) is not None
    inspector.undo_stack.undo()
    assert inspector.node_id == "crop" and field.text() == "crop"


def test_the_view_follows_removal_and_reset(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("tiles")
    assert inspector.id_edit is not None
    inspector.model.remove_node("tiles")
    settle(qtbot)
    assert inspector.node_id is None and inspector.id_edit is None
    inspector.set_node("crop")
    inspector.model.clear()
    settle(qtbot)
    assert inspector.node_id is None


def test_inferred_outputs_and_problems_are_shown(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    inspector.set_inference(infer(inspector.model))
    assert inspector.output_labels["glimpse"].text() == "[1,1,1,1] float32"
    assert inspector.ports["size"].info.text() == "[2] int32"  # the port's declared dtype
    # A problem the kernel would raise shows up in the inspector.
    inspector.model.set_literal("crop", "size", "{-1,1}")
    inspector.set_inference(infer(inspector.model))
    texts = [label.text() for label in inspector.problem_labels]
    texts.append(inspector.ports["size"].error.text())
    assert any("non-negative size" in text for text in texts)


def test_switching_nodes_mid_edit_never_applies_to_the_next_node(
    qtbot, inspector: Inspector
) -> None:  # type: ignore[no-untyped-def]
    inspector.set_node("crop")
    field = inspector.ports["size"].editor
    assert isinstance(field, QLineEdit)
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, "{3,3}")
    inspector.set_node("tiles")  # e.g. a log row selected another node
    assert inspector.model.node("crop").literals["size"] == "{1,1}"
    assert "size" not in inspector.model.node("tiles").literals
    assert inspector.undo_stack.count() == 0


def test_problem_labels_are_replaced_not_stacked(qtbot, inspector: Inspector) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QLabel

    # A valid attrs string the kernel refuses: shown below the outputs, not under a field.
    inspector.model.set_attrs("crop", "uniform_noise_ = true;noise_ = zero;")
    inspector.set_node("crop")
    for _ in range(3):
        inspector.set_inference(infer(inspector.model))
    labels = [w for w in inspector.widget().findChildren(QLabel) if w.objectName() == "problem"]
    assert labels == inspector.problem_labels and len(labels) == 1
    assert "could not be specified at the same time" in labels[0].text()


def test_a_stored_bad_attrs_string_is_shown_once_with_the_form_at_defaults(
    qtbot, inspector: Inspector
) -> None:  # type: ignore[no-untyped-def]
    inspector.model.set_attrs("crop", "centered_ = false;noise_ = loud;")
    inspector.set_node("crop")
    inspector.set_inference(infer(inspector.model))
    assert inspector.attrs_error is not None and not inspector.attrs_error.isHidden()
    assert "noise_" in inspector.attrs_error.text()
    assert inspector.problem_labels == []  # not repeated below the outputs
    centered = inspector.attr_widgets["centered"]
    assert isinstance(centered, QCheckBox) and centered.isChecked()  # the default
    # A form edit replaces the bad string with a valid, canonical one.
    qtbot.mouseClick(centered, Qt.MouseButton.LeftButton, pos=QPoint(8, centered.height() // 2))
    assert parse_attrs(inspector.model.node("crop").attrs, GLIMPSE) == {
        **GLIMPSE.default_attrs(),
        "centered": False,
    }
    assert inspector.attrs_error.isHidden()
