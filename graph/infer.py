"""Shape and dtype inference: what every port will hold, without running a kernel.

Contract: :func:`infer(model) <infer>` validates the graph (:mod:`graph.validate`), then
visits the nodes in topological order and calls each block's ``infer`` rule with an
:class:`~blocks.spec.InferContext` holding a :class:`~blocks.spec.TensorInfo` for every
input that has a wire, a literal or a default (literals carry their value, so e.g. a
glimpse size typed as ``{8,8}`` gives a known output shape). The result,
:class:`Inference`, has:

* ``ports``: ``"node.port"`` -> TensorInfo for every input and output port it knows;
* ``problems``: the validation problems, then the errors raised by the blocks' infer rules
  (the errors the kernels would raise where they can be known early: a VALID patch larger
  than the image, offsets of the wrong batch, the memory limit, an unreadable file), each
  with node and block set.

A node with a problem, or downstream of one, gets unknown outputs (``TensorInfo(None,
None)``) and no second error. A bug in an infer rule (an exception that is not a
TensorBlocksError) is recorded as "internal error in <block> inference: ..." and never
escapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blocks.errors import TensorBlocksError
from blocks.spec import DEFAULT_MEMORY_LIMIT, InferContext, PortKind, PortValue, TensorInfo
from graph.model import GraphModel
from graph.resolve import Feeds, check_int_list_tensor, int_list_from_tensor, prepare

UNKNOWN = TensorInfo(None, None)
_INT64 = np.dtype(np.int64)


@dataclass
class Inference:
    """What inference found: port infos and problems (see the module docstring)."""

    ports: dict[str, TensorInfo] = field(default_factory=dict)
    problems: list[TensorBlocksError] = field(default_factory=list)

    def node_problems(self, node_id: str) -> list[TensorBlocksError]:
        """The problems that concern ``node_id``."""
        return [problem for problem in self.problems if problem.node == node_id]

    def output(self, node_id: str, port: str) -> TensorInfo | None:
        """The TensorInfo of ``node_id.port``, or ``None`` if inference knows nothing of it."""
        return self.ports.get(f"{node_id}.{port}")

    @property
    def ok(self) -> bool:
        """Whether there is no problem."""
        return not self.problems


def literal_info(value: PortValue) -> TensorInfo:
    """The TensorInfo of a known value (a parsed literal or a constant)."""
    if isinstance(value, np.ndarray):
        return TensorInfo(tuple(value.shape), value.dtype, value)
    if isinstance(value, tuple):
        return TensorInfo((len(value),), _INT64, value)
    if isinstance(value, np.generic):
        return TensorInfo((), value.dtype, np.asarray(value))
    return TensorInfo((), None, value)


def infer(
    model: GraphModel,
    *,
    base_dir: Path | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    feeds: Feeds | None = None,
) -> Inference:
    """Infer every port's shape and dtype of ``model`` (see the module docstring).

    ``feeds`` (see :func:`graph.resolve.prepare`) gives fed ports a TensorInfo (or a value)
    instead of their literal: a batch check infers the shapes of one item this way.
    """
    plan = prepare(model, base_dir=base_dir, feeds=feeds)
    result = Inference(problems=list(plan.problems))
    ports = result.ports
    broken: set[str] = set()

    for node_id in plan.order:
        node = plan.nodes[node_id]
        table = node.table
        if table is None:
            broken.add(node_id)
            continue
        failed = bool(node.problems) or any(src in broken for src in node.sources)
        inputs: dict[str, TensorInfo] = {}
        for port_name, value in node.literals.items():
            inputs[port_name] = value if isinstance(value, TensorInfo) else literal_info(value)
        if not failed:
            for port_name, src in node.wires.items():
                info = ports.get(str(src), UNKNOWN)
                if table.inputs[port_name].kind is PortKind.INT_LIST:
                    try:
                        if info.value is not None:
                            info = literal_info(int_list_from_tensor(info.value))
                        else:  # the same rule on what is known of it
                            check_int_list_tensor(info.shape, info.dtype)
                    except TensorBlocksError as error:
                        result.problems.append(
                            error.at(node=node_id, block=node.block, port=port_name)
                        )
                        failed = True
                inputs[port_name] = info
        for port_name, info in inputs.items():
            ports[f"{node_id}.{port_name}"] = info

        outputs: dict[str, TensorInfo] = {}
        if not failed:
            try:
                outputs = table.spec.infer(
                    InferContext(inputs, node.attrs, memory_limit=memory_limit, base_dir=base_dir)
                )
            except TensorBlocksError as error:
                result.problems.append(error.at(node=node_id, block=node.block))
                failed = True
            except Exception as error:  # a bug in an infer rule must not stop the editor
                result.problems.append(_internal(error, node_id, node.block))
                failed = True
        if failed:
            broken.add(node_id)
            outputs = {}
        for name in table.outputs:
            out_info = outputs.get(name)
            ports[f"{node_id}.{name}"] = out_info if isinstance(out_info, TensorInfo) else UNKNOWN
    return result


def _internal(error: Exception, node_id: str, block: str) -> TensorBlocksError:
    return TensorBlocksError(
        f"internal error in {block} inference: {type(error).__name__}: {error}",
        node=node_id,
        block=block,
    )

