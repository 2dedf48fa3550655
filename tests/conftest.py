"""Shared test set-up: Qt runs offscreen; the repository root is importable."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The editor's settings (recent files, layout) of a test run go to a folder of its own,
# never into the settings of the person running the tests.
os.environ.setdefault("TENSORBLOCKS_SETTINGS_DIR", tempfile.mkdtemp(prefix="tb-test-settings-"))
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures"


def interruptible() -> None:
    """``preexec_fn`` of a child that a test interrupts: it takes SIGINT as from a terminal
    even when the suite itself was started in the background, where the shell ignores
    SIGINT and every child inherits that (Python then never raises KeyboardInterrupt)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
