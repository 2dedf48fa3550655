"""The node-graph canvas: GraphScene (mirrors a GraphModel, edits it through undo commands),
GraphView (zoom, pan, grid, shortcuts, quick-add) and the canvas themes."""

from app.canvas.scene import GraphScene
from app.canvas.theme import DARK, LIGHT, CanvasTheme
from app.canvas.view import GraphView

__all__ = ["DARK", "LIGHT", "CanvasTheme", "GraphScene", "GraphView"]
