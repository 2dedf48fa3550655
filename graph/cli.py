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
hint when the shell split an unquoted ``{...}`` literal); 130 Ctrl-C. No traceback is ever
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
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from blocks.errors import GraphError, TensorBlocksError, ValidationError
from blocks.spec import DEFAULT_MEMORY_LIMIT, PortKind, TensorInfo
from graph.atomic import write_atomically
from graph.engine import Engine, RunReport
from graph.fileformat import files_outside, graph_base_dir, load_graph, outside_files_note
from graph.infer import infer
from graph.memory import estimate_run, parse_memory_size
from graph.model import GraphModel, PortRef
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
    run.add_argument("--out", metavar="RESULTS.npz",
                     help="save every product tensor under the key node.port")
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
    overrides = [_parse_override(text) for text in args.overrides]
    limit = args.memory_limit
    model, base_dir = _load(args.graph, overrides)
    if not args.quiet_outside:
        outside = files_outside(model, base_dir)
        if outside:  # a stranger's graph: say which files it reads, before it reads them
            _one_line(err, f"warning: {args.graph}: {outside_files_note(outside)}")
    if args.command == "run":
        return _run(args.graph, model, base_dir, args.out, args.seed, out, err, limit)
    return _check(args.graph, model, base_dir, out, err, limit)


def exit_status(error: BaseException) -> int:
    """The documented exit status for a failure: 2 usage, 130 Ctrl-C, 1 anything else."""
    if isinstance(error, UsageError):
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


def _apply_overrides(model: GraphModel, overrides: list[tuple[PortRef, str]], file: str) -> None:
    for ref, literal in overrides:
        if ref.node not in model:
            known = ", ".join(model.node_ids()) or "none"
            raise GraphError(f"--set {ref}: no node '{ref.node}' (nodes: {known})", file=file)
        node = model.node(ref.node)
        spec = model.registry.get(node.block)
        if spec is not None:
            port = spec.input(ref.port)
            if port is None:
                names = ", ".join(p.name for p in spec.inputs)
                raise GraphError(
                    f"--set: {spec.name} has no input '{ref.port}' (its inputs: {names})",
                    file=file, node=ref.node, block=node.block, port=ref.port,
                )
            if port.kind.wirable and model.wire_into(ref) is not None:
                wire = model.wire_into(ref)
                raise GraphError(
                    f"--set: the input is fed by a wire from '{wire.src if wire else '?'}'; "
                    "a wire takes precedence over a typed value",
                    file=file, node=ref.node, block=node.block, port=ref.port,
                )
        model.set_literal(ref.node, ref.port, literal)


# ----------------------------------------------------------------------------- run


def _load(path: str, overrides: list[tuple[PortRef, str]]) -> tuple[GraphModel, Path]:
    model = load_graph(path)
    _apply_overrides(model, overrides, path)
    return model, graph_base_dir(path)


def _fail(err: TextIO, problems: list[TensorBlocksError], file: str) -> int:
    _one_line(err, f"error: {ValidationError(problems, file=file)}")
    return 1


def _run(
    path: str,
    model: GraphModel,
    base_dir: Path,
    out_path: str | None,
    seed: int | None,
    out: TextIO,
    err: TextIO,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> int:
    problems = validate(model, base_dir=base_dir)
    if problems:
        return _fail(err, problems, path)
    report = Engine(memory_limit=memory_limit).run(model, base_dir=base_dir, seed=seed)
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


def _number_text(value: Any) -> str:
    if isinstance(value, complex | np.complexfloating):
        return f"{complex(value):.6g}".strip("()")
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return f"{number:.6g}"


def tensor_stats(array: np.ndarray) -> tuple[str, str, str]:
    """min, max and mean of ``array`` as text: NaN-aware, ``-`` where undefined.

    NaNs are left out of the statistics and counted in the mean column; a complex tensor
    has no order, so only its mean is shown; a bool tensor counts as 0/1.
    """
    values = np.asarray(array)
    if values.size == 0:
        return "-", "-", "-"
    if values.dtype.kind == "b":
        values = values.astype(np.uint8)
    if values.dtype.kind == "c":
        finite = values[~np.isnan(values)]
        mean = "nan" if finite.size == 0 else _number_text(finite.astype(np.complex128).mean())
        return "-", "-", mean
    if values.dtype.kind in "iu":
        return (
            _number_text(values.min()),
            _number_text(values.max()),
            _number_text(values.mean(dtype=np.float64)),
        )
    if values.dtype.kind not in "f":
        try:
            values = values.astype(np.float64)  # bfloat16 and friends
        except (TypeError, ValueError):
            return "-", "-", "-"
    wide = values.astype(np.float64)
    nan_count = int(np.isnan(wide).sum())
    if nan_count == wide.size:
        return "nan", "nan", f"nan ({nan_count} NaN)"
    finite = wide[~np.isnan(wide)]
    with np.errstate(over="ignore", invalid="ignore"):
        mean = _number_text(finite.mean())
    if nan_count:
        mean += f" ({nan_count} NaN)"
    return _number_text(finite.min()), _number_text(finite.max()), mean


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


def _check(
    path: str,
    model: GraphModel,
    base_dir: Path,
    out: TextIO,
    err: TextIO,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> int:
    inference = infer(model, base_dir=base_dir, memory_limit=memory_limit)
    if not inference.problems:  # each tensor fits: does the whole run?
        estimate = estimate_run(
            model, base_dir=base_dir, memory_limit=memory_limit, inference=inference
        )
        if estimate.problem is not None:
            inference.problems.append(estimate.problem)
    rows: list[list[str]] = []
    for node in model.nodes():
        spec = model.registry.get(node.block)
        if spec is None:
            rows.append([node.id, "", node.block, "?", "?"])
            continue
        ports = [("in", p.name) for p in spec.inputs if p.kind in _TENSOR_KINDS]
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
