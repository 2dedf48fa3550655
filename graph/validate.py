"""Validation: every problem of a graph, each naming its node, block and port or attr.

Contract: :func:`validate(model) <validate>` returns ALL problems as
:class:`~blocks.errors.TensorBlocksError` objects (an empty list for a valid graph), in
node insertion order, never raising for a bad graph. It reports:

* an unknown block;
* an unknown port: a wire end that is not an output of its source block or not an input
  of its destination block, or a literal typed for a port the block does not have;
* a wire into a port that takes no wire (STRING, DTYPE, PATH ports);
* a second wire into one input (the model stores at most one; reported if ever found);
* a cycle, once for each node on it, naming the nodes (``cycle: a -> b -> a``);
* a required input with neither wire nor literal nor default;
* the block's own ``check_inputs`` problems (e.g. Input's "exactly one of initvalues or file");
* a bad attrs string (:class:`~blocks.errors.AttrsError` from ``parse_attrs``);
* a bad literal (:class:`~blocks.errors.LiteralError` from ``parse_literal``, or a string
  outside the port's choices). Only literals in effect are judged: a literal hidden under
  a wire is kept for later but not used, so it cannot make a run fail.

Wire problems are reported on the destination node (its input cannot be fed); nodes
downstream of a problem are not reported again — inference and the engine handle them.
Files are not opened here: a missing or unreadable file is reported by inference
(:mod:`graph.infer`) and by the engine.
"""

from __future__ import annotations

from pathlib import Path

from blocks.errors import TensorBlocksError
from graph.model import GraphModel
from graph.resolve import prepare


def validate(model: GraphModel, *, base_dir: Path | None = None) -> list[TensorBlocksError]:
    """Every problem of ``model`` (see the module docstring); empty when it is valid."""
    return prepare(model, base_dir=base_dir).problems
