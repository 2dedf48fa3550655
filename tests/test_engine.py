"""The execution engine: order, caching, error isolation, cancellation, seeds, targets.

Engine mechanics are tested with small fake blocks in their own BlockRegistry (so they do
not depend on the real kernels); the last tests run the real library blocks.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blocks.errors import (
    BlockFileError,
    InvalidArgumentError,
    MemoryLimitError,
    NodeFailedError,
    TensorBlocksError,
)
from blocks.library import REGISTRY, BlockRegistry
from blocks.spec import (
    AttrSpec,
    BlockSpec,
    InferContext,
    InputPort,
    OutputPort,
    PortKind,
    RunContext,
    TensorInfo,
)
from graph.engine import Engine, NodeFinished, NodeStarted, ProgressEvent, node_seed
from graph.model import GraphModel, PortRef, Wire

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- fake blocks

CALLS: Counter[str] = Counter()


def _no_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    return {"out": TensorInfo(None, None)}


def _fake(
    name: str,
    run: Any,
    inputs: tuple[InputPort, ...] = (),
    *,
    attrs: tuple[AttrSpec, ...] = (),
    **extra: Any,
) -> BlockSpec:
    def counted(ctx: RunContext) -> dict[str, np.ndarray]:
        CALLS[name] += 1
        result: dict[str, np.ndarray] = run(ctx)
        return result

    return BlockSpec(
        name=name, title=name, category="Test", doc=name, inputs=inputs,
        outputs=(OutputPort("out"),), attrs=attrs, infer=_no_infer, run=counted, **extra,
    )


def _fail(ctx: RunContext) -> dict[str, np.ndarray]:
    raise InvalidArgumentError("boom: the input is not acceptable")


def _bug(ctx: RunContext) -> dict[str, np.ndarray]:
    return {"out": np.asarray(1 / 0)}


def _noise(ctx: RunContext) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(ctx.seed)
    x = np.asarray(ctx.inputs["x"], dtype=np.float64)
    return {"out": x + rng.random(x.shape)}


def _load(ctx: RunContext) -> dict[str, np.ndarray]:
    path = Path(str(ctx.inputs["file"]))
    if ctx.base_dir is not None:
        path = ctx.base_dir / path
    if not path.is_file():
        raise BlockFileError(f"no file {path}", port="file")
    return {"out": np.load(path, allow_pickle=False)}


TAG = AttrSpec("tag", str, "", "changes nothing but the signature")

SOURCE = _fake(
    "Source",
    lambda ctx: {"out": np.asarray(ctx.inputs["value"], dtype=np.float64) * 1.0},
    (InputPort("value", PortKind.TENSOR, required=False, default="0", dtype="float64"),),
    attrs=(TAG,),
)
ADD = _fake(
    "Add",
    lambda ctx: {"out": ctx.inputs["a"] + ctx.inputs["b"]},
    (
        InputPort("a", PortKind.TENSOR),
        InputPort("b", PortKind.TENSOR, required=False, default="0", dtype="float64"),
    ),
    attrs=(TAG,),
)
FAIL = _fake("Fail", _fail, (InputPort("x", PortKind.TENSOR),))
BUG = _fake("Bug", _bug, (InputPort("x", PortKind.TENSOR),))
NOISE = _fake("Noise", _noise, (InputPort("x", PortKind.TENSOR),), noisy=True)
LOAD = _fake("Load", _load, (InputPort("file", PortKind.PATH),), reads_files=True)
ZEROS = _fake(
    "Zeros",
    lambda ctx: {"out": np.zeros(ctx.inputs["shape"])},
    (InputPort("shape", PortKind.INT_LIST, required=False, default="{2}"),),
)
INT_SOURCE = _fake(
    "IntSource",
    lambda ctx: {"out": np.asarray(ctx.inputs["value"])},
    (InputPort("value", PortKind.TENSOR, dtype="int32"),),
)
WRONG = _fake("Wrong", lambda ctx: {"other": np.zeros(1)})

FAKES = BlockRegistry((SOURCE, ADD, FAIL, BUG, NOISE, LOAD, ZEROS, INT_SOURCE, WRONG))


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def wire(model: GraphModel, src: str, dst: str) -> None:
    model.connect(PortRef.parse(src), PortRef.parse(dst))


def chain_model() -> GraphModel:
    """a -> b -> c, and an independent d -> e."""
    model = GraphModel(FAKES)
    model.add_node("Source", "a", literals={"value": "1"})
    model.add_node("Add", "b", literals={"b": "10"})
    model.add_node("Add", "c", literals={"b": "100"})
    model.add_node("Source", "d", literals={"value": "5"})
    model.add_node("Add", "e")
    wire(model, "a.out", "b.a")
    wire(model, "b.out", "c.a")
    wire(model, "d.out", "e.a")
    return model


# ----------------------------------------------------------------------------- order, values


def test_nodes_run_after_their_inputs_whatever_the_insertion_order() -> None:
    model = GraphModel(FAKES)
    model.add_node("Add", "total")
    model.add_node("Add", "left")
    model.add_node("Source", "x", literals={"value": "{1,2}"})
    model.add_node("Source", "y", literals={"value": "{10,20}"})
    wire(model, "left.out", "total.a")
    wire(model, "y.out", "total.b")
    wire(model, "x.out", "left.a")
    report = Engine().run(model)
    assert report.ok, report.problems
    order = list(report.nodes)
    assert sorted(order) == ["left", "total", "x", "y"]
    assert order.index("x") < order.index("left") < order.index("total")
    assert order.index("y") < order.index("total")
    # ties follow insertion order: x was added before y
    assert order == ["x", "left", "y", "total"]
    np.testing.assert_array_equal(report.results["total.out"], [11.0, 22.0])
    assert set(report.results) == {"total.out", "left.out", "x.out", "y.out"}


def test_report_inputs_are_the_upstream_arrays_not_copies() -> None:
    model = chain_model()
    report = Engine().run(model)
    assert report.nodes["b"].inputs["a"] is report.nodes["a"].outputs["out"]
    assert report.nodes["b"].inputs["a"] is report.results["a.out"]
    # outputs are shared with the cache, so nobody may change them in place
    with pytest.raises(ValueError):
        report.results["a.out"][...] = 0


# ----------------------------------------------------------------------------- caching


def test_second_run_is_all_cached_and_calls_no_kernel() -> None:
    model = chain_model()
    engine = Engine()
    first = engine.run(model)
    assert first.with_status("ran") == ["a", "b", "c", "d", "e"]
    calls = sum(CALLS.values())
    second = engine.run(model)
    assert second.with_status("cached") == ["a", "b", "c", "d", "e"]
    assert sum(CALLS.values()) == calls
    for key, array in first.results.items():
        assert second.results[key] is array


def test_editing_a_literal_reruns_that_node_and_downstream_only() -> None:
    model = chain_model()
    engine = Engine()
    engine.run(model)
    model.set_literal("b", "b", "20")
    report = engine.run(model)
    assert report.with_status("ran") == ["b", "c"]
    assert report.with_status("cached") == ["a", "d", "e"]
    np.testing.assert_array_equal(report.results["c.out"], 121.0)


def test_attrs_in_another_spelling_with_the_same_values_stay_cached() -> None:
    model = chain_model()
    model.set_attrs("b", "tag_ = x;")
    engine = Engine()
    engine.run(model)
    model.set_attrs("b", 'tag = "x"')
    assert engine.run(model).with_status("ran") == []
    model.set_attrs("b", "tag_ = y;")
    assert engine.run(model).with_status("ran") == ["b", "c"]


def test_removing_a_wire_reruns_the_node_it_fed() -> None:
    model = chain_model()
    model.set_literal("c", "a", "7")  # kept under the wire, used once the wire goes
    engine = Engine()
    engine.run(model)
    model.disconnect(PortRef("c", "a"))
    report = engine.run(model)
    assert report.with_status("ran") == ["c"]
    np.testing.assert_array_equal(report.results["c.out"], 107.0)


def test_a_renamed_node_and_its_downstream_stay_cached() -> None:
    model = chain_model()
    engine = Engine()
    engine.run(model)
    model.rename_node("b", "middle")
    report = engine.run(model)
    assert report.with_status("ran") == []
    assert sorted(report.with_status("cached")) == ["a", "c", "d", "e", "middle"]
    assert report.nodes["c"].inputs["a"] is report.results["middle.out"]
    assert "middle.out" in report.results and "b.out" not in report.results
    assert "b" not in engine.cached_nodes()


def test_removed_nodes_are_evicted_from_the_cache() -> None:
    model = chain_model()
    engine = Engine()
    engine.run(model)
    assert engine.cached_nodes() == {"a", "b", "c", "d", "e"}
    model.remove_node("e")
    model.remove_node("d")
    engine.run(model)
    assert engine.cached_nodes() == {"a", "b", "c"}
    engine.clear_cache()
    assert engine.cached_nodes() == set()
    assert engine.run(model).with_status("ran") == ["a", "b", "c"]


def test_a_changed_file_reruns_its_reader_and_downstream(tmp_path: Path) -> None:
    data = tmp_path / "data.npy"
    np.save(data, np.arange(3.0))
    model = GraphModel(FAKES)
    model.add_node("Load", "load", literals={"file": "data.npy"})
    model.add_node("Add", "plus")
    model.add_node("Source", "other", literals={"value": "2"})
    wire(model, "load.out", "plus.a")
    engine = Engine()
    first = engine.run(model, base_dir=tmp_path)
    assert first.ok, first.problems
    assert engine.run(model, base_dir=tmp_path).with_status("ran") == []

    np.save(data, np.arange(3.0) * 2)
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    report = engine.run(model, base_dir=tmp_path)
    assert report.with_status("ran") == ["load", "plus"]
    assert report.with_status("cached") == ["other"]
    np.testing.assert_array_equal(report.results["plus.out"], [0.0, 2.0, 4.0])


def test_a_missing_file_fails_its_reader_naming_the_port(tmp_path: Path) -> None:
    model = GraphModel(FAKES)
    model.add_node("Load", "load", literals={"file": "nowhere.npy"})
    report = Engine().run(model, base_dir=tmp_path)
    assert report.nodes["load"].status == "failed"
    error = report.nodes["load"].error
    assert error is not None and error.node == "load" and error.port == "file"


# ----------------------------------------------------------------------------- errors


def test_a_failing_branch_does_not_stop_an_independent_one() -> None:
    model = chain_model()
    model.add_node("Fail", "bad")
    model.add_node("Add", "after_bad")
    model.add_node("Add", "after_after")
    wire(model, "a.out", "bad.x")
    wire(model, "bad.out", "after_bad.a")
    wire(model, "after_bad.out", "after_after.a")
    report = Engine().run(model)
    assert not report.ok
    statuses = report.statuses()
    assert statuses["bad"] == "failed"
    assert statuses["after_bad"] == statuses["after_after"] == "skipped"
    assert [statuses[n] for n in "abcde"] == ["ran"] * 5
    error = report.nodes["bad"].error
    assert error is not None and error.node == "bad" and error.block == "Fail"
    assert "boom" in error.reason
    skipped = report.nodes["after_after"].error
    assert isinstance(skipped, NodeFailedError)
    assert "'bad'" in skipped.reason and skipped.node == "after_after"
    assert report.problems == [error]  # the skips are consequences, not problems
    assert "after_bad.out" not in report.results and "c.out" in report.results


def test_a_kernel_bug_becomes_an_internal_error_and_the_run_goes_on() -> None:
    model = chain_model()
    model.add_node("Bug", "buggy")
    model.add_node("Wrong", "wrong")
    wire(model, "a.out", "buggy.x")
    report = Engine().run(model)
    error = report.nodes["buggy"].error
    assert report.nodes["buggy"].status == "failed"
    assert error is not None and error.node == "buggy"
    assert error.reason.startswith("internal error in Bug: ZeroDivisionError")
    wrong = report.nodes["wrong"].error
    assert wrong is not None and "no array for output 'out'" in wrong.reason
    assert report.with_status("ran") == ["a", "b", "c", "d", "e"]


def test_validation_problems_fail_their_node_and_skip_downstream() -> None:
    model = chain_model()
    model.add_node("Add", "lonely")  # required input 'a' missing
    model.add_node("Add", "below")
    wire(model, "lonely.out", "below.a")
    model.set_literal("e", "b", "{1,")  # bad literal
    report = Engine().run(model)
    statuses = report.statuses()
    assert statuses["lonely"] == "failed" and statuses["below"] == "skipped"
    assert statuses["e"] == "failed"
    assert [statuses[n] for n in "abcd"] == ["ran"] * 4
    lonely = report.nodes["lonely"].error
    assert lonely is not None and lonely.port == "a" and "required" in lonely.reason
    bad_literal = report.nodes["e"].error
    assert bad_literal is not None and bad_literal.port == "b"
    assert {(p.node, p.port) for p in report.problems} == {("lonely", "a"), ("e", "b")}


def test_a_cycle_fails_its_nodes_and_the_rest_runs() -> None:
    model = GraphModel(FAKES)
    model.add_node("Source", "ok")
    model.add_node("Add", "p")
    model.add_node("Add", "q")
    model.add_node("Add", "below")
    model.add_wire_unchecked(Wire(PortRef("p", "out"), PortRef("q", "a")))
    model.add_wire_unchecked(Wire(PortRef("q", "out"), PortRef("p", "a")))
    model.add_wire_unchecked(Wire(PortRef("q", "out"), PortRef("below", "a")))
    report = Engine().run(model)
    assert report.statuses() == {"ok": "ran", "p": "failed", "q": "failed", "below": "skipped"}
    error = report.nodes["p"].error
    assert error is not None and error.reason == "cycle: p -> q -> p"


def test_an_int_list_port_takes_a_wired_integer_vector_and_refuses_others() -> None:
    model = GraphModel(FAKES)
    model.add_node("Source", "floats", literals={"value": "{2,3}"})
    model.add_node("Zeros", "from_floats")
    wire(model, "floats.out", "from_floats.shape")
    model.add_node("IntSource", "ints", literals={"value": "{3,1}"})
    model.add_node("Zeros", "from_ints")
    wire(model, "ints.out", "from_ints.shape")
    model.add_node("Zeros", "typed", literals={"shape": "{1,2,1}"})
    model.add_node("Zeros", "default")
    report = Engine().run(model)
    assert report.results["from_ints.out"].shape == (3, 1)
    assert report.nodes["from_ints"].inputs["shape"] == (3, 1)
    assert report.results["typed.out"].shape == (1, 2, 1)
    assert report.results["default.out"].shape == (2,)
    error = report.nodes["from_floats"].error
    assert report.nodes["from_floats"].status == "failed"
    assert error is not None and error.port == "shape" and error.node == "from_floats"
    assert "1-D integer tensor" in error.reason and "float64" in error.reason


# ----------------------------------------------------------------------------- progress, cancel


def test_progress_reports_every_node_in_order() -> None:
    events: list[ProgressEvent] = []
    report = Engine().run(chain_model(), progress=events.append)
    started = [e for e in events if isinstance(e, NodeStarted)]
    finished = [e for e in events if isinstance(e, NodeFinished)]
    assert [e.node for e in started] == [e.node for e in finished] == list(report.nodes)
    assert [e.index for e in started] == list(range(5)) and {e.total for e in events} == {5}
    for before, after in zip(events[::2], events[1::2], strict=True):
        assert isinstance(before, NodeStarted) and isinstance(after, NodeFinished)
        assert before.node == after.node
    assert finished[-1].fraction == 1.0 and started[0].fraction == 0.0
    assert all(e.status == "ran" and e.seconds >= 0 for e in finished)
    assert all(r.seconds >= 0 for r in report.nodes.values()) and report.seconds > 0


def test_cancelling_from_a_progress_callback_stops_before_the_next_node() -> None:
    cancel = threading.Event()

    def progress(event: ProgressEvent) -> None:
        if isinstance(event, NodeFinished) and event.node == "b":
            cancel.set()

    report = Engine().run(chain_model(), progress=progress, cancel=cancel)
    assert report.cancelled and not report.ok
    assert report.statuses() == {
        "a": "ran", "b": "ran", "c": "cancelled", "d": "cancelled", "e": "cancelled",
    }
    assert set(report.results) == {"a.out", "b.out"}
    assert report.problems == []


def test_an_already_set_cancel_event_runs_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    report = Engine().run(chain_model(), cancel=cancel)
    assert report.cancelled and report.with_status("cancelled") == ["a", "b", "c", "d", "e"]
    assert sum(CALLS.values()) == 0


# ----------------------------------------------------------------------------- seeds, targets


def noise_model() -> GraphModel:
    model = GraphModel(FAKES)
    model.add_node("Source", "zero", literals={"value": "{0,0,0,0}"})
    model.add_node("Noise", "n1")
    model.add_node("Noise", "n2")
    model.add_node("Add", "after")
    wire(model, "zero.out", "n1.x")
    wire(model, "zero.out", "n2.x")
    wire(model, "n1.out", "after.a")
    return model


def test_the_same_seed_gives_the_same_noise_and_is_cached() -> None:
    model = noise_model()
    first = Engine().run(model, seed=7)
    second = Engine().run(model, seed=7)
    np.testing.assert_array_equal(first.results["n1.out"], second.results["n1.out"])
    # each node has its own stream
    assert not np.array_equal(first.results["n1.out"], first.results["n2.out"])
    other = Engine().run(model, seed=8)
    assert not np.array_equal(first.results["n1.out"], other.results["n1.out"])

    engine = Engine()
    engine.run(model, seed=7)
    again = engine.run(model, seed=7)
    assert again.with_status("ran") == []
    reseeded = engine.run(model, seed=9)
    assert reseeded.with_status("ran") == ["n1", "n2", "after"]


def test_no_seed_gives_fresh_noise_every_run() -> None:
    model = noise_model()
    engine = Engine()
    first = engine.run(model)
    second = engine.run(model)
    assert second.with_status("ran") == ["n1", "n2", "after"]
    assert second.with_status("cached") == ["zero"]
    assert not np.array_equal(first.results["n1.out"], second.results["n1.out"])


def test_node_seed_is_documented_and_stable_across_processes() -> None:
    expected = int.from_bytes(
        hashlib.blake2b(b"42:glimpse", digest_size=8).digest(), "little"
    ) & ((1 << 63) - 1)
    assert node_seed(42, "glimpse") == expected
    assert node_seed(42, "glimpse") != node_seed(42, "glimpse_2") != node_seed(43, "glimpse")
    code = "from graph.engine import node_seed; print(node_seed(42, 'glimpse'))"
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True,
    )
    assert int(out.stdout) == expected


def test_targets_run_only_them_and_their_upstream() -> None:
    model = chain_model()
    report = Engine().run(model, targets=["b.out"])
    assert list(report.nodes) == ["a", "b"]
    assert set(report.results) == {"a.out", "b.out"}
    missing = Engine().run(model, targets=["nope"])
    assert not missing.ok and missing.nodes == {}
    assert missing.problems[0].node == "nope"


def test_problems_outside_the_targets_do_not_spoil_a_targeted_run() -> None:
    model = chain_model()
    model.add_node("Add", "lonely")
    assert Engine().run(model, targets=["c"]).ok
    assert not Engine().run(model).ok


# ----------------------------------------------------------------------------- real blocks


def real_patches_model() -> GraphModel:
    model = GraphModel(REGISTRY)
    model.add_node(
        "Input", "image",
        literals={"initvalues": "{{{{1},{2},{3}},{{4},{5},{6}},{{7},{8},{9}}}}"},
    )
    model.add_node("ExtractImagePatches", "patches", literals={"ksizes": "{1,2,2,1}"})
    wire(model, "image.output", "patches.images")
    return model


def test_real_blocks_extract_patches_and_cache() -> None:
    model = real_patches_model()
    engine = Engine()
    report = engine.run(model)
    assert report.ok, report.problems
    patches = report.results["patches.patches"]
    assert patches.dtype == np.float32 and patches.shape == (1, 2, 2, 4)
    np.testing.assert_array_equal(patches[0, 0, 0], [1, 2, 4, 5])
    np.testing.assert_array_equal(patches[0, 1, 1], [5, 6, 8, 9])
    model.set_literal("patches", "padding", "SAME")
    again = engine.run(model)
    assert again.with_status("ran") == ["patches"] and again.with_status("cached") == ["image"]
    assert again.results["patches.patches"].shape == (1, 3, 3, 4)


def test_real_glimpse_noise_follows_the_run_seed() -> None:
    model = GraphModel(REGISTRY)
    model.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"})
    model.add_node(
        "ExtractGlimpse", "glimpse", literals={"size": "{4,4}", "offsets": "{{0,0}}"},
    )
    wire(model, "image.output", "glimpse.input")
    first = Engine().run(model, seed=3)
    assert first.ok, first.problems
    second = Engine().run(model, seed=3)
    glimpse = first.results["glimpse.glimpse"]
    assert glimpse.shape == (1, 4, 4, 1)
    np.testing.assert_array_equal(glimpse, second.results["glimpse.glimpse"])
    fresh = [Engine().run(model).results["glimpse.glimpse"] for _ in range(2)]
    assert not np.array_equal(fresh[0], fresh[1])  # the noise border differs


def test_real_kernel_errors_carry_the_node() -> None:
    model = real_patches_model()
    model.set_literal("patches", "ksizes", "{2,2,2,1}")
    report = Engine().run(model)
    error = report.nodes["patches"].error
    assert report.nodes["patches"].status == "failed"
    assert isinstance(error, TensorBlocksError) and error.node == "patches"
    assert "Only support ksizes across space" in error.reason


def test_the_engine_memory_limit_reaches_the_kernels() -> None:
    model = real_patches_model()
    # The run's budget: the image (36 bytes, kept) fits, the patches' 64-byte output and
    # their working memory on top of it do not.
    report = Engine(memory_limit=64).run(model)
    error = report.nodes["patches"].error
    assert isinstance(error, MemoryLimitError) and error.node == "patches"
    assert report.nodes["image"].status == "ran"
    assert Engine().run(model).ok


def test_a_renamed_noisy_node_gets_its_own_seed_and_runs_again() -> None:
    model = noise_model()
    engine = Engine()
    first = engine.run(model, seed=1)
    model.rename_node("n2", "n3")
    report = engine.run(model, seed=1)
    assert report.with_status("ran") == ["n3"]
    assert not np.array_equal(first.results["n2.out"], report.results["n3.out"])


def test_runs_from_two_threads_are_serialized_and_both_complete() -> None:
    model = chain_model()
    engine = Engine()
    reports: list[Any] = []
    threads = [threading.Thread(target=lambda: reports.append(engine.run(model))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reports) == 4 and all(r.ok for r in reports)
    assert sum(len(r.with_status("ran")) for r in reports) == 5  # each node ran once


def test_redrawing_the_same_wires_in_another_order_keeps_the_cache() -> None:
    model = GraphModel(FAKES)
    model.add_node("Source", "x", literals={"value": "1"})
    model.add_node("Source", "y", literals={"value": "2"})
    model.add_node("Add", "total")
    wire(model, "x.out", "total.a")
    wire(model, "y.out", "total.b")
    engine = Engine()
    engine.run(model)
    model.disconnect(PortRef("total", "a"))
    wire(model, "x.out", "total.a")  # now drawn after total.b
    assert engine.run(model).with_status("ran") == []
    model.disconnect(PortRef("total", "a"))
    model.disconnect(PortRef("total", "b"))
    wire(model, "y.out", "total.a")
    wire(model, "x.out", "total.b")  # swapped: a different computation
    assert engine.run(model).with_status("ran") == ["total"]


@pytest.mark.parametrize("seed", range(12))
def test_after_any_edit_exactly_the_edited_node_and_its_downstream_run(seed: int) -> None:
    rng = random.Random(seed)
    model = GraphModel(FAKES)
    model.add_node("Source", "n0", literals={"value": "1"})
    for i in range(1, 25):
        model.add_node("Add", f"n{i}", literals={"b": str(i)})
        model.connect(PortRef(f"n{rng.randrange(i)}", "out"), PortRef(f"n{i}", "a"))
        if rng.random() < 0.4:
            model.connect(PortRef(f"n{rng.randrange(i)}", "out"), PortRef(f"n{i}", "b"))
    engine = Engine()
    engine.run(model)
    for _ in range(4):
        edited = f"n{rng.randrange(1, 25)}"
        model.set_attrs(edited, f"tag_ = t{rng.random()};")
        report = engine.run(model)
        assert set(report.with_status("ran")) == {edited} | model.downstream(edited)
        assert len(report.with_status("cached")) == 25 - len(report.with_status("ran"))
        fresh = Engine().run(model)
        assert report.results.keys() == fresh.results.keys()
        for key, array in fresh.results.items():
            np.testing.assert_array_equal(report.results[key], array)
