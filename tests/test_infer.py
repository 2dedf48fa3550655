"""Shape/dtype inference: never runs a kernel, records errors on their node, and matches
what the engine then produces on the real blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from blocks.errors import InvalidArgumentError, MemoryLimitError
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
from graph.engine import Engine
from graph.infer import UNKNOWN, infer, literal_info
from graph.model import GraphModel, PortRef

# ----------------------------------------------------------------------------- fake blocks


def _never_run(ctx: RunContext) -> dict[str, np.ndarray]:
    raise AssertionError("inference must not run a kernel")


def _const_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    value = ctx.inputs["value"]
    return {"out": TensorInfo(value.shape, value.dtype)}


def _double_width_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    x = ctx.inputs["x"]
    if x.shape is None:
        return {"out": TensorInfo(None, x.dtype)}
    if len(x.shape) != 2:
        raise InvalidArgumentError(f"x must be 2-D, got rank {len(x.shape)}", port="x")
    rows, cols = x.shape
    return {"out": TensorInfo((rows, None if cols is None else 2 * cols), x.dtype)}


def _buggy_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    return {"out": TensorInfo(ctx.inputs["missing"].shape, None)}


def _spec(name: str, infer_rule: Any, inputs: tuple[InputPort, ...]) -> BlockSpec:
    return BlockSpec(
        name=name, title=name, category="Test", doc=name, inputs=inputs,
        outputs=(OutputPort("out"),), attrs=(), infer=infer_rule, run=_never_run,
    )


FAKES = BlockRegistry(
    (
        _spec("Const", _const_infer, (InputPort("value", PortKind.TENSOR),)),
        _spec("Wide", _double_width_infer, (InputPort("x", PortKind.TENSOR),)),
        _spec("Buggy", _buggy_infer, (InputPort("x", PortKind.TENSOR),)),
    )
)


def wire(model: GraphModel, src: str, dst: str) -> None:
    model.connect(PortRef.parse(src), PortRef.parse(dst))


def test_shapes_flow_through_wires_without_running_kernels() -> None:
    model = GraphModel(FAKES)
    model.add_node("Wide", "w2")
    model.add_node("Const", "c", literals={"value": "{{1,2,3},{4,5,6}}"})
    model.add_node("Wide", "w1")
    wire(model, "c.out", "w1.x")
    wire(model, "w1.out", "w2.x")
    result = infer(model)
    assert result.ok and result.problems == []
    const = result.output("c", "out")
    assert const is not None and const.shape == (2, 3)
    assert result.output("w1", "out") == TensorInfo((2, 6), const.dtype)
    assert result.output("w2", "out") == TensorInfo((2, 12), const.dtype)
    assert result.ports["w1.x"] == const  # inputs are listed too
    literal = result.ports["c.value"]
    np.testing.assert_array_equal(literal.value, [[1, 2, 3], [4, 5, 6]])
    assert result.output("c", "nothing") is None


def test_an_infer_error_is_recorded_once_and_downstream_is_unknown() -> None:
    model = GraphModel(FAKES)
    model.add_node("Const", "vector", literals={"value": "{1,2,3}"})
    model.add_node("Wide", "bad")
    model.add_node("Wide", "below")
    model.add_node("Const", "fine", literals={"value": "{{1}}"})
    model.add_node("Wide", "fine_wide")
    wire(model, "vector.out", "bad.x")
    wire(model, "bad.out", "below.x")
    wire(model, "fine.out", "fine_wide.x")
    result = infer(model)
    [problem] = result.problems
    assert (problem.node, problem.block, problem.port) == ("bad", "Wide", "x")
    assert "rank 1" in problem.reason
    assert result.node_problems("bad") == [problem]
    assert result.node_problems("below") == []
    assert result.output("bad", "out") == UNKNOWN
    assert result.output("below", "out") == UNKNOWN
    assert result.output("fine_wide", "out") == TensorInfo((1, 2), np.dtype(np.int64))


def test_validation_problems_come_first_and_silence_downstream() -> None:
    model = GraphModel(FAKES)
    model.add_node("Const", "broken", literals={"value": "{1,"})
    model.add_node("Wide", "below")
    model.add_node("Nope", "ghost")
    wire(model, "broken.out", "below.x")
    result = infer(model)
    assert [(p.node, p.port) for p in result.problems] == [("broken", "value"), ("ghost", None)]
    assert result.output("below", "out") == UNKNOWN


def test_a_bug_in_an_infer_rule_becomes_an_internal_error() -> None:
    model = GraphModel(FAKES)
    model.add_node("Const", "c", literals={"value": "1"})
    model.add_node("Buggy", "b")
    wire(model, "c.out", "b.x")
    [problem] = infer(model).problems
    assert problem.node == "b" and problem.block == "Buggy"
    assert problem.reason.startswith("internal error in Buggy inference: KeyError")


def test_literal_info_describes_each_kind_of_value() -> None:
    assert literal_info((1, 3, 3, 1)) == TensorInfo((4,), np.dtype(np.int64), (1, 3, 3, 1))
    assert literal_info("SAME") == TensorInfo((), None, "SAME")
    array = np.zeros((2, 3), np.float32)
    info = literal_info(array)
    assert info.shape == (2, 3) and info.dtype == np.float32 and info.value is array


# ----------------------------------------------------------------------------- real blocks


def real_model(tmp_path: Path) -> GraphModel:
    """A graph touching every real block, with typed and wired int lists."""
    np.save(tmp_path / "image.npy", np.arange(2 * 6 * 5 * 3, dtype=np.float64).reshape(2, 6, 5, 3))
    model = GraphModel(REGISTRY)
    model.add_node("Input", "file_image", literals={"file": "image.npy", "dtype": "DT_FLOAT"})
    model.add_node(
        "Input", "small", literals={"dtype": "DT_INT16", "initvalues": "{1,2,3,4,5,6}",
                                    "shape": "{1,2,3,1}"},
    )
    model.add_node("Input", "ksizes", literals={"dtype": "DT_INT32", "initvalues": "{1,2,2,1}"})
    model.add_node(
        "ExtractImagePatches", "same",
        literals={"strides": "{1,2,2,1}", "padding": "SAME", "rates": "{1,1,2,1}"},
    )
    model.add_node("ExtractImagePatches", "valid", literals={"ksizes": "{1,2,2,1}"})
    model.add_node(
        "ExtractImagePatches", "empty", literals={"ksizes": "{1,3,3,1}", "rates": "{1,1,1,1}"},
    )
    model.add_node(
        "ExtractGlimpse", "glimpse",
        attrs="noise_ = zero; uniform_noise_ = false;",
        literals={"size": "{3,2}", "offsets": "{{0,0},{0.5,-0.5}}"},
    )
    model.add_node(
        "ExtractGlimpseV2", "glimpse_v2",
        attrs="centered_ = false; normalized_ = false; noise_ = zero; uniform_noise_ = false;",
        literals={"size": "{4,4}", "offsets": "{{1,1},{2,2}}"},
    )
    wire(model, "file_image.output", "same.images")
    wire(model, "ksizes.output", "same.ksizes")
    wire(model, "small.output", "valid.images")
    wire(model, "small.output", "empty.images")
    wire(model, "file_image.output", "glimpse.input")
    wire(model, "file_image.output", "glimpse_v2.input")
    return model


def test_inference_matches_the_executed_shapes_and_dtypes(tmp_path: Path) -> None:
    model = real_model(tmp_path)
    result = infer(model, base_dir=tmp_path)
    assert result.problems == []
    report = Engine().run(model, base_dir=tmp_path, seed=1)
    assert report.ok, report.problems
    for key, array in report.results.items():
        info = result.ports[key]
        assert info.known, key
        assert info.shape == array.shape, key
        assert info.dtype == array.dtype, key
    assert result.ports["empty.patches"].shape == (1, 0, 1, 9)
    assert result.ports["valid.patches"].dtype == np.int16
    assert result.ports["glimpse.glimpse"].shape == (2, 3, 2, 3)


def test_kernel_errors_are_found_by_inference_on_their_node(tmp_path: Path) -> None:
    model = real_model(tmp_path)
    model.set_literal("valid", "ksizes", "{1,9,1,1}")  # VALID: output size would be negative
    model.set_literal("glimpse", "offsets", "{{0,0}}")  # batch 2, one offset
    result = infer(model, base_dir=tmp_path)
    by_node = {p.node: p for p in result.problems}
    assert set(by_node) == {"valid", "glimpse"}
    assert by_node["valid"].block == "ExtractImagePatches"
    assert "negative" in by_node["valid"].reason
    assert by_node["glimpse"].block == "ExtractGlimpse"
    report = Engine().run(model, base_dir=tmp_path)
    assert {p.node for p in report.problems} == {"valid", "glimpse"}


def test_the_memory_limit_is_checked_without_allocating(tmp_path: Path) -> None:
    model = real_model(tmp_path)
    result = infer(model, base_dir=tmp_path, memory_limit=64)
    limited = [p for p in result.problems if isinstance(p, MemoryLimitError)]
    assert limited and all(p.node is not None and p.block is not None for p in limited)


def test_a_missing_file_is_an_inference_problem_on_its_node(tmp_path: Path) -> None:
    model = real_model(tmp_path)
    model.set_literal("file_image", "file", "missing.npy")
    result = infer(model, base_dir=tmp_path)
    [problem] = result.problems
    assert problem.node == "file_image" and problem.block == "Input"
    assert result.output("same", "patches") == UNKNOWN


def test_a_shape_rule_reads_what_inference_knows_of_each_input() -> None:
    size = np.array([3, 4], np.int32)
    ctx = InferContext(
        {"x": TensorInfo((2, None), np.dtype(np.float16)),
         "size": TensorInfo((2,), np.dtype(np.int32), size)},
        {},
    )
    assert ctx.shape("x") == (2, None) and ctx.dtype("x") == np.float16
    assert ctx.value("x") is None and ctx.value("size") is size
    assert ctx.passthrough("x") == TensorInfo((2, None), np.dtype(np.float16))
    # An input with neither wire nor literal is unknown, not an error.
    assert ctx.shape("unset") is None and ctx.dtype("unset") is None
    assert ctx.value("unset") is None and ctx.passthrough("unset") == TensorInfo(None, None)
