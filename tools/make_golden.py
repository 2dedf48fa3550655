"""Regenerate every TensorFlow-made test fixture: ``python tools/make_golden.py``.

Needs TensorFlow 2.21 (the ``oracle`` extra). Writes

* ``tests/fixtures/patches/`` with :func:`tools.golden_patches.main`;
* ``tests/fixtures/glimpse/`` with ``tools.golden_glimpse.main`` when that module is
  importable (it is written separately; a missing one is reported, not an error).

Each generator has the signature ``main(out_dir: Path) -> None``. Pass fixture names
(``patches``, ``glimpse``) to regenerate only those.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
GENERATORS = {
    "patches": "tools.golden_patches",
    "glimpse": "tools.golden_glimpse",
    "ops": "tools.golden_ops",  # the block library: resize, crop, array ops
}


def main(argv: list[str] | None = None) -> int:
    """Run the generators named in ``argv`` (default: all); 1 if a required one failed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    wanted = list(argv if argv is not None else sys.argv[1:]) or list(GENERATORS)
    unknown = [name for name in wanted if name not in GENERATORS]
    if unknown:
        print(f"unknown fixture set(s) {unknown}; known: {list(GENERATORS)}", file=sys.stderr)
        return 2
    status = 0
    for name in wanted:
        try:
            module = importlib.import_module(GENERATORS[name])
        except ModuleNotFoundError as error:
            if error.name != GENERATORS[name]:
                raise  # the generator exists but something it needs (TensorFlow?) is missing
            print(f"{name}: {GENERATORS[name]} is not there yet, skipped", file=sys.stderr)
            if name == "patches":
                status = 1
            continue
        module.main(FIXTURES / name)
        print(f"{name}: written to {(FIXTURES / name).relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
