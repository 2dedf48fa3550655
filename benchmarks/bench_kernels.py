"""Kernel benchmark: TensorBlocks' numpy kernels against TensorFlow and a copy floor.

Run ``python benchmarks/bench_kernels.py`` (``--quick`` for a short run, ``--only A,G4``
for some cases, ``--verbose`` for every round). In one process, for each case it times,
round-robin so that load from other processes hits all columns alike, the project
kernel, TensorFlow's raw op (the column reads ``-`` when TensorFlow is not importable)
and a copy floor (``numpy.empty`` + ``numpy.copyto`` of the output's bytes, the least any
kernel returning a fresh array must do). Each case runs ``--rounds`` (3) back-to-back
rounds of ``--repeats`` samples; it prints the slowest round's median for ours (the
worst of its repeats), the medians of TF and the floor, the worst round's ratios
ours/TF and ours/floor (taken within a round, so under the same load), "steady" (the
slowest round of ours over the fastest) and whether our output equals TF's bit for bit
(``-`` where the output is random noise). The load average is printed: other
processes on the machine slow both columns, not always alike.

Cases: ExtractImagePatches A-D (targets: at least 3x TF's speed, at most 2x the floor,
steady within 1.5x) and, for ExtractGlimpse V1 and V2, the glimpse cases G1-G6 at pixel
offsets (``centered=False, normalized=False``; V1's offsets are shifted by half the
window so both versions cut the same windows): G1 [32,256,256,3] 64x64 about half
crossing the border (zero, uniform, gaussian fill), G2 the same all inside, G3
[256,28,28,1] 8x8, G4 [1024,28,28,1] 8x8, G5 [256,32,32,3] 16x16, G6 [64,96,96,3]
24x24, each about half crossing (zero and uniform). Names read ``G<n><fill
letter>v<version>``, e.g. ``G4uv2``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from blocks import extract_glimpse, extract_glimpse_v2, extract_image_patches

try:
    import tensorflow as tf
except ImportError:  # the oracle extra is optional
    tf = None


@dataclass
class Case:
    """One benchmark case: how to run ours and TF's, and whether outputs must match."""

    name: str
    description: str
    ours: Callable[[], np.ndarray]
    theirs: Callable[[], np.ndarray] | None
    comparable: bool  # outputs are deterministic, so ours must equal TF's bit for bit


def _patches_case(
    name: str, shape: tuple[int, ...], k: int, s: int, r: int, padding: str, dtype: str
) -> Case:
    rng = np.random.default_rng(0)
    images = (rng.random(shape) * 250).astype(dtype)
    sizes, strides, rates = [1, k, k, 1], [1, s, s, 1], [1, r, r, 1]

    def ours() -> np.ndarray:
        return extract_image_patches(images, sizes, strides, rates, padding)

    theirs = None
    if tf is not None:
        tensor = tf.constant(images)

        def theirs() -> np.ndarray:
            return np.asarray(tf.image.extract_patches(tensor, sizes, strides, rates, padding))

    shown = "x".join(str(d) for d in shape)
    description = f"patches [{shown}] k{k} s{s} r{r} {padding} {dtype}"
    return Case(name, description, ours, theirs, True)


_GLIMPSE_OPS = {1: "ExtractGlimpse", 2: "ExtractGlimpseV2"}


