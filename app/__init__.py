"""TensorBlocks' editor (PySide6) and the ``tensorblocks`` entry point.

The only package that imports Qt; :mod:`app.cli` imports Qt only for ``edit``.
"""
