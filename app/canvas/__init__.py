"""The node-graph canvas: GraphScene (shows a session's graph, inference, run badges, stale
marks and selection; edits through undo commands), GraphView (zoom, pan, grid, shortcuts,
quick-add) and the canvas colours of each theme."""

from app.canvas.scene import GraphScene
from app.canvas.theme import DARK, LIGHT, CanvasTheme
from app.canvas.view import GraphView

__all__ = ["DARK", "LIGHT", "CanvasTheme", "GraphScene", "GraphView"]
