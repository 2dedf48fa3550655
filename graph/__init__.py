"""TensorBlocks' graph layer: model, validation, inference, engine, files, headless run.

Imports ``blocks``; never ``app`` or Qt.
"""
