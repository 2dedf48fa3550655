"""The ``tensorblocks`` command line: ``edit`` (Qt), ``run`` and ``check`` (headless, no Qt).

* ``tensorblocks`` / ``tensorblocks edit [GRAPH] [--run] [--screenshot PNG]``: the editor,
  :func:`app.editor.run_editor` called with the arguments starting at ``edit`` (imported
  only here, so the headless commands never load Qt). ``tensorblocks GRAPH.tbg.json`` and
  ``tensorblocks --option ...`` mean ``tensorblocks edit ...``.
* ``tensorblocks run ...`` / ``tensorblocks check ...``: :func:`graph.cli.main`.
* ``tensorblocks --version`` / ``--help``: answered without importing numpy, networkx or Qt,
  so they return at interpreter start-up speed.
"""

from __future__ import annotations

import importlib.util
import re
import signal
import sys
import threading

USAGE = """\
usage: tensorblocks [edit] [GRAPH] [--run] [--screenshot PNG]
       tensorblocks run GRAPH [--out RESULTS.npz] [--seed N] [--set NODE.PORT=LITERAL ...]
       tensorblocks check GRAPH [--set NODE.PORT=LITERAL ...]
       tensorblocks --version | --help"""

HELP = (
    USAGE
    + """

TensorBlocks: a visual dataflow block editor for image-tensor pipelines.

commands:
  edit [GRAPH]   open the editor (the default), optionally on a graph file (.tbg.json);
                 --run runs the graph once opened, --screenshot PNG saves the window and quits
  run GRAPH      validate and execute a graph headless; print shape, dtype, min, max and mean
                 of every product tensor; --out saves them all (key node.port) to an .npz;
                 --seed N makes the glimpse noise reproducible; --set types a literal into a port
  check GRAPH    validate a graph and print every port's inferred shape and dtype

exit status: 0 success, 1 invalid graph or failed run (one line on stderr), 2 bad usage.
Run 'tensorblocks run --help' for the options of a command."""
)

_HEADLESS = ("run", "check")


def version() -> str:
    """The version in ``blocks/__init__.py``, read without importing the package (and numpy)."""
    spec = importlib.util.find_spec("blocks")
    if spec is not None and spec.origin:
        try:
            with open(spec.origin, encoding="utf-8") as stream:
                match = re.search(r'^__version__ = "([^"]+)"', stream.read(), re.MULTILINE)
            if match:
                return match.group(1)
        except OSError:
            pass
    from blocks import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    first = args[0] if args else None
    if first in ("--version", "-V"):
        print(f"tensorblocks {version()}")
        return 0
    if first in ("-h", "--help", "help"):
        print(HELP)
        return 0
    if first in _HEADLESS:
        try:  # Ctrl-C while numpy and networkx load: the documented status, no traceback
            from graph.cli import main as headless_main
        except KeyboardInterrupt:
            print("error: interrupted (Ctrl-C)", file=sys.stderr)
            return 130
        status = headless_main(args)
        if argv is None and threading.current_thread() is threading.main_thread():
            # Run as the program (not called in-process): the status is decided, and a
            # Ctrl-C while the interpreter tears down (freeing the tensors takes a moment)
            # must not turn it into death by SIGINT.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return status
    if first is None:
        args = ["edit"]
    elif first != "edit":
        # Options (--run, --screenshot, --theme...) belong to the editor, which judges them.
        if not first.startswith("-") and not first.lower().endswith(".json"):
            print(USAGE, file=sys.stderr)
            print(
                f"tensorblocks: error: unknown command '{first}' (expected edit, run or check)",
                file=sys.stderr,
            )
            return 2
        args = ["edit", *args]
    try:
        from app.editor import run_editor
    except ImportError as error:
        from app.qt_check import library_problem

        reason = library_problem(error) or f"the editor cannot start: {error}"
        print(f"tensorblocks: error: {reason}", file=sys.stderr)
        return 1
    return run_editor(args)


if __name__ == "__main__":
    sys.exit(main())
