"""Validation collects every problem of a graph, each with the right node, block, port, attr."""

from __future__ import annotations

import numpy as np

from blocks.errors import AttrsError, LiteralError, TensorBlocksError
from blocks.library import REGISTRY, BlockRegistry
from blocks.spec import BlockSpec, InputPort, OutputPort, PortKind, TensorInfo
from graph.model import GraphModel, PortRef, Wire
from graph.resolve import parse_literal_cached
from graph.validate import validate


def place(problem: TensorBlocksError) -> tuple[str | None, str | None, str | None]:
    return problem.node, problem.block, problem.port


def valid_model() -> GraphModel:
    model = GraphModel(REGISTRY)
    model.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"})
    model.add_node("Input", "sizes", literals={"dtype": "DT_INT32", "initvalues": "{1,2,2,1}"})
    model.add_node("ExtractImagePatches", "patches", literals={"padding": "SAME"})
    model.add_node(
        "ExtractGlimpse", "glimpse",
        attrs="centered_ = true;normalized_ = true;uniform_noise_ = false;noise_ = zero;",
        literals={"size": "{1,1}", "offsets": "{{0,0}}"},
    )
    model.connect(PortRef("image", "output"), PortRef("patches", "images"))
    model.connect(PortRef("sizes", "output"), PortRef("patches", "ksizes"))
    model.connect(PortRef("image", "output"), PortRef("glimpse", "input"))
    return model


def test_a_valid_graph_has_no_problem() -> None:
    assert validate(valid_model()) == []
    assert validate(GraphModel(REGISTRY)) == []


def test_every_problem_of_a_graph_is_reported_with_its_place() -> None:
    model = valid_model()
    model.add_node("NoSuchBlock", "ghost")
    model.set_literal("image", "colour", "red")  # unknown literal key
    model.set_attrs("glimpse", "centered_ = maybe;")  # bad attr value
    model.set_literal("glimpse", "size", "{8,")  # bad literal
    model.set_literal("patches", "padding", "same")  # outside the choices
    model.add_node("ExtractImagePatches", "no_images")  # required 'images' missing
    model.add_node(
        "Input", "both", literals={"initvalues": "1", "file": "a.npy"}
    )  # check_inputs
    model.add_node("Input", "neither")  # check_inputs
    # wires a file may state but the editor would refuse
    model.add_wire_unchecked(Wire(PortRef("image", "output"), PortRef("no_images", "padding")))
    model.add_wire_unchecked(Wire(PortRef("image", "nothing"), PortRef("glimpse", "offsets")))
    model.add_wire_unchecked(Wire(PortRef("sizes", "output"), PortRef("glimpse", "bogus")))

    problems = validate(model)
    assert all(isinstance(p, TensorBlocksError) for p in problems)
    found = {place(p): p for p in problems}
    expected = {
        ("ghost", "NoSuchBlock", None),
        ("image", "Input", "colour"),
        ("glimpse", "ExtractGlimpse", None),  # the attrs problem
        ("glimpse", "ExtractGlimpse", "size"),
        ("glimpse", "ExtractGlimpse", "offsets"),
        ("glimpse", "ExtractGlimpse", "bogus"),
        ("patches", "ExtractImagePatches", "padding"),
        ("no_images", "ExtractImagePatches", "images"),
        ("no_images", "ExtractImagePatches", "padding"),
        ("both", "Input", "file"),
        ("neither", "Input", "initvalues"),
    }
    assert set(found) == expected
    assert len(problems) == len(expected)

    assert "unknown block 'NoSuchBlock'" in found["ghost", "NoSuchBlock", None].reason
    assert "Input" in found["ghost", "NoSuchBlock", None].reason  # names the known blocks
    assert "unknown port 'colour'" in found["image", "Input", "colour"].reason
    attrs_problem = found["glimpse", "ExtractGlimpse", None]
    assert isinstance(attrs_problem, AttrsError) and "maybe" in str(attrs_problem)
    assert isinstance(found["glimpse", "ExtractGlimpse", "size"], LiteralError)
    choice = found["patches", "ExtractImagePatches", "padding"]
    assert isinstance(choice, LiteralError) and "SAME, VALID" in choice.reason
    assert "'same'" in choice.reason
    assert "required" in found["no_images", "ExtractImagePatches", "images"].reason
    assert "not a wire" in found["no_images", "ExtractImagePatches", "padding"].reason
    assert "not an output of Input" in found["glimpse", "ExtractGlimpse", "offsets"].reason
    assert "unknown port 'bogus'" in found["glimpse", "ExtractGlimpse", "bogus"].reason
    assert "exactly one" in found["both", "Input", "file"].reason
    assert "exactly one" in found["neither", "Input", "initvalues"].reason
    # problems come in node insertion order
    order = model.node_ids()
    positions = [order.index(p.node) for p in problems if p.node is not None]
    assert positions == sorted(positions)


