"""The ``tensorblocks edit`` entry point: start the editor, or take a screenshot and exit.

Contract: ``run_editor(argv)`` with ``argv = ["edit", GRAPH?, "--run"?, "--screenshot" PNG?,
"--theme" light|dark?, "--select" NODE?]`` (the leading ``"edit"`` is optional) returns
the exit status:

* without ``--screenshot``: shows the main window with its start page over the empty
  canvas and File > Examples (:mod:`app.start_page`), first offers to recover an autosave
  left by a crash (when recovered, GRAPH is not opened), opens GRAPH, runs it with
  ``--run``, and returns when the window closes (0);
* with ``--screenshot PNG``: opens GRAPH, runs it when ``--run`` is given (waiting for the
  worker thread), selects NODE (``--select``; by default the last block in topological
  order), fits the view, saves a grab
  of the whole window (1500x950) to PNG and returns 0 — no dialog is ever shown, so it
  works with ``QT_QPA_PLATFORM=offscreen``. A graph that cannot be opened or a PNG that
  cannot be written, or a NODE the graph does not have, gives 1 with a one-line message on
  stderr; bad usage gives 2.

Before Qt starts, :func:`app.qt_check.startup_problem` is asked: where Qt would abort
(no X display, xcb libraries missing) one line says what is missing and how to install
it, and the status is 1. Qt's "This plugin does not support propagateSizeHints()" is not
printed. The wheel guard (:mod:`app.wheel_guard`) is installed on the application.

``sys.excepthook`` is pointed at the window's log while the editor runs, so an exception in
a handler is shown in the log panel instead of ending the program.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import (
    QCoreApplication,
    QElapsedTimer,
    QMessageLogContext,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication

from app.document import APPLICATION, ORGANIZATION
from app.qt_check import startup_problem
from app.start_page import install_start_page
from app.wheel_guard import install_wheel_guard

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tensorblocks edit", description="Open the TensorBlocks editor.")
    parser.add_argument("graph", nargs="?", help="a graph file (.tbg.json) to open")
    parser.add_argument("--run", action="store_true", help="run the graph once it is open")
    parser.add_argument(
        "--screenshot", metavar="PNG", help="save a grab of the window to PNG and exit"
    )
    parser.add_argument("--theme", choices=("light", "dark"), help="the colour theme")
    parser.add_argument(
        "--select", metavar="NODE", help="select this node (its results are shown)"
    )
    return parser


#: Qt warnings that say nothing to a user: the offscreen plugin prints this on every
#: top-level window it shows (three times per ``--screenshot``).
QUIET_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def qt_message(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Qt's messages on stderr as Qt prints them, less :data:`QUIET_QT_MESSAGES`."""
    if message.strip() in QUIET_QT_MESSAGES:
        return
    print(message, file=sys.stderr)


def application() -> QApplication:
    """The QApplication (created if there is none yet), with the wheel guard installed."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        install_wheel_guard(app)
        return app
    qInstallMessageHandler(qt_message)
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication(sys.argv[:1])
    install_wheel_guard(app)
    return app


def _settle(app: QApplication, milliseconds: int = 150) -> None:
    """Process events for a while, so layouts, timers and repaints have happened."""
    clock = QElapsedTimer()
    clock.start()
    while clock.elapsed() < milliseconds:
        app.processEvents()


def take_screenshot(
    window: object, png: Path, *, run: bool, timeout_ms: int = 120_000, select: str | None = None
) -> bool:
    """Run (optionally), select ``select`` (default: the last block), fit, grab to ``png``."""
    from app.main_window import SCREENSHOT_SIZE, MainWindow

    assert isinstance(window, MainWindow)
    app = application()
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    _settle(app)
    window.default_dock_sizes()
    window.update_inference()
    if run:
        window.run_graph()
        if not window.runner.wait(timeout_ms):
            window.runner.shutdown()
            print(
                f"tensorblocks edit: the run did not finish within {timeout_ms // 1000} s",
                file=sys.stderr,
            )
    if select is not None:
        window.select_node(select)
    else:
        window.select_last_block()
    window.update_inference()
    _settle(app)
    window.fit_all()
    _settle(app)
    png.parent.mkdir(parents=True, exist_ok=True)
    return bool(window.grab().save(str(png), "PNG"))


def run_editor(argv: list[str]) -> int:
    """Entry point of ``tensorblocks edit``; returns the exit status (see the module docstring)."""
    args_list = list(argv)
    if args_list and args_list[0] == "edit":
        args_list = args_list[1:]
    try:
        args = _parser().parse_args(args_list)
    except _UsageError as error:
        print(f"tensorblocks edit: {error}", file=sys.stderr)
        print(_parser().format_usage().rstrip(), file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)

    screenshot = Path(args.screenshot) if args.screenshot else None
    if screenshot is not None and QApplication.instance() is None:
        # A screenshot needs no display: render offscreen unless told otherwise.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problem = None if QApplication.instance() is not None else startup_problem(os.environ)
    if problem is not None:
        # Qt would abort (exit 134) on start-up: say what is missing instead.
        print(f"tensorblocks edit: {problem}", file=sys.stderr)
        return 1
    app = application()
    from app.main_window import MainWindow

    window = MainWindow(theme=args.theme, restore_layout=screenshot is None)
    window.remember_files = screenshot is None
    previous_hook = sys.excepthook
    sys.excepthook = window.report_exception
    try:
        if screenshot is not None:
            if args.graph and not window.open_path(Path(args.graph), ask=False, interactive=False):
                texts = window.log.texts()
                detail = texts[-1] if texts else f"cannot open {args.graph}"
                print(f"tensorblocks edit: {detail}", file=sys.stderr)
                return 1
            if args.select is not None and args.select not in window.model.node_ids():
                print(f"tensorblocks edit: --select: the graph has no node '{args.select}'",
                      file=sys.stderr)
                return 1
            if not take_screenshot(window, screenshot, run=args.run, select=args.select):
                print(
                    f"tensorblocks edit: cannot write the screenshot {screenshot}", file=sys.stderr
                )
                return 1
            # hide, not close: closing would store this window's layout in the user's settings.
            window.runner.shutdown()
            window.hide()
            return 0
        # The start page (recent files, examples) over the empty canvas, and File > Examples.
        install_start_page(window)  # the page is a child of the canvas viewport
        window.show()
        # An autosave left by a crash is offered first, so this session never overwrites it.
        recovered = window.offer_recovery()
        if args.graph and not recovered:
            window.open_path(Path(args.graph), ask=False)
        if args.run:
            QTimer.singleShot(0, window.run_graph)
        app.exec()
        return 0
    finally:
        sys.excepthook = previous_hook
