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
#: What the installed ``tensorblocks`` script runs (``python -m`` differs on Ctrl-C: runpy
#: can turn an interrupt during start-up into death by SIGINT).
ENTRY_POINT = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]


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


# ----------------------------------------------------------------------------- 4, 5. exits


class TestCleanExits:
    def test_lone_surrogates_and_controls_are_escaped_in_one_line(self, tmp_path: Path) -> None:
        path = tmp_path / "g.tbg.json"
        data = {"format": "tensorblocks.graph", "version": 1, "edges": [], "nodes": [
            {"id": "a", "block": "In\x1b[31mput\x07\ud800", "inputs": {}},
            {"id": "b", "block": "Input", "attrs": "x_ = \ud800\x1b;",
             "inputs": {"file": "\ud800\x1b.npy"}},
        ]}
        path.write_text(json.dumps(data), encoding="utf-8")
        for command in ("run", "check"):
            out, err = io.StringIO(), io.StringIO()
            code = main([command, str(path)], stdout=out, stderr=err)
            assert code == 1
            line = one_line(err.getvalue())
            for text in (line, out.getvalue()):
                assert "\x1b" not in text and "\x07" not in text
                text.encode("utf-8")  # no lone surrogate left
            assert "In\\x1b[31mput\\x07\\ud800" in line

    def test_safe_text_keeps_ordinary_unicode(self) -> None:
        from graph.text import safe_text

        assert safe_text("Bildé 画像 🙂") == "Bildé 画像 🙂"
        assert safe_text("a\nb\tc\x9b1m\u202e") == "a\\nb\\tc\\x9b1m\\u202e"

    def test_shape_of_rank_65_is_refused(self, tmp_path: Path) -> None:
        shape = "{" + ",".join(["1"] * 65) + "}"
        path = graph_file(tmp_path, [input_node(initvalues="1", shape=shape)])
        for command in ("run", "check"):
            code, _, err = call([command, str(path)])
            assert code == 1
            line = one_line(err)
            assert "port 'shape'" in line and "65 dims" in line and "internal" not in line

    def test_signalling_nan_prints_no_warning(self, tmp_path: Path) -> None:
        values = np.zeros(4, np.float32)
        values.view(np.uint32)[:] = 0x7F800001  # signalling NaN
        np.save(tmp_path / "snan.npy", values)
        path = graph_file(tmp_path, [input_node(file="snan.npy", dtype="DT_DOUBLE"),
                                     input_node("b", file="snan.npy")])
        result = subprocess.run(
            [sys.executable, "-W", "default", *ENTRY_POINT[1:], "run", str(path)],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert "nan" in result.stdout

    def test_unquoted_braces_get_a_quoting_hint(self, tmp_path: Path) -> None:
        path = graph_file(tmp_path, [input_node(initvalues="{1,2}")])
        # What bash makes of: --set a.initvalues={{0.5,0.5}}
        code, _, err = call(["run", str(path), "--set", "a.initvalues={0.5}",
                             "a.initvalues={0.5}"])
        assert code == 2
        assert "quote" in err.splitlines()[-1] and "a.initvalues={0.5}" in err

    @pytest.mark.parametrize(("text", "expected"), [
        ("512M", 512 << 20), ("4G", 4 << 30), ("1.5GiB", 3 << 29), ("1000", 1000),
        ("64k", 64 << 10),
    ])
    def test_memory_sizes(self, text: str, expected: int) -> None:
        from graph.memory import parse_memory_size

        assert parse_memory_size(text) == expected

    @pytest.mark.parametrize("text", ["", "5Q", "-1G", "0", "G", "1e9", "x" * 100])
    def test_bad_memory_limit_is_a_usage_error(self, tmp_path: Path, text: str) -> None:
        path = graph_file(tmp_path, [input_node(initvalues="{1,2}")])
        code, _, err = call(["run", str(path), "--memory-limit", text])
        assert code == 2
        assert "memory" in err.splitlines()[-1]

    def test_ctrl_c_exits_130_with_one_line(self, tmp_path: Path) -> None:
        import signal
        import time

        # Large enough to be still running (or still importing) when the signal lands.
        path = graph_file(tmp_path, [
            input_node(initvalues="1", shape="{1,600,600,4}"),
            {"id": "p", "block": "ExtractImagePatches",
             "inputs": {"ksizes": "{1,5,5,1}", "padding": "SAME"}},
        ], [{"from": "a.output", "to": "p.images"}])
        for delay in (0.15, 0.6):
            child = subprocess.Popen(
                [*ENTRY_POINT, "run", str(path), "--memory-limit", "8G"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            time.sleep(delay)
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=120)
            assert child.returncode == 130, (delay, err)
            assert one_line(err).endswith("interrupted (Ctrl-C)")
