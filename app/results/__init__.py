"""The results panel: every product tensor as numbers, images, glimpse windows, patch mosaics.

The panel follows a session's report, stale and selection events; the domain views are
those each block declares (:class:`blocks.spec.ResultView`), so no block is named here.

Modules: :mod:`~app.results.data` (NodeResult, value text; statistics from
:mod:`graph.stats`; no Qt),
:mod:`~app.results.export` (.npy / exact .csv; no Qt), :mod:`~app.results.table` (lazy
table model), :mod:`~app.results.image` (pixel-exact image view), :mod:`~app.results.overlays`
(glimpse windows, patch receptive fields and mosaics), :mod:`~app.results.views` (one
tensor, one node, comparison) and :mod:`~app.results.panel` (:class:`ResultsPanel`).
"""
