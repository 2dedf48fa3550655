"""The headless command line (SPEC section 6): ``run`` and ``check``. Never imports Qt.

``main(["run", GRAPH, "--out", "r.npz", "--seed", "1", "--set", "crop.size={8,8}"])``
loads the graph file, applies each ``--set node.port=LITERAL`` (a literal typed into an
input port, as in the editor), validates, executes and prints a table of every product
tensor (node.port, shape, dtype, min, max, mean — NaN-aware; complex tensors show their
mean only) and one line per node (ran or cached, seconds). With ``--out`` every product
tensor is saved under the key ``node.port`` with ``numpy.savez``, atomically.

``main(["check", GRAPH])`` validates and prints every port's inferred shape and dtype
(inputs and outputs) without executing, and whether the whole run fits the memory limit
(:func:`graph.memory.estimate_run`).

Both take ``--memory-limit SIZE`` (``512M``, ``4G``; default 2 GiB): one budget for the
whole run (:mod:`graph.memory`). A graph reading files outside its own folder gets one
``warning:`` line on stderr naming them, before anything is read (``--no-outside-warning``
turns it off).

Exit status: 0 success; 1 an unreadable or invalid graph or a failed run, with ONE line on
stderr naming the file and, where it applies, node, block and port; 2 bad usage (with a
hint when the shell split an unquoted ``{...}`` literal) or a graph needing a plugin
package that is not installed (the line names block and package); 130 Ctrl-C. No traceback is ever
printed: every failure goes through :func:`report_failure` (an unexpected exception becomes
one "internal error" line), and every line printed goes through
:func:`graph.text.safe_text`, so control characters from a file never reach the terminal.
Relative paths in the graph resolve against the graph file's folder.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import math
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

from blocks.errors import GraphError, TensorBlocksError, ValidationError
from blocks.spec import DEFAULT_MEMORY_LIMIT, PortKind, TensorInfo
from graph import batch_cli
from graph.atomic import write_atomically
from graph.engine import RunReport
from graph.fileformat import files_outside, load_graph, outside_files_note
from graph.memory import estimate_run, parse_memory_size
from graph.model import PortRef
from graph.session import Session
from graph.stats import format_number
from graph.stats import tensor_stats as compute_stats
from graph.text import safe_text
from graph.validate import validate

PROG = "tensorblocks"


class UsageError(Exception):
    """A command line that does not make sense (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would call sys.exit
        raise UsageError(f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``run`` and ``check`` (also used by :mod:`app.cli` for its help)."""
    parser = _Parser(prog=PROG, description="Run or check a TensorBlocks graph file.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser(
        "run",
        help="validate and execute a graph, print a table of its tensors",
        description="Validate and execute GRAPH; print every product tensor's shape, dtype, "
        "min, max and mean.",
    )
    run.add_argument("graph", metavar="GRAPH", help="a graph file (.tbg.json)")
    run.add_argument("--out", metavar="RESULTS.npz|STORE.zarr",
                     help="save every product tensor under the key node.port (with --map: "
                     "the zarr store of the batch run)")
    run.add_argument("--seed", type=int, metavar="N",
                     help="seed of the noise of glimpse blocks (default: fresh noise)")
    run.add_argument("--set", action="append", default=[], metavar="NODE.PORT=LITERAL",
                     dest="overrides",
                     help="type LITERAL into an input port before running (repeatable)")
    _memory_option(run)
    check = commands.add_parser(
        "check",
        help="validate a graph and print every port's shape and dtype without running it",
        description="Validate GRAPH and print every port's inferred shape and dtype.",
    )
    check.add_argument("graph", metavar="GRAPH", help="a graph file (.tbg.json)")
    check.add_argument("--set", action="append", default=[], metavar="NODE.PORT=LITERAL",
                       dest="overrides", help="type LITERAL into an input port first")
    _memory_option(check)
    batch_cli.add_arguments(run, check)
    return parser


def _memory_size(text: str) -> int:
    try:
        return parse_memory_size(text)
    except TensorBlocksError as error:
        raise argparse.ArgumentTypeError(error.reason) from None


def _memory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-outside-warning", action="store_true", dest="quiet_outside",
        help="do not warn about files read from outside the graph's folder",
    )
    parser.add_argument(
        "--memory-limit", type=_memory_size, default=DEFAULT_MEMORY_LIMIT, metavar="SIZE",
        help="the most memory the run may use for its tensors and working memory, e.g. "
        "512M or 4G (default 2G)",
    )


def main(argv: Sequence[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command in ``argv`` (without the program name); returns the exit status."""
    out = stdout if stdout is not None else _tolerant(sys.stdout)
    err = stderr if stderr is not None else _tolerant(sys.stderr)
    place: dict[str, str] = {}
    # NumPy's floating-point warnings (a signalling NaN read from a file, overflow in a
    # statistic) would print lines of their own: the result table already says nan/inf.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return _command(list(argv), out, err, place)
        except BaseException as error:  # the one place a failure becomes an exit status
            return report_failure(error, err, out=out, file=place.get("file"))


def _command(argv: list[str], out: TextIO, err: TextIO, place: dict[str, str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        build_parser().print_usage(err)
        raise UsageError(str(error) + _brace_hint(argv)) from None
    except SystemExit as stop:  # --help
        return int(stop.code or 0) if isinstance(stop.code, int | None) else 2
    if args.command is None:
        build_parser().print_usage(err)
        raise UsageError(f"{PROG}: error: expected a command: run or check")
    place["file"] = args.graph
    if args.maps:  # a batch run over datasets (graph.batch_cli)
        if args.command == "run":
            return batch_cli.run_command(args, out, err)
        return batch_cli.check_command(args, out, err)
    overrides = [_parse_override(text) for text in args.overrides]
    session = _load(args.graph, overrides, args.memory_limit)
    if not args.quiet_outside:
        outside = files_outside(session.model, session.resolve_dir)
        if outside:  # a stranger's graph: say which files it reads, before it reads them
            _one_line(err, f"warning: {args.graph}: {outside_files_note(outside)}")
    if args.command == "run":
        return _run(args.graph, session, args.out, args.seed, out, err)
    return _check(args.graph, session, out, err)


def exit_status(error: BaseException) -> int:
    """The documented exit status for a failure (SPEC section 6): 2 usage, 130 Ctrl-C, 1
    anything else (a graph that needs a missing plugin is an invalid graph here: 1)."""
    if isinstance(error, UsageError | batch_cli.MapUsageError):
        return 2
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else 1
    return 1


def failure_line(error: BaseException, file: str | None = None) -> str:
    """The one line a user reads for ``error`` (not yet escaped: see :func:`report_failure`)."""
    where = f"{file}: " if file else ""
    if isinstance(error, UsageError):
        return str(error)
    if isinstance(error, batch_cli.MapUsageError):
        return f"{PROG}: error: {error}"
    if isinstance(error, TensorBlocksError):
        if file and error.file is None:
            error = copy.copy(error).at(file=file)
        return f"error: {error}"
    if isinstance(error, KeyboardInterrupt):
        return f"error: {where}interrupted (Ctrl-C)"
    if isinstance(error, MemoryError):
        return f"error: {where}out of memory ({error or 'MemoryError'}); try a smaller input"
    if isinstance(error, OSError):
        target = f" {error.filename}" if error.filename else ""
        return f"error: {where}cannot access{target}: {error.strerror or error}"
    return f"internal error: {type(error).__name__}: {error}"


def report_failure(
    error: BaseException, err: TextIO, *, out: TextIO | None = None, file: str | None = None
) -> int:
    """Print the one line for ``error`` on ``err``; returns the exit status."""
    if isinstance(error, BrokenPipeError) or (
        isinstance(error, OSError) and error.errno == errno.EPIPE
    ):
        # The reader left (``| head``): stop quietly, and keep Python's final flush of
        # stdout from complaining about the closed pipe.
        if out is sys.stdout or out is None:
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
        return 1
    with contextlib.suppress(OSError, ValueError):
        _one_line(err, failure_line(error, file))
    return exit_status(error)


def _tolerant(stream: TextIO) -> TextIO:
    """``stream`` set to escape what its encoding cannot show (an ASCII locale, say)."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(Exception):
            reconfigure(errors="backslashreplace")
    return stream


#: Longest message line printed; a stranger's file can make a reason megabytes long.
_MAX_LINE = 2000


def _one_line(stream: TextIO, message: str) -> None:
    line = " ".join(message[: _MAX_LINE * 4].split())
    if len(line) > _MAX_LINE:
        line = line[: _MAX_LINE - 5] + " ..."
    print(safe_text(line), file=stream)


_ADDRESS_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_]*=")


def _brace_hint(argv: list[str]) -> str:
    """A hint when the shell split an unquoted ``{...}`` literal into several words.

    ``--set focus.offsets={{0.5,0.5}}`` unquoted reaches us as ``--set focus.offsets={0.5}
    focus.offsets={0.5}``: the second word is a stray ``NODE.PORT=`` argument.
    """
    stray = [
        word for i, word in enumerate(argv)
        if _ADDRESS_WORD.match(word) and (i == 0 or argv[i - 1] != "--set")
    ]
    if not stray:
        return ""
    return (
        f" (the shell expanded an unquoted {{...}} literal into several words, leaving "
        f"'{stray[0]}': quote the literal, e.g. --set 'focus.offsets={{{{0.5,0.5}}}}')"
    )


# ----------------------------------------------------------------------------- --set


def _parse_override(text: str) -> tuple[PortRef, str]:
    address, equals, literal = text.partition("=")
    if not equals:
        raise UsageError(f"{PROG}: error: --set expects NODE.PORT=LITERAL, got '{text}'")
    try:
        ref = PortRef.parse(address.strip())
    except GraphError:
        raise UsageError(
            f"{PROG}: error: --set expects NODE.PORT=LITERAL, got '{text}' "
            "(the port is addressed node.port)"
        ) from None
    return ref, literal


def _apply_overrides(session: Session, overrides: list[tuple[PortRef, str]], file: str) -> None:
    for ref, literal in overrides:
        try:
            session.set_literal(ref, literal)
        except GraphError as error:
            raise GraphError(f"--set {ref}: {error.reason}", file=file, node=error.node,
                             block=error.block, port=error.port) from None


# ----------------------------------------------------------------------------- run


def _load(path: str, overrides: list[tuple[PortRef, str]], memory_limit: int) -> Session:
    session = Session(load_graph(path), path=path, memory_limit=memory_limit)
    _apply_overrides(session, overrides, path)
    return session


def _fail(err: TextIO, problems: list[TensorBlocksError], file: str) -> int:
    _one_line(err, f"error: {ValidationError(problems, file=file)}")
    return 1


def _run(
    path: str,
    session: Session,
    out_path: str | None,
    seed: int | None,
    out: TextIO,
    err: TextIO,
) -> int:
    problems = validate(session.model, base_dir=session.base_dir)
    if problems:
        return _fail(err, problems, path)
    report = session.run(seed)
    _print_nodes(report, out)
    if report.results:
        print(file=out)
        print(format_table(report.results), file=out)
    if report.cancelled:
        _one_line(err, f"error: {path}: the run was cancelled")
        return 1
    if report.problems:
        return _fail(err, report.problems, path)
    if out_path is not None:
        save_results(report.results, out_path)
        print(f"\nsaved {len(report.results)} tensors to {out_path}", file=out)
    return 0


def _print_nodes(report: RunReport, out: TextIO) -> None:
    rows = [
        [node_id, node.block, node.status, f"{node.seconds:.3f} s"]
        for node_id, node in report.nodes.items()
    ]
    if not rows:
        print("the graph has no nodes", file=out)
        return
    print(_align(["node", "block", "status", "time"], rows, right={3}), file=out)
    print(f"total {report.seconds:.3f} s", file=out)


def save_results(results: dict[str, np.ndarray], path: str) -> None:
    """Save ``results`` as an ``.npz`` (key ``node.port``) atomically; GraphFileError on failure.

    A bfloat16 tensor is saved widened to float32 (exactly): the .npy format has no
    bfloat16, and NumPy would otherwise write raw two-byte records nobody can read.
    """
    arrays = {key: _storable(np.asarray(value)) for key, value in results.items()}

    savez: Any = np.savez  # its keyword "allow_pickle" cannot clash: our keys hold a dot

    def write(stream: Any) -> None:
        savez(stream, **arrays)

    write_atomically(path, write)


def _storable(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "V" and array.dtype.names is None:
        try:
            return array.astype(np.float32)  # ml_dtypes' bfloat16 widens exactly
        except (TypeError, ValueError):
            return array
    return array


# ----------------------------------------------------------------------------- the table


def _shape_text(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "?"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def tensor_stats(array: np.ndarray) -> tuple[str, str, str]:
    """min, max and mean of ``array`` as text (:func:`graph.stats.tensor_stats`), ``-`` where
    undefined.

    NaNs are left out and counted in the mean column; infinities are the extremes they are
    (and make the mean infinite); a complex tensor has no order, so only its mean is shown;
    a bool tensor counts as 0/1.
    """
    stats = compute_stats(array)
    if stats.empty:
        return "-", "-", "-"
    if stats.complex_mean is not None:
        return "-", "-", format_number(stats.complex_mean)
    if stats.nan == stats.size:
        return "nan", "nan", f"nan ({stats.nan} NaN)"
    if stats.min is None and not stats.inf:
        return "-", "-", "-"  # a dtype without numbers
    low = "-inf" if stats.neg_inf else format_number(stats.min if stats.min is not None
                                                     else math.inf)
    high = "inf" if stats.pos_inf else format_number(stats.max if stats.max is not None
                                                     else -math.inf)
    if stats.pos_inf and stats.neg_inf:
        mean = "nan"
    elif stats.inf:
        mean = "inf" if stats.pos_inf else "-inf"
    else:
        mean = format_number(stats.mean)
    if stats.nan:
        mean += f" ({stats.nan} NaN)"
    return low, high, mean


def format_table(results: dict[str, np.ndarray]) -> str:
    """The aligned table of ``results``: node.port, shape, dtype, min, max, mean."""
    rows = []
    for key, array in results.items():
        values = np.asarray(array)
        rows.append([key, _shape_text(tuple(values.shape)), values.dtype.name,
                     *tensor_stats(values)])
    return _align(["node.port", "shape", "dtype", "min", "max", "mean"], rows, right={3, 4})


def _align(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    header = [safe_text(cell) for cell in header]
    rows = [[safe_text(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


# ----------------------------------------------------------------------------- check


def _check(path: str, session: Session, out: TextIO, err: TextIO) -> int:
    model = session.model
    inference = session.infer()
    if not inference.problems:  # each tensor fits: does the whole run?
        estimate = estimate_run(
            model, base_dir=session.resolve_dir, memory_limit=session.engine.memory_limit,
            inference=inference,
        )
        if estimate.problem is not None:
            inference.problems.append(estimate.problem)
    rows: list[list[str]] = []
    for node in model.nodes():
        spec = model.registry.get(node.block)
        if spec is None:
            rows.append([node.id, "", node.block, "?", "?"])
            continue
        ports = [("in", p.name) for p in model.inputs_of(node.id) or ()
                 if p.kind in _TENSOR_KINDS]
        ports += [("out", p.name) for p in spec.outputs]
        for direction, name in ports:
            info = inference.ports.get(f"{node.id}.{name}")
            if info is None:
                if direction == "in":
                    continue  # an optional input that is not set
                info = TensorInfo(None, None)
            rows.append([f"{node.id}.{name}", direction, node.block, _shape_text(info.shape),
                         "?" if info.dtype is None else info.dtype.name])
    if rows:
        print(_align(["node.port", "", "block", "shape", "dtype"], rows), file=out)
    if inference.problems:
        print(file=out)
        for problem in inference.problems:
            _one_line(out, f"problem: {problem}")
        return _fail(err, inference.problems, path)
    print(f"\n{path}: {len(model)} nodes, {len(model.wires())} wires, no problems", file=out)
    return 0


_TENSOR_KINDS = (PortKind.TENSOR, PortKind.INT_LIST)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
