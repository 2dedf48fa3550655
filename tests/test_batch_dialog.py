"""File > Run over dataset…: the dialog plans, previews item 0, runs with progress, cancels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from test_batch import N_ITEMS, write_data, write_graph

from app.batch_dialog import BatchDialog
from graph.batch import BatchFinished, BatchProgress, BatchStarted
from graph.engine import RunReport
from graph.session import Session


@pytest.fixture
def dialog(qtbot: Any, tmp_path: Path) -> BatchDialog:
    graph = write_graph(tmp_path)
    write_data(tmp_path)
    widget = BatchDialog(Session.load(graph), seed=3)
    qtbot.addWidget(widget)
    return widget


def test_lists_what_can_be_mapped_without_naming_blocks(dialog: BatchDialog) -> None:
    assert next(iter(dialog.sources)) == "image"  # the Input node first
    assert "focus.offsets" in dialog.sources
    assert "tiles.images" not in dialog.sources  # wired
    # The glimpse size takes one value for the whole run: no field offers it.
    assert "focus.size" not in dialog.sources
    assert list(dialog.sources) == ["image", "focus.offsets"]


def test_check_shows_items_and_chunks(dialog: BatchDialog, qtbot: Any, tmp_path: Path) -> None:
    dialog.sources["image"].setText(str(tmp_path / "images.npy"))
    dialog.sources["focus.offsets"].setText(str(tmp_path / "offsets.npy"))
    dialog.chunk.setValue(5)
    assert dialog.start(run=False)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
    assert f"{N_ITEMS} items in 5 chunks of up to 5" in dialog.status.text()
    assert "tiles.patches [2,2,48]" in dialog.status.text()


def test_run_previews_item_zero_and_writes_the_store(dialog: BatchDialog, qtbot: Any,
                                                     tmp_path: Path) -> None:
    dialog.sources["image"].setText(str(tmp_path / "images.npy"))
    dialog.sources["focus.offsets"].setText(str(tmp_path / "offsets.npy"))
    dialog.store.setText(str(tmp_path / "dialog"))
    previews: list[RunReport | None] = []
    dialog.session.events.report.connect(lambda event: previews.append(event.report))
    events: list[object] = []
    for emitter in (dialog.session.events.batch_started, dialog.session.events.batch_progress,
                    dialog.session.events.batch_finished):
        emitter.connect(events.append)
    assert dialog.start(run=True)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    assert dialog.summary is not None, dialog.status.text()
    assert dialog.status.text().startswith(f"{N_ITEMS} items in ")
    assert dialog.bar.value() == N_ITEMS
    stored = np.asarray(zarr.open_array(store=str(tmp_path / "dialog.zarr"),
                                        path="tiles.patches", mode="r")[...])
    assert len(previews) == 1 and previews[0] is dialog.session.report
    assert previews[0] is not None
    np.testing.assert_array_equal(previews[0].results["tiles.patches"][0], stored[0])
    assert previews[0].results["image.output"].shape == (1, 16, 16, 3)
    # The session announced the batch: its start, each chunk, its end.
    assert isinstance(events[0], BatchStarted)
    assert all(isinstance(event, BatchProgress) for event in events[1:-1])
    assert isinstance(events[-1], BatchFinished) and events[-1].summary is dialog.summary
    assert dialog.session.batch is events[-1]


def test_a_bad_source_is_one_plain_line(dialog: BatchDialog, qtbot: Any, tmp_path: Path) -> None:
    dialog.sources["image"].setText(str(tmp_path / "missing.npy"))
    dialog.store.setText(str(tmp_path / "x.zarr"))
    assert dialog.start(run=True)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
    assert "missing.npy" in dialog.status.text() and "\n" not in dialog.status.text()
    assert dialog.summary is None
    assert not (tmp_path / "x.zarr").exists()


def test_cancel_stops_and_keeps_finished_chunks(dialog: BatchDialog, qtbot: Any,
                                                tmp_path: Path) -> None:
    images = np.repeat(np.load(tmp_path / "images.npy"), 40, axis=0)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "offsets.npy", np.zeros((len(images), 2), np.float32))
    dialog.sources["image"].setText(str(tmp_path / "images.npy"))
    dialog.sources["focus.offsets"].setText(str(tmp_path / "offsets.npy"))
    dialog.store.setText(str(tmp_path / "c.zarr"))
    dialog.chunk.setValue(1)
    assert dialog.start(run=True)
    qtbot.waitUntil(lambda: dialog.bar.value() >= 3, timeout=60_000)
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    assert dialog.summary is None
    assert "cancelled" in dialog.status.text()
    assert dialog.session.batch is not None and dialog.session.batch.cancelled
    done = np.asarray(zarr.open_array(store=str(tmp_path / "c.zarr"), path="chunks_done",
                                      mode="r")[...])
    assert 3 <= done.sum() < len(images)


def test_file_menu_opens_the_dialog_on_the_window_session(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.main_window import MainWindow

    monkeypatch.setenv("TENSORBLOCKS_SETTINGS_DIR", str(tmp_path / "settings"))  # not the user's
    graph = write_graph(tmp_path)
    write_data(tmp_path)
    window = MainWindow()
    qtbot.addWidget(window)
    window.open_path(graph, ask=False, interactive=False)
    action = window.actions_by_name["run_dataset"]
    assert action in window.menuBar().actions()[0].menu().actions()
    action.trigger()
    dialogs = window.findChildren(BatchDialog)
    assert len(dialogs) == 1 and dialogs[0].session is window.session
    dialog = dialogs[0]
    dialog.sources["image"].setText(str(tmp_path / "images.npy"))
    dialog.sources["focus.offsets"].setText(str(tmp_path / "offsets.npy"))
    dialog.store.setText(str(tmp_path / "menu.zarr"))
    assert dialog.start(run=True)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    assert dialog.summary is not None
    # The canvas previews item 0: the window's session holds its report.
    report = window.session.report
    assert report is not None and report.results["image.output"].shape == (1, 16, 16, 3)
    dialog.close()