def _glimpse_case(
    name: str, version: int, shape: tuple[int, int, int, int], window: int, noise: str,
    crossing: bool,
) -> Case:
    """Windows at pixel offsets (``centered=False, normalized=False``): all inside, or every
    other one sticking out over a random side by 1/8 to 5/8 of the window."""
    rng = np.random.default_rng(1)
    batch, height, width, _ = shape
    images = rng.random(shape, dtype=np.float32)
    inside = rng.integers(0, min(height, width) - window + 1, size=(batch, 2))
    if crossing:
        across = rng.integers(window // 8, 5 * window // 8 + 1, size=(batch, 2))
        low_side = rng.random((batch, 2)) < 0.5
        sticking = np.where(low_side, -across, np.array([height, width]) - window + across)
        tops_lefts = np.where((np.arange(batch) % 2 == 0)[:, None], sticking, inside)
    else:
        tops_lefts = inside
    # V1 takes the window's centre: y = oy - h/2 lands on the same top-left.
    offsets = (tops_lefts + (window / 2 if version == 1 else 0)).astype(np.float32)
    size = np.array([window, window], np.int32)
    attrs: dict[str, Any] = {
        "centered": False, "normalized": False, "uniform_noise": False, "noise": noise,
    }
    kernel = extract_glimpse if version == 1 else extract_glimpse_v2

    def ours() -> np.ndarray:
        return kernel(images, size, offsets, seed=7, **attrs)

    theirs = None
    if tf is not None:
        tensor, tf_size, tf_offsets = tf.constant(images), tf.constant(size), tf.constant(offsets)
        op = getattr(tf.raw_ops, _GLIMPSE_OPS[version])

        def theirs() -> np.ndarray:
            return np.asarray(op(input=tensor, size=tf_size, offsets=tf_offsets, **attrs))

    where = "~half crossing" if crossing else "all inside"
    shown = "x".join(str(d) for d in shape)
    description = f"glimpse V{version} [{shown}] {window}x{window} {where}, noise={noise}"
    return Case(name, description, ours, theirs, noise == "zero" or not crossing)


def _cases() -> list[Case]:
    cases = [
        _patches_case("A", (8, 224, 224, 3), 3, 1, 1, "SAME", "float32"),
        _patches_case("B", (1, 1024, 1024, 3), 7, 4, 2, "VALID", "float32"),
        _patches_case("C", (32, 64, 64, 16), 5, 2, 1, "SAME", "float32"),
        _patches_case("D", (32, 64, 64, 16), 5, 2, 1, "SAME", "uint8"),
    ]
    glimpses: list[tuple[str, tuple[int, int, int, int], int, bool, tuple[str, ...]]] = [
        ("G1", (32, 256, 256, 3), 64, True, ("zero", "uniform", "gaussian")),
        ("G2", (32, 256, 256, 3), 64, False, ("zero", "uniform")),
        ("G3", (256, 28, 28, 1), 8, True, ("zero", "uniform")),
        ("G4", (1024, 28, 28, 1), 8, True, ("zero", "uniform")),
        ("G5", (256, 32, 32, 3), 16, True, ("zero", "uniform")),
        ("G6", (64, 96, 96, 3), 24, True, ("zero", "uniform")),
    ]
    for label, shape, window, crossing, noises in glimpses:
        for version in (1, 2):
            for noise in noises:
                name = f"{label}{noise[0]}v{version}"
                cases.append(_glimpse_case(name, version, shape, window, noise, crossing))
    return cases


def _floor_for(reference: np.ndarray) -> Callable[[], np.ndarray]:
    def floor() -> np.ndarray:
        out = np.empty(reference.shape, reference.dtype)
        np.copyto(out, reference)
        return out

    return floor


def _time_round_robin(functions: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Median seconds of each function, timed in turn so noise hits all of them alike.

    What ran just before matters (a TF call leaves the allocator in a state where the next
    large numpy allocation page-faults afresh; a call that read the same input leaves it in
    the cache), so every round takes the next of all the orders of the functions: over
    the rounds each function follows each other equally often (a plain rotation of three
    had ours follow TF in two rounds of three, in a cache TF had just warmed).
    """
    orders = list(itertools.permutations(range(len(functions))))
    samples: list[list[float]] = [[] for _ in functions]
    for round_index in range(repeats):
        for index in orders[round_index % len(orders)]:
            start = time.perf_counter()
            result = functions[index]()
            samples[index].append(time.perf_counter() - start)
            del result  # freeing the output is not part of the call
    return [statistics.median(times) for times in samples]


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _run_case(case: Case, repeats: int, rounds: int, verbose: bool = False) -> list[str]:
    """``rounds`` back-to-back rounds of ``repeats`` round-robin samples; the worst round counts."""
    try:
        reference = case.ours()  # also the warm-up
    except NotImplementedError:
        return [case.name, case.description, "n/a", "-", "-", "-", "-", "-", "-"]
    functions: list[Callable[[], Any]] = [case.ours, _floor_for(reference)]
    match = "-"
    if case.theirs is not None:
        expected = case.theirs()  # warm-up
        if case.comparable:
            match = "yes" if _same_bits(reference, expected) else "NO"
        functions.append(case.theirs)
    per_round = [_time_round_robin(functions, repeats) for _ in range(rounds)]
    if verbose:
        shown = "; ".join(
            "/".join(f"{seconds * 1e3:.2f}" for seconds in medians) for medians in per_round
        )
        print(f"  {case.name} rounds (ours/floor/TF ms): {shown}", file=sys.stderr, flush=True)
    ours = [medians[0] for medians in per_round]
    floor = [medians[1] for medians in per_round]
    theirs = [medians[2] for medians in per_round] if len(functions) > 2 else []
    # Ratios are taken within a round (same load for every column), the worst one shown.
    to_tf = max(m[0] / m[2] for m in per_round) if theirs else None
    to_floor = max(m[0] / m[1] for m in per_round)
    return [
        case.name,
        case.description,
        f"{max(ours) * 1e3:.3f}",
        "-" if not theirs else f"{statistics.median(theirs) * 1e3:.3f}",
        f"{statistics.median(floor) * 1e3:.3f}",
        "-" if to_tf is None else f"{to_tf:.2f} ({1 / to_tf:.1f}x)",
        f"{to_floor:.2f}",
        f"{max(ours) / min(ours):.2f}",
        match,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per column")
    parser.add_argument("--rounds", type=int, default=3, help="back-to-back rounds per case")
    parser.add_argument("--only", default="", help="comma-separated case names or prefixes")
    parser.add_argument("--verbose", action="store_true", help="print every round's medians")
    args = parser.parse_args(argv)
    repeats = args.repeats or (6 if args.quick else 24)  # whole cycles of the 6 orders
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    header = [
        "case", "what", "ours ms", "TF ms", "floor ms", "ours/TF", "ours/floor", "steady",
        "same as TF",
    ]
    rows = [header]
    for case in _cases():
        if wanted and not any(case.name.startswith(name) for name in wanted):
            continue
        rows.append(_run_case(case, repeats, args.rounds, args.verbose))
        print(f"  done {case.name}", file=sys.stderr, flush=True)
    tf_version = "not importable" if tf is None else tf.__version__
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"numpy {np.__version__}, TensorFlow {tf_version}, {args.rounds} rounds x {repeats} "
        f"repeats; ours = slowest round's median, TF/floor = median of round medians, "
        f"ratios = worst round; steady = slowest/fastest round of ours; load average {load}"
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
