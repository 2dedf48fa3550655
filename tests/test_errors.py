"""The one error hierarchy: places are kept, filled from outside in, and printed once."""

from __future__ import annotations

import pickle

import pytest

from blocks import errors


def test_every_error_is_a_value_error_and_a_tensorblocks_error() -> None:
    for name in dir(errors):
        obj = getattr(errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == errors.__name__
        ):
            assert issubclass(obj, errors.TensorBlocksError)
            assert issubclass(obj, ValueError)


def test_at_fills_only_empty_fields() -> None:
    error = errors.InvalidArgumentError("bad", port="size")
    error.at(node="crop", block="ExtractGlimpse", port="offsets", file="g.json")
    assert (error.node, error.block, error.port, error.file) == (
        "crop",
        "ExtractGlimpse",
        "size",
        "g.json",
    )
    assert str(error) == "g.json, node 'crop' (ExtractGlimpse), port 'size': bad"


def test_port_prefix_of_a_kernel_reason_is_said_once() -> None:
    error = errors.InvalidArgumentError("size: Expected a non-negative size, got -1", port="size")
    assert str(error).count("size") == 2  # "port 'size'" and "non-negative size"
    assert str(error) == "port 'size': Expected a non-negative size, got -1"
    bare = errors.InvalidArgumentError("size: Expected a non-negative size, got -1")
    assert str(bare) == "size: Expected a non-negative size, got -1"


def test_location_inside_a_file() -> None:
    error = errors.GraphFileError("not a string", file="g.json", location="nodes[3].block")
    assert str(error) == "g.json at nodes[3].block: not a string"


def test_validation_error_summarises_all_problems() -> None:
    problems: list[errors.TensorBlocksError] = [
        errors.AttrsError("unknown key 'centred_'", node="a", attr="centred_"),
        errors.LiteralError("ragged list", node="b", port="offsets"),
    ]
    error = errors.ValidationError(problems, file="g.json")
    assert error.problems == problems
    assert error.node == "a" and error.attr == "centred_"
    assert str(error).endswith("(and 1 more: node 'b': ragged list)")
    three = errors.ValidationError([*problems, errors.GraphError("cycle", node="c")])
    assert "(and 2 more: node 'b': ragged list; ...)" in str(three)


def test_places_survive_pickling_across_threads_and_processes() -> None:
    error = errors.MemoryLimitError("too big", node="p", block="ExtractImagePatches")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is errors.MemoryLimitError
    assert (clone.node, clone.block, clone.reason) == ("p", "ExtractImagePatches", "too big")


def test_raised_as_value_error() -> None:
    with pytest.raises(ValueError, match="bad"):
        raise errors.LiteralError("bad")
