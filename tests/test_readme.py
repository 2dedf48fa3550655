"""The README's Python snippets run as written (from the repository root)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def snippets() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.split("```")[0] for block in text.split("```python")[1:]]


@pytest.mark.parametrize("index", range(len(snippets())))
def test_readme_snippet_runs(index: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    code = snippets()[index].replace('"/tmp/', f'"{tmp_path}/')  # outputs go to the test's folder
    # The kernel snippet calls the kernels on the reader's own arrays.
    namespace: dict[str, object] = {
        "images": np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32),
        "offsets": np.zeros((2, 2), np.float32),
    }
    exec(compile(code, f"README snippet {index}", "exec"), namespace)  # our own README
