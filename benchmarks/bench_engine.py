"""Engine overhead per node: a 1000-node chain of tiny nodes, cold, cached, and after one edit.

Two chains are timed:

* ``fake``: a registry of trivial blocks (``Start`` -> ``Step`` -> ``Step`` ...), each kernel
  one numpy addition on a 0-d array;
* ``real``: ``Input`` ([1,1,1,1] image) -> ``ExtractImagePatches`` (k=1) -> ... with the
  library's blocks (skipped while the kernels are not implemented).

The kernels' own time is measured in the same process by calling each block's ``run`` on
the same inputs in a plain loop; the engine's overhead per node is (engine time - kernel
time) / nodes. The goal is < 30 µs per node. "kernels replaced" times the engine alone: the
same graph with every kernel swapped for one that returns a precomputed output (kernels
interleaved with engine work run slower than in a tight loop, so this figure is the lower,
cleaner one). With ``--tf`` the fixed cost of one
TensorFlow eager ``tf.image.extract_patches`` call on a [1,1,1,1] image is measured too, and
the overhead is printed as a ratio of it.

Run: ``python3 benchmarks/bench_engine.py [--nodes 1000] [--repeat 5] [--tf]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blocks.library import REGISTRY, BlockRegistry
from blocks.spec import (
    BlockSpec,
    InferContext,
    InputPort,
    OutputPort,
    PortKind,
    RunContext,
    TensorInfo,
)
from graph.engine import Engine, RunReport
from graph.infer import infer
from graph.model import GraphModel, PortRef
from graph.validate import validate


def _info(ctx: InferContext) -> dict[str, TensorInfo]:
    return {"out": TensorInfo((), np.dtype(np.float64))}


def _start(ctx: RunContext) -> dict[str, np.ndarray]:
    return {"out": np.asarray(ctx.inputs["value"], dtype=np.float64)}


def _step(ctx: RunContext) -> dict[str, np.ndarray]:
    return {"out": np.add(ctx.inputs["x"], ctx.inputs["plus"])}


FAKES = BlockRegistry(
    (
        BlockSpec("Start", "Start", "Bench", "", (InputPort("value", PortKind.TENSOR),),
                  (OutputPort("out"),), (), _info, _start),
        BlockSpec(
            "Step", "Step", "Bench", "",
            (InputPort("x", PortKind.TENSOR),
             InputPort("plus", PortKind.TENSOR, required=False, default="1", dtype="float64")),
            (OutputPort("out"),), (), _info, _step,
        ),
    )
)


def fake_chain(nodes: int) -> tuple[GraphModel, str, str, str]:
    model = GraphModel(FAKES)
    model.add_node("Start", "n0", literals={"value": "0"})
    for i in range(1, nodes):
        model.add_node("Step", f"n{i}")
        model.connect(PortRef(f"n{i - 1}", "out"), PortRef(f"n{i}", "x"))
    return model, f"n{nodes // 2}", "plus", "2"


def real_chain(nodes: int) -> tuple[GraphModel, str, str, str]:
    model = GraphModel(REGISTRY)
    model.add_node("Input", "n0", literals={"initvalues": "{{{{1.5}}}}"})
    for i in range(1, nodes):
        model.add_node("ExtractImagePatches", f"n{i}", literals={"ksizes": "{1,1,1,1}"})
        model.connect(PortRef(f"n{i - 1}", "output" if i == 1 else "patches"),
                      PortRef(f"n{i}", "images"))
    return model, f"n{nodes // 2}", "padding", "SAME"


def kernel_seconds(model: GraphModel, report: RunReport, repeat: int) -> float:
    """The kernels' own time: each node's ``run`` on the inputs it got, in a plain loop."""
    calls: list[tuple[Callable[[RunContext], Any], RunContext]] = []
    for node_report in report.nodes.values():
        spec = model.registry[node_report.block]
        calls.append((spec.run, RunContext(node_report.inputs, node_report.attrs)))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for run, ctx in calls:
            run(ctx)
        best = min(best, time.perf_counter() - t0)
    return best


def _constant(fixed: dict[str, np.ndarray]) -> Callable[[RunContext], dict[str, np.ndarray]]:
    def run(ctx: RunContext) -> dict[str, np.ndarray]:
        return dict(fixed)

    return run


def free_kernels(model: GraphModel, report: RunReport) -> GraphModel:
    """``model`` with every block's kernel replaced by one returning a precomputed output."""
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for node_report in report.nodes.values():
        outputs.setdefault(node_report.block, node_report.outputs)
    specs = []
    for spec in model.registry.values():
        specs.append(dataclasses.replace(spec, run=_constant(outputs.get(spec.name, {}))))
    free = model.copy()
    free.registry = BlockRegistry(tuple(specs))
    return free


