"""TensorBlocks' graph layer: model, validation, inference, engine, files, headless run.

The data flow is file -> model -> session -> engine -> results -> views:

* :mod:`graph.fileformat` reads a graph file into a :class:`graph.model.GraphModel` (nodes,
  wires, literals and attrs as typed; every change announced as an event);
* :mod:`graph.session` holds that model in a :class:`graph.session.Session` with the folder
  its file names resolve in, the engine, the latest inference, the latest run report,
  which results are stale and the selection — every change announced to subscribers;
* :mod:`graph.engine` runs the model (validation and inference share :mod:`graph.resolve`;
  literals are judged by :func:`graph.resolve.check_literal`) and its report holds the
  results, summarised by :func:`graph.stats.tensor_stats`;
* the views subscribe to the session: the editor's widgets (``app``), the command line
  (:mod:`graph.cli`) and the scripting API (:mod:`graph.api`) all stand on a Session.

Editing rules shared by all of them live in :mod:`graph.edits`. Imports ``blocks``; never
``app`` or Qt.
"""
