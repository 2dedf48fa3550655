"""Icons, style sheets, example graphs and sample images shipped with TensorBlocks."""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent


def asset_path(*parts: str) -> Path:
    """The path of a file shipped under ``assets/``."""
    return ASSETS_DIR.joinpath(*parts)