def best_of(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - t0)
    return best, result


def bench(name: str, build: Callable[[int], tuple[GraphModel, str, str, str]], nodes: int,
          repeat: int, tf_call: float | None) -> None:
    model, middle, port, new_text = build(nodes)
    cold_seconds, report = best_of(repeat, lambda: Engine().run(model))
    if not report.ok:
        print(f"[{name}] not run: {report.problems[0]}")
        return
    kernels = kernel_seconds(model, report, repeat)
    overhead = (cold_seconds - kernels) / nodes
    engine = Engine()
    engine.run(model)
    cached_seconds, cached = best_of(repeat, lambda: engine.run(model))
    assert len(cached.with_status("cached")) == nodes

    def edit_and_run() -> RunReport:
        model.set_literal(middle, port, None)
        engine.run(model)  # back to the original
        model.set_literal(middle, port, new_text)
        t0 = time.perf_counter()
        result = engine.run(model)
        result.seconds = time.perf_counter() - t0
        return result

    edited: RunReport = min((edit_and_run() for _ in range(repeat)), key=lambda r: r.seconds)
    validate_seconds, _ = best_of(repeat, lambda: validate(model))
    infer_seconds, _ = best_of(repeat, lambda: infer(model))

    def line(label: str, seconds: float) -> None:
        print(f"  {label:<20}{seconds * 1e3:8.2f} ms   {seconds / nodes * 1e6:6.1f} µs/node")

    print(f"[{name}] chain of {nodes} nodes (best of {repeat})")
    line("cold run", cold_seconds)
    line("kernels alone", kernels)
    print(f"  engine overhead                 {overhead * 1e6:6.1f} µs/node  (goal < 30)")
    line("all cached re-run", cached_seconds)
    print(f"  edit {middle} + re-run {edited.seconds * 1e3:8.2f} ms   "
          f"ran {len(edited.with_status('ran'))}, cached {len(edited.with_status('cached'))}")
    free_model = free_kernels(model, report)
    free_seconds, _ = best_of(repeat, lambda: Engine().run(free_model))
    line("kernels replaced", free_seconds)
    print("    (engine alone: every kernel returns its precomputed output at no cost)")
    line("validate", validate_seconds)
    line("infer", infer_seconds)
    if tf_call is not None:
        print(f"  overhead / TF eager extract_patches call = {overhead / tf_call:.2f}"
              f"  (TF call {tf_call * 1e6:.1f} µs)")


def tf_eager_call_seconds(repeat: int) -> float | None:
    try:
        import tensorflow as tf
    except ImportError:
        print("TensorFlow not importable: no TF reference")
        return None
    image = tf.constant(np.full((1, 1, 1, 1), 1.5, np.float32))
    calls = 2000

    def loop() -> None:
        for _ in range(calls):
            tf.image.extract_patches(image, [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")

    loop()  # warm up
    seconds, _ = best_of(repeat, loop)
    return seconds / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tf", action="store_true", help="also time a TF eager call")
    args = parser.parse_args()
    tf_call = tf_eager_call_seconds(args.repeat) if args.tf else None
    bench("fake", fake_chain, args.nodes, args.repeat, tf_call)
    bench("real", real_chain, args.nodes, args.repeat, tf_call)


if __name__ == "__main__":
    main()
