"""Auto-layout: blocks placed in columns by topological generation.

Contract: :func:`layered_positions(model, sizes) <layered_positions>` returns a new top-left
position for every node: generation ``g`` (sources are generation 0) goes in column ``g``,
columns are as wide as their widest block plus a gap, and inside a column blocks are ordered
by the mean row of the blocks feeding them (one barycentre sweep, which removes most wire
crossings) and stacked with a gap. Positions are on the 20 px grid and anchored at the
top-left of the current layout, so the graph does not jump away. A graph with a cycle
(which the model can hold when loaded from a file) is stacked in one column in insertion
order. Pure function: the scene turns the result into one MoveNodes command.
"""

from __future__ import annotations

from collections.abc import Mapping

from blocks.errors import GraphError
from graph.model import GraphModel

GRID = 20.0
COLUMN_GAP = 100.0
ROW_GAP = 40.0
DEFAULT_SIZE = (210.0, 120.0)


def _snap(value: float) -> float:
    return round(value / GRID) * GRID


def layered_positions(
    model: GraphModel, sizes: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, tuple[float, float]]:
    """New positions for every node of ``model`` (see the module docstring).

    ``sizes`` maps node ids to (width, height) as drawn; missing ones use a default size.
    """
    sizes = sizes or {}
    ids = model.node_ids()
    if not ids:
        return {}
    try:
        generations = model.generations()
    except GraphError:
        generations = [ids]
    order_index = {node_id: i for i, node_id in enumerate(ids)}
    row_of: dict[str, float] = {}
    columns: list[list[str]] = []
    for generation in generations:

        def barycentre(node_id: str) -> tuple[float, int]:
            feeders = [
                row_of[w.src.node] for w in model.wires_into(node_id) if w.src.node in row_of
            ]
            mean = sum(feeders) / len(feeders) if feeders else float(order_index[node_id])
            return (mean, order_index[node_id])

        column = sorted(generation, key=barycentre)
        for row, node_id in enumerate(column):
            row_of[node_id] = float(row)
        columns.append(column)

    left = min(model.node(i).pos[0] for i in ids)
    top = min(model.node(i).pos[1] for i in ids)
    origin_x, origin_y = _snap(left), _snap(top)
    positions: dict[str, tuple[float, float]] = {}
    x = origin_x
    for column in columns:
        width = max(sizes.get(i, DEFAULT_SIZE)[0] for i in column)
        y = origin_y
        for node_id in column:
            positions[node_id] = (x, y)
            y = _snap(y + sizes.get(node_id, DEFAULT_SIZE)[1] + ROW_GAP)
        x = _snap(x + width + COLUMN_GAP)
    return positions