def test_a_literal_hidden_under_a_wire_is_not_judged() -> None:
    model = valid_model()
    model.set_literal("patches", "ksizes", "{oops")
    assert validate(model) == []
    model.disconnect(PortRef("patches", "ksizes"))
    [problem] = validate(model)
    assert place(problem) == ("patches", "ExtractImagePatches", "ksizes")


def test_a_cycle_is_named_on_every_node_of_it() -> None:
    model = GraphModel(REGISTRY)
    for name in ("a", "b", "c", "outside"):
        model.add_node("ExtractImagePatches", name)
    model.add_wire_unchecked(Wire(PortRef("a", "patches"), PortRef("b", "images")))
    model.add_wire_unchecked(Wire(PortRef("b", "patches"), PortRef("c", "images")))
    model.add_wire_unchecked(Wire(PortRef("c", "patches"), PortRef("a", "images")))
    model.add_wire_unchecked(Wire(PortRef("c", "patches"), PortRef("outside", "images")))
    problems = validate(model)
    cycles = {p.node: p.reason for p in problems if p.reason.startswith("cycle")}
    assert cycles == {
        "a": "cycle: a -> b -> c -> a",
        "b": "cycle: b -> c -> a -> b",
        "c": "cycle: c -> a -> b -> c",
    }
    assert all(p.block == "ExtractImagePatches" for p in problems)
    assert [p for p in problems if p.node == "outside"] == []


def test_a_self_loop_is_a_cycle() -> None:
    model = GraphModel(REGISTRY)
    model.add_node("ExtractImagePatches", "me")
    model.add_wire_unchecked(Wire(PortRef("me", "patches"), PortRef("me", "images")))
    assert [p.reason for p in validate(model)] == ["cycle: me -> me"]


def test_a_second_wire_into_one_input_is_reported() -> None:
    model = valid_model()
    # The model refuses it; a graph that somehow holds one (here via networkx) is reported.
    graph = model._g
    second = Wire(PortRef("sizes", "output"), PortRef("glimpse", "input"))
    graph.add_edge("sizes", "glimpse", key="input", wire=second)
    problems = validate(model)
    assert [place(p) for p in problems] == [("glimpse", "ExtractGlimpse", "input")]
    assert "at most one wire" in problems[0].reason


def test_the_dtype_port_types_the_initvalues_literal() -> None:
    model = GraphModel(REGISTRY)
    model.add_node("Input", "big", literals={"dtype": "DT_INT64", "initvalues": "9007199254740993"})
    assert validate(model) == []
    value = parse_literal_cached("9007199254740993", PortKind.TENSOR, np.dtype(np.int64))
    assert int(value) == 9007199254740993  # not rounded through float64
    assert not value.flags.writeable  # shared between nodes, so read-only


def _never(ctx: object) -> dict[str, TensorInfo]:
    raise AssertionError("validation must not infer")


def _picky(check: object) -> GraphModel:
    spec = BlockSpec(
        name="Picky", title="Picky", category="Test", doc="",
        inputs=(InputPort("x", PortKind.TENSOR, required=False),),
        outputs=(OutputPort("out"),), attrs=(), infer=_never, run=_never,
        check_inputs=check,  # type: ignore[arg-type]
    )
    model = GraphModel(BlockRegistry((spec,)))
    model.add_node("Picky", "p")
    return model


def test_check_rule_problems_get_node_block_and_port() -> None:
    model = _picky(lambda is_set: [("x", f"x must be set, set={is_set['x']}")])
    [problem] = validate(model)
    assert place(problem) == ("p", "Picky", "x") and problem.reason == "x must be set, set=False"
    model.set_literal("p", "x", "1")
    [problem] = validate(model)
    assert problem.reason == "x must be set, set=True"


def test_a_crashing_check_rule_is_reported_not_raised() -> None:
    def crash(is_set: object) -> list[tuple[str, str]]:
        raise KeyError("oops")

    [problem] = validate(_picky(crash))
    assert place(problem) == ("p", "Picky", None)
    assert problem.reason.startswith("internal error in Picky input check: KeyError")
