"""The command line of batch runs: ``run GRAPH --map TARGET=SOURCE ... --out STORE.zarr``.

Contract: :func:`add_arguments` adds the batch options to the ``run`` and ``check``
parsers of :mod:`graph.cli`; :func:`run_command` and :func:`check_command` carry them out
through :mod:`graph.batch` (the same code the Python API and the editor call) and return
the exit status. ``run`` draws a progress bar on stderr when stderr is a terminal (tqdm:
items done, items/s, ETA) and always ends with one summary line on stdout (items,
chunks, seconds, items/s). ``check --map`` validates the mapping (counts, shapes and
dtypes of the first item of each run of alike items) and prints the inferred per-item
shapes without running anything. Errors propagate as TensorBlocksError for
:func:`graph.cli.main` to print as one line (exit 1); Ctrl-C propagates as
KeyboardInterrupt (exit 130): chunks already written stay valid and ``--resume`` finishes
the run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from blocks.errors import TensorBlocksError
from blocks.spec import DEFAULT_MEMORY_LIMIT
from graph.batch import (
    COMPRESSIONS,
    BatchEvent,
    BatchPlan,
    BatchProgress,
    BatchStarted,
)
from graph.session import Session


class MapUsageError(TensorBlocksError):
    """A ``--map`` or batch option that does not make sense (exit status 2)."""


def add_arguments(run: argparse.ArgumentParser, check: argparse.ArgumentParser) -> None:
    """Add ``--map`` and the batch options to the ``run`` and ``check`` parsers."""
    for parser in (run, check):
        parser.add_argument(
            "--map", action="append", default=[], metavar="TARGET=SOURCE", dest="maps",
            help="run over a dataset: TARGET is an Input node id or NODE.PORT; SOURCE a .npy, "
            "name.npz:key, data.zarr[:path] or a quoted glob such as 'photos/*.png' "
            "(repeatable; sources are zipped item by item)",
        )
        parser.add_argument("--chunk", type=int, metavar="N",
                            help="items per chunk (default: chosen from the memory budget)")
        parser.add_argument("--workers", type=int, metavar="N",
                            help="worker threads of a local batch run (default: the cores)")
        parser.add_argument("--keep", action="append", default=[], metavar="NODE.PORT",
                            help="tensors to store (default: the outputs no wire consumes)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="send the chunks to a dask.distributed scheduler (tcp://HOST:PORT)")
    run.add_argument("--resume", action="store_true",
                     help="finish an interrupted batch run into the same store")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing batch store")
    run.add_argument("--compress", choices=COMPRESSIONS, default="none",
                     help="compression of the stored tensors (default: none, the fastest)")


def parse_maps(texts: list[str]) -> dict[str, str]:
    """``["image=photos/*.png"]`` -> ``{"image": "photos/*.png"}`` (MapUsageError if malformed)."""
    maps: dict[str, str] = {}
    for text in texts:
        target, equals, source = text.partition("=")
        if not equals or not target.strip() or not source.strip():
            raise MapUsageError(f"--map expects TARGET=SOURCE, got '{text}'")
        if target.strip() in maps:
            raise MapUsageError(f"--map {target.strip()} is given twice")
        maps[target.strip()] = source.strip()
    return maps


def _plan(args: argparse.Namespace, *, for_run: bool) -> tuple[Session, BatchPlan]:
    memory_limit = getattr(args, "memory_limit", None) or DEFAULT_MEMORY_LIMIT
    session = Session.load(args.graph, memory_limit=memory_limit)
    plan = session.plan_batch(
        parse_maps(args.maps), keep=args.keep or None, chunk=args.chunk, workers=args.workers,
        seed=getattr(args, "seed", None) if for_run else None, file=args.graph,
        compress=getattr(args, "compress", "none"),
    )
    return session, plan


def run_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``run GRAPH --map ... --out STORE.zarr``: the batch run; returns the exit status."""
    parse_maps(args.maps)
    if not args.out:
        raise MapUsageError("a batch run (--map) needs --out STORE.zarr")
    if Path(args.out).suffix.lower() != ".zarr":
        raise MapUsageError(f"--out of a batch run is a zarr store (name.zarr), got '{args.out}'")
    if getattr(args, "overrides", None):
        raise MapUsageError("--set cannot be combined with --map: map the port instead")
    if args.workers is not None and args.workers < 1:
        raise MapUsageError(f"--workers must be at least 1, got {args.workers}")
    session, plan = _plan(args, for_run=True)
    bar = _ProgressBar(err) if _is_terminal(err) else None
    if bar is not None:
        session.events.batch_started.connect(bar.update)
        session.events.batch_progress.connect(bar.update)
    try:
        summary = session.run_batch(plan, args.out, scheduler=args.scheduler,
                                    workers=args.workers, resume=args.resume,
                                    overwrite=args.overwrite)
    finally:
        if bar is not None:
            bar.close()
    print(summary.line(), file=out)
    return 0


def check_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``check GRAPH --map ...``: the mapping checked, per-item shapes printed."""
    del err
    _, plan = _plan(args, for_run=False)
    for target, source in zip(plan.targets, plan.sources, strict=True):
        print(f"--map {target.address}: {source.name}, {len(source)} items -> "
              f"{target.node}.{target.port}", file=out)
    for start, stop, shapes in plan.item_shapes:
        items = f"item {start}" if stop - start == 1 else f"items {start}..{stop - 1}"
        print(f"\n{items}:", file=out)
        width = max((len(name) for name in shapes), default=0)
        for name, shape in shapes.items():
            kept = "  (kept)" if name in plan.keep else ""
            dtype = plan.dtypes[name]
            print(f"  {name.ljust(width)}  [{','.join(map(str, shape))}] {dtype}{kept}",
                  file=out)
    print(f"\n{args.graph}: {plan.n_items} items in {len(plan.chunks)} chunks of up to "
          f"{plan.chunk}, keeping {', '.join(plan.keep)}; no problems", file=out)
    return 0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _ProgressBar:
    """tqdm on stderr: items done, items/s and the time left."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: Any = None

    def update(self, event: BatchEvent) -> None:
        from tqdm import tqdm

        if isinstance(event, BatchStarted):
            self.bar = tqdm(total=event.items - event.skipped_items, unit="item",
                            file=self.stream, dynamic_ncols=True, smoothing=0.1)
        elif isinstance(event, BatchProgress) and self.bar is not None:
            self.bar.update(event.items_done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
