"""Safe with a stranger's graph (issue 10): hostile files, memory and time bombs, clean exits.

Every outcome is a correct result or a TensorBlocksError / a clean one-line exit. One
section per case of the issue, then hypothesis over random whole graphs, hostile kernel
arguments and corrupt files through the command line.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blocks.errors import GraphFileError
from graph.atomic import remove_stale_temps, temp_name, write_atomically
from graph.cli import main

ROOT = Path(__file__).resolve().parents[1]


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def graph_file(
    tmp_path: Path,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, str]] | None = None,
    name: str = "g.tbg.json",
) -> Path:
    path = tmp_path / name
    data = {"format": "tensorblocks.graph", "version": 1, "nodes": nodes, "edges": edges or []}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def input_node(node_id: str = "a", **inputs: str) -> dict[str, Any]:
    return {"id": node_id, "block": "Input", "inputs": inputs, "pos": [0, 0]}


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ----------------------------------------------------------------------------- 6. saves


class TestAtomicWriter:
    def test_replaces_content_and_keeps_a_private_mode(self, tmp_path: Path) -> None:
        target = tmp_path / "g.json"
        target.write_bytes(b"old")
        target.chmod(0o600)
        write_atomically(target, b"new")
        assert target.read_bytes() == b"new"
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]

    def test_the_temp_file_is_never_more_open_than_the_target(self, tmp_path: Path) -> None:
        target = tmp_path / "g.json"
        target.write_bytes(b"old")
        target.chmod(0o600)
        seen: list[int] = []

        def payload(stream: Any) -> None:
            seen.append(stat.S_IMODE(os.fstat(stream.fileno()).st_mode))
            stream.write(b"x")

        write_atomically(target, payload)
        assert seen == [0o600]

    def test_a_failing_payload_leaves_the_old_file_and_no_temp(self, tmp_path: Path) -> None:
        target = tmp_path / "g.json"
        target.write_bytes(b"old")

        def payload(stream: Any) -> None:
            stream.write(b"half")
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            write_atomically(target, payload)
        assert target.read_bytes() == b"old"
        assert [p.name for p in tmp_path.iterdir()] == ["g.json"]

    def test_read_only_target_is_refused(self, tmp_path: Path) -> None:
        target = tmp_path / "g.json"
        target.write_bytes(b"old")
        target.chmod(0o444)
        with pytest.raises(GraphFileError, match="read-only"):
            write_atomically(target, b"new")
        assert target.read_bytes() == b"old"

    @pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
    def test_a_special_target_is_refused_never_replaced(self, tmp_path: Path, kind: str) -> None:
        if kind == "folder":
            target = tmp_path / "out.npz"
            target.mkdir()
        elif kind == "fifo":
            target = tmp_path / "out.npz"
            os.mkfifo(target)
        else:
            target = Path("/dev/full")
            if not target.exists():
                pytest.skip("no /dev/full on this system")
        mode = target.lstat().st_mode
        with pytest.raises(GraphFileError, match="not a regular file"):
            write_atomically(target, b"new")
        assert target.lstat().st_mode == mode

    def test_stale_temps_of_dead_processes_are_removed(self, tmp_path: Path) -> None:
        target = tmp_path / "g.json"
        stale = tmp_path / temp_name("g.json", pid=dead_pid())
        stale.write_bytes(b"leftover of a killed save")
        alive = tmp_path / temp_name("g.json", pid=os.getppid())
        alive.write_bytes(b"a save in progress elsewhere")
        other = tmp_path / temp_name("other.json", pid=dead_pid())
        other.write_bytes(b"another target's")
        write_atomically(target, b"new")
        assert not stale.exists()
        assert alive.exists() and other.exists()
        assert remove_stale_temps(tmp_path / "other.json") == [other]

    def test_a_symlink_is_followed_and_kept(self, tmp_path: Path) -> None:
        real = tmp_path / "real.json"
        real.write_bytes(b"old")
        link = tmp_path / "link.json"
        link.symlink_to(real)
        write_atomically(link, b"new")
        assert link.is_symlink() and real.read_bytes() == b"new"

    def test_run_out_dev_full_is_a_clean_error(self, tmp_path: Path) -> None:
        if not Path("/dev/full").exists():
            pytest.skip("no /dev/full on this system")
        path = graph_file(tmp_path, [input_node(initvalues="{1,2}")])
        code, _, err = call(["run", str(path), "--out", "/dev/full"])
        assert code == 1
        assert "not a regular file" in one_line(err)
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)

    def test_the_editor_uses_the_one_writer(self) -> None:
        text = (ROOT / "app" / "document.py").read_text(encoding="utf-8")
        assert "os.replace" not in text and "mkstemp" not in text
        assert "from graph.atomic import write_atomically" in text
