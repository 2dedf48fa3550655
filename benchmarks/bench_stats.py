"""Tensor statistics (graph.stats.tensor_stats) against numpy's NaN-aware reductions.

The reference, timed in the same process, is what a plain numpy user would write:
``np.nanmin``, ``np.nanmax``, ``np.nanmean`` and ``np.nanstd`` in float64 over the whole
array (each widens the tensor to a full-size float64 copy). Printed per case: the best of
``--repeat`` times for both, their ratio, and the peak memory each allocates beyond the
tensor (tracemalloc), which for tensor_stats stays bounded by its pieces whatever the
tensor's size.

Run: ``python3 benchmarks/bench_stats.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.stats import tensor_stats


def reference(array: np.ndarray) -> tuple[float, float, float, float]:
    wide = array.astype(np.float64)
    wide[~np.isfinite(wide)] = np.nan
    return (float(np.nanmin(wide)), float(np.nanmax(wide)), float(np.nanmean(wide)),
            float(np.nanstd(wide)))


def measure(function: Callable[[np.ndarray], Any], array: np.ndarray, repeat: int
            ) -> tuple[float, float]:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function(array)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    function(array)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.standard_normal((1, 512, 512, 75), dtype=np.float32)
    images[0, 1, 2, 3] = np.nan
    cases: dict[str, np.ndarray] = {
        "[1,512,512,75] float32": images,
        "strided view of it": images[:, ::2, :, ::3],
        "[8,256,256,3] uint8": rng.integers(0, 255, (8, 256, 256, 3), dtype=np.uint8),
    }
    print(f"{'case':26s} {'stats ms':>9s} {'numpy ms':>9s} {'ratio':>6s} "
          f"{'stats MiB':>10s} {'numpy MiB':>10s}")
    for name, array in cases.items():
        ours, our_peak = measure(tensor_stats, array, args.repeat)
        theirs, their_peak = measure(reference, array, args.repeat)
        stats = tensor_stats(array)
        expected = reference(array)
        found = [float(v if v is not None else np.nan)
                 for v in (stats.min, stats.max, stats.mean, stats.std)]
        assert np.allclose(found, expected), name
        print(f"{name:26s} {ours * 1e3:9.1f} {theirs * 1e3:9.1f} {ours / theirs:6.2f} "
              f"{our_peak / 2**20:10.1f} {their_peak / 2**20:10.1f}")


if __name__ == "__main__":
    main()
