"""TensorBlocks' editor (PySide6) and the ``tensorblocks`` entry point.

The views end of file -> model -> session -> engine -> results -> views: the main window
(:mod:`app.main_window`) owns one :class:`graph.session.Session`; the canvas
(:mod:`app.canvas`), the inspector, the results panel (:mod:`app.results`) and the problems
list take the session and follow its events (:mod:`app.subscriptions`); runs go through
:mod:`app.runner` on a worker thread and report back to the session. Edits are undo
commands (:mod:`app.commands`).

The only package that imports Qt; :mod:`app.cli` imports Qt only for ``edit``.
"""
