"""The command line: run/check output, --out/--seed/--set, exit codes, one-line errors, no Qt."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import app.cli
import graph.cli
import graph.engine
import graph.session
from blocks import __version__
from graph.cli import format_table, main, tensor_stats

ROOT = Path(__file__).resolve().parents[1]
QT_ROOTS = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph")

GRID = "{{0,1,2,3},{4,5,6,7},{8,9,10,11},{12,13,14,15}}"


def graph_file(tmp_path: Path, nodes: list[dict[str, Any]], edges: list[dict[str, str]],
               name: str = "g.tbg.json") -> Path:
    path = tmp_path / name
    data = {"format": "tensorblocks.graph", "version": 1, "nodes": nodes, "edges": edges}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def small_graph(tmp_path: Path) -> Path:
    """A 4x4 grid [1,4,4,1], a 2x2 V2 glimpse at pixel (1,1) and 2x2 patches of the grid."""
    return graph_file(
        tmp_path,
        [
            {"id": "grid", "block": "Input",
             "inputs": {"initvalues": GRID, "shape": "{1,4,4,1}"}, "pos": [0, 0]},
            {"id": "crop", "block": "ExtractGlimpseV2",
             "attrs": "centered_ = false;normalized_ = false;",
             "inputs": {"size": "{2,2}", "offsets": "{{1,1}}"}, "pos": [280, 0]},
            {"id": "tiles", "block": "ExtractImagePatches",
             "inputs": {"ksizes": "{1,2,2,1}", "strides": "{1,2,2,1}"}, "pos": [280, 160]},
        ],
        [{"from": "grid.output", "to": "crop.input"},
         {"from": "grid.output", "to": "tiles.images"}],
    )


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ----------------------------------------------------------------------------- run


def test_run_prints_nodes_and_a_table(tmp_path: Path) -> None:
    code, out, err = call(["run", str(small_graph(tmp_path))])
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["node", "block", "status", "time"]
    assert any(line.split()[:3] == ["crop", "ExtractGlimpseV2", "ran"] for line in lines)
    header = next(line for line in lines if line.startswith("node.port"))
    assert header.split() == ["node.port", "shape", "dtype", "min", "max", "mean"]
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] and "." in
            line.split()[0] and line.split()[0] != "node.port"}
    assert rows["grid.output"][1:] == ["[1,4,4,1]", "float32", "0", "15", "7.5"]
    # The glimpse at (1,1) of size 2x2 holds 5, 6, 9, 10.
    assert rows["crop.glimpse"][1:] == ["[1,2,2,1]", "float32", "5", "10", "7.5"]
    assert rows["tiles.patches"][1:3] == ["[1,2,2,4]", "float32"]


def test_run_out_saves_every_product_tensor(tmp_path: Path) -> None:
    out_path = tmp_path / "results.npz"
    code, out, _ = call(["run", str(small_graph(tmp_path)), "--out", str(out_path)])
    assert code == 0
    assert f"saved 3 tensors to {out_path}" in out
    with np.load(out_path, allow_pickle=False) as results:
        assert sorted(results.files) == ["crop.glimpse", "grid.output", "tiles.patches"]
        np.testing.assert_array_equal(
            results["crop.glimpse"][0, :, :, 0], np.array([[5, 6], [9, 10]], np.float32)
        )
        np.testing.assert_array_equal(
            results["tiles.patches"][0, 0, 0], np.array([0, 1, 4, 5], np.float32)
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.tbg.json", "results.npz"]


def test_run_out_into_a_missing_folder_fails_in_one_line(tmp_path: Path) -> None:
    code, _, err = call(["run", str(small_graph(tmp_path)), "--out",
                         str(tmp_path / "nope" / "r.npz")])
    assert code == 1
    assert "cannot write the file" in assert_one_line_error(err)


def test_run_set_overrides_a_literal(tmp_path: Path) -> None:
    path = small_graph(tmp_path)
    out_path = tmp_path / "r.npz"
    code, _, _ = call(["run", str(path), "--set", "crop.size={3,3}",
                         "--set", "crop.offsets={{0,0}}", "--out", str(out_path)])
    assert code == 0
    with np.load(out_path) as results:
        np.testing.assert_array_equal(
            results["crop.glimpse"][0, :, :, 0],
            np.array([[0, 1, 2], [4, 5, 6], [8, 9, 10]], np.float32),
        )
    # The file itself is not changed.
    assert '"{2,2}"' in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("ghost.size={2,2}", "no node 'ghost'"),
        ("crop.sise={2,2}", "has no input 'sise'"),
        ("crop.input={{{{1}}}}", "fed by a wire from 'grid.output'"),
    ],
)
def test_run_set_problems_with_the_graph_exit_1(
    tmp_path: Path, override: str, words: str
) -> None:
    path = small_graph(tmp_path)
    code, _, err = call(["run", str(path), "--set", override])
    assert code == 1
    line = assert_one_line_error(err)
    assert str(path) in line and words in line


@pytest.mark.parametrize("override", ["crop.size", "size={2,2}", "=1"])
def test_run_set_malformed_is_usage(tmp_path: Path, override: str) -> None:
    code, _, err = call(["run", str(small_graph(tmp_path)), "--set", override])
    assert code == 2
    assert "NODE.PORT=LITERAL" in err and "Traceback" not in err


def test_run_seed_makes_noise_reproducible(tmp_path: Path) -> None:
    path = graph_file(
        tmp_path,
        [
            {"id": "grid", "block": "Input",
             "inputs": {"initvalues": GRID, "shape": "{1,4,4,1}"}},
            {"id": "noisy", "block": "ExtractGlimpse",
             "inputs": {"size": "{6,6}", "offsets": "{{0,0}}"}},
        ],
        [{"from": "grid.output", "to": "noisy.input"}],
    )
    arrays: list[np.ndarray] = []
    for seed in ("5", "5", "6"):
        out_path = tmp_path / f"r{len(arrays)}.npz"
        assert call(["run", str(path), "--seed", seed, "--out", str(out_path)])[0] == 0
        with np.load(out_path) as results:
            arrays.append(results["noisy.glimpse"].copy())
    assert np.array_equal(arrays[0], arrays[1])
    assert not np.array_equal(arrays[0], arrays[2])
    # The 6x6 window over the 4x4 image is noise at the border, the image inside.
    np.testing.assert_array_equal(arrays[0][0, 1:5, 1:5, 0], np.arange(16).reshape(4, 4))


def test_invalid_graph_exits_1_with_one_line_naming_file_node_block_port(tmp_path: Path) -> None:
    path = small_graph(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["nodes"][1]["inputs"]["size"] = "{2,x}"
    data["nodes"][2]["block"] = "ExtractImagePatchez"
    path.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = call(["run", str(path)])
    assert code == 1 and out == ""
    line = assert_one_line_error(err)
    assert line.startswith(f"error: {path}")
    assert "node 'crop' (ExtractGlimpseV2)" in line and "port 'size'" in line
    # The other problem is named too, with a did-you-mean for the misspelt block.
    assert "(and 1 more: node 'tiles': unknown block 'ExtractImagePatchez' (known blocks: " in line
    assert line.endswith("; did you mean 'ExtractImagePatches'?)")


def test_failed_run_exits_1_naming_the_node(tmp_path: Path) -> None:
    path = small_graph(tmp_path)
    code, out, err = call(["run", str(path), "--set", "tiles.ksizes={2,2,2,1}"])
    assert code == 1
    line = assert_one_line_error(err)
    assert "node 'tiles' (ExtractImagePatches)" in line
    assert "tiles" in out and "failed" in out  # the node table still shows what happened


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no such file"),
        ("{\n  \"format\": ", "at line 2, column 13: not valid JSON"),
        ('{"format": "tensorblocks.graph", "version": 9}', "written by a newer TensorBlocks"),
        ('{"format": "tensorblocks.graph", "version": 1, "nodes": [{"id": 3}]}',
         "at nodes[0].id"),
    ],
)
def test_unreadable_graph_files_exit_1(tmp_path: Path, content: str | None, words: str) -> None:
    path = tmp_path / "g.tbg.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    for command in ("run", "check"):
        code, _, err = call([command, str(path)])
        assert code == 1
        line = assert_one_line_error(err)
        assert str(path) in line and words in line


def test_an_unexpected_exception_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Exploding:
        def __init__(self, **kwargs: Any) -> None:
            pass

        def run(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(graph.session, "Engine", Exploding)
    code, _, err = call(["run", str(small_graph(tmp_path))])
    assert code == 1
    assert assert_one_line_error(err) == "internal error: RuntimeError: boom second line"


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["run"], ["check"], ["run", "g.json", "--seed", "abc"],
     ["run", "g.json", "--bogus"], ["check", "a", "b"]],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    code, out, err = call(argv)
    assert code == 2 and out == ""
    assert "usage:" in err and "Traceback" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0
    assert "--out RESULTS.npz" in capsys.readouterr().out


# ----------------------------------------------------------------------------- check


def test_check_prints_every_port_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("check must not execute")

    monkeypatch.setattr(graph.engine.Engine, "run", no_run)
    code, out, err = call(["check", str(small_graph(tmp_path))])
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["grid.output"] == ["out", "Input", "[1,4,4,1]", "float32"]
    assert rows["crop.input"] == ["in", "ExtractGlimpseV2", "[1,4,4,1]", "float32"]
    assert rows["crop.size"] == ["in", "ExtractGlimpseV2", "[2]", "int32"]
    assert rows["crop.glimpse"] == ["out", "ExtractGlimpseV2", "[1,2,2,1]", "float32"]
    assert rows["tiles.patches"] == ["out", "ExtractImagePatches", "[1,2,2,4]", "float32"]
    assert rows["tiles.ksizes"][-2:] == ["[4]", "int64"]
    assert "3 nodes, 2 wires, no problems" in out


def test_check_reports_problems_found_by_inference(tmp_path: Path) -> None:
    path = small_graph(tmp_path)
    code, out, err = call(["check", str(path), "--set", "tiles.ksizes={2,2,2,1}"])
    assert code == 1
    assert "problem:" in out and "node 'tiles'" in out
    assert "tiles.patches" in out  # the ports that are known are still listed
    line = assert_one_line_error(err)
    assert str(path) in line and "node 'tiles' (ExtractImagePatches)" in line


# ----------------------------------------------------------------------------- the table


def test_tensor_stats_handle_special_tensors() -> None:
    assert tensor_stats(np.zeros((0, 3), np.float32)) == ("-", "-", "-")
    assert tensor_stats(np.array([1, np.nan, 3], np.float32)) == ("1", "3", "2 (1 NaN)")
    assert tensor_stats(np.array([np.nan, np.nan])) == ("nan", "nan", "nan (2 NaN)")
    assert tensor_stats(np.array([-np.inf, 1.0])) == ("-inf", "1", "-inf")
    assert tensor_stats(np.array([1 + 2j, 3 - 2j], np.complex64)) == ("-", "-", "2+0j")
    assert tensor_stats(np.array([True, False, True, True])) == ("0", "1", "0.75")
    assert tensor_stats(np.array([-(2**62), 2**62], np.int64)) == (
        str(-(2**62)), str(2**62), "0",
    )
    assert tensor_stats(np.array([0.1, 0.2], np.float16))[0] == "0.0999756"
    assert tensor_stats(np.array(7, np.uint8)) == ("7", "7", "7")


def test_bfloat16_results_are_saved_as_float32(tmp_path: Path) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    values = np.array([1.5, -2.0, 3.015625], dtype=ml_dtypes.bfloat16)
    graph.cli.save_results({"a.output": values, "b.output": np.arange(3)}, str(tmp_path / "r.npz"))
    with np.load(tmp_path / "r.npz", allow_pickle=False) as saved:
        assert saved["a.output"].dtype == np.float32
        np.testing.assert_array_equal(saved["a.output"], [1.5, -2.0, 3.015625])
        np.testing.assert_array_equal(saved["b.output"], [0, 1, 2])


def test_table_columns_are_aligned() -> None:
    table = format_table({
        "a.output": np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1),
        "long_node_name.glimpse": np.array([-1.5, np.nan], np.float64),
        "e.x": np.zeros((0,), np.int32),
    })
    lines = table.splitlines()
    assert len(lines) == 5
    starts = [line.index("dtype") for line in lines[:1]]
    for line in lines[2:]:
        assert line[starts[0]:].split()[0] in ("float32", "float64", "int32")
    assert lines[3].split() == ["long_node_name.glimpse", "[2]", "float64", "-1.5", "-1.5",
                                "-1.5", "(1", "NaN)"]
    assert lines[4].split() == ["e.x", "[0]", "int32", "-", "-", "-"]


# ----------------------------------------------------------------------------- app.cli


def test_app_cli_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert app.cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"tensorblocks {__version__}\n"
    assert app.cli.version() == __version__
    assert app.cli.main(["--help"]) == 0
    assert "run GRAPH" in capsys.readouterr().out


def test_app_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert app.cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err and "usage:" in err


def test_app_cli_dispatches_run_and_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = small_graph(tmp_path)
    assert app.cli.main(["run", str(path)]) == 0
    assert "crop.glimpse" in capsys.readouterr().out
    assert app.cli.main(["check", str(path)]) == 0
    assert "no problems" in capsys.readouterr().out


def test_app_cli_hands_edit_to_the_editor(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    editor = types.ModuleType("app.editor")

    def run_editor(argv: list[str]) -> int:
        calls.append(list(argv))
        return 0

    editor.run_editor = run_editor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.editor", editor)
    assert app.cli.main([]) == 0
    assert app.cli.main(["edit", "g.tbg.json", "--run"]) == 0
    assert app.cli.main(["g.tbg.json"]) == 0
    assert app.cli.main(["--screenshot", "x.png"]) == 0
    assert calls == [["edit"], ["edit", "g.tbg.json", "--run"], ["edit", "g.tbg.json"],
                     ["edit", "--screenshot", "x.png"]]


# ----------------------------------------------------------------------------- subprocesses


def test_python_m_app_cli_run_never_imports_qt(tmp_path: Path) -> None:
    path = small_graph(tmp_path)
    wrapper = (
        "import runpy, sys\n"
        f"sys.argv = ['tensorblocks', 'run', {str(path)!r}]\n"
        "try:\n"
        "    runpy.run_module('app.cli', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        f"qt = sorted(m for m in sys.modules if m.split('.')[0] in {QT_ROOTS!r})\n"
        "print('EXIT', code, 'QT', ','.join(qt))\n"
    )
    result = subprocess.run([sys.executable, "-c", wrapper], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == "EXIT 0 QT "
    importtime = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.cli", "run", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert importtime.returncode == 0
    assert "crop.glimpse" in importtime.stdout
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in importtime.stderr.splitlines() if line.startswith("import time:")}
    assert "numpy" in imported  # the check reads real import records
    assert not imported & set(QT_ROOTS)


def test_version_loads_neither_numpy_nor_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.cli", "--version"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0 and result.stdout == f"tensorblocks {__version__}\n"
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "app" in imported
    assert not imported & {"numpy", "networkx", *QT_ROOTS}


def test_subprocess_failure_is_one_line_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.tbg.json"
    path.write_text("{", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "app.cli", "run", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(path) in result.stderr


def test_a_reader_leaving_early_gets_no_noise(tmp_path: Path) -> None:
    """``tensorblocks run g | head -1``: no traceback, no "Exception ignored" message."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run", str(small_graph(tmp_path))],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # the reader leaves; later writes meet a broken pipe
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) in (0, 1)
    assert first.split() == [b"node", b"block", b"status", b"time"]
    assert err == ""
