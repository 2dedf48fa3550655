"""Block plugins: the example plugin package in tests/plugin_example, installed for the tests.

The ``plugin_site`` fixture installs tests/plugin_example the way pip lays out an
installed distribution — the package plus a ``*.dist-info`` folder whose
``entry_points.txt`` is made from the plugin's own pyproject.toml — into a private
folder that the tests put on ``sys.path`` (in this process) or ``PYTHONPATH`` (for the
command line in a subprocess), so the project's environment is never changed. The
plugin's blocks are then used in the palette, the editor, ``check``, ``run`` and a batch
run; a graph using them without the plugin fails in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from blocks.library import REGISTRY, BlockRegistry
from blocks.plugins import ENTRY_POINT_GROUP, load_plugins, missing_block_reason
from graph.fileformat import (
    GraphLoadError,
    MissingPluginError,
    graph_from_dict,
    graph_to_dict,
    load_graph,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = Path(__file__).resolve().parent / "plugin_example"
PACKAGE = "tensorblocks-example-plugin"
MODULE = "tensorblocks_example_plugin"
BUILT_IN = [spec.name for spec in REGISTRY.values() if spec.package is None]


def install(source: Path, site: Path) -> None:
    """Lay out the distribution in ``source`` (pyproject.toml + package) as pip installs it."""
    project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name, version = project["name"], project["version"]
    for package in (source / "pyproject.toml").parent.iterdir():
        if package.is_dir() and (package / "__init__.py").exists():
            shutil.copytree(package, site / package.name, dirs_exist_ok=True)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = []
    for group, entries in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install(EXAMPLE, site)
    return site


@pytest.fixture
def on_path(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(os.fspath(plugin_site))
    yield plugin_site
    for name in [name for name in sys.modules if name.split(".")[0] in (MODULE, "broken_plugin")]:
        del sys.modules[name]


RECORDED = {"ExampleAddConstant": PACKAGE, "ExampleInvert": PACKAGE}


def write_graph(folder: Path, record: bool = False) -> Path:
    """Input [2,3] uint8 -> ExampleInvert -> ExampleAddConstant(2) -> Reshape [-1,3,2];
    ``record``: with the ``"plugins"`` map a save writes."""
    path = folder / "plugin.tbg.json"
    data: dict[str, object] = {
        "format": "tensorblocks.graph", "version": 1,
        "nodes": [
            {"id": "x", "block": "Input",
             "inputs": {"dtype": "DT_UINT8", "initvalues": "{{0,1,2},{250,254,255}}"},
             "pos": [0, 0]},
            {"id": "flip", "block": "ExampleInvert", "pos": [250, 0]},
            {"id": "plus", "block": "ExampleAddConstant", "attrs": "value_ = 2;",
             "pos": [500, 0]},
            {"id": "shaped", "block": "Reshape", "inputs": {"shape": "{-1,3,2}"}, "pos": [750, 0]},
        ],
        "edges": [
            {"from": "x.output", "to": "flip.x"},
            {"from": "flip.y", "to": "plus.x"},
            {"from": "plus.y", "to": "shaped.tensor"},
        ],
    }
    if record:
        data["plugins"] = RECORDED
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def cli(argv: list[str], site: Path | None, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra}
    env.pop("PYTHONPATH", None)
    if site is not None:
        env["PYTHONPATH"] = os.fspath(site)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *argv], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )


EXPECTED = (255 - np.array([[0, 1, 2], [250, 254, 255]], np.uint8) + 2).astype(np.uint8)


# ----------------------------------------------------------------------------- loading


def test_the_example_plugin_is_a_real_distribution() -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == PACKAGE
    assert set(project["project"]["entry-points"][ENTRY_POINT_GROUP]) == {"invert", "arithmetic"}


def test_plugin_blocks_load_grouped_by_their_package(on_path: Path) -> None:
    loaded = load_plugins(BUILT_IN)
    assert loaded.problems == []
    assert [spec.name for spec in loaded.specs] == ["ExampleAddConstant", "ExampleInvert"]
    for spec in loaded.specs:
        assert spec.package == PACKAGE and spec.category == PACKAGE
        assert "Example" in spec.tags  # the plugin's own category stays searchable
    registry = BlockRegistry((*REGISTRY.values(), *loaded.specs))
    assert [spec.name for spec in registry.categories()[PACKAGE]] == [
        "ExampleAddConstant", "ExampleInvert",
    ]
    assert loaded.packages == {"ExampleAddConstant": PACKAGE, "ExampleInvert": PACKAGE}


def test_broken_plugins_are_reported_and_left_out(on_path: Path) -> None:
    site = on_path
    (site / "broken_plugin").mkdir()
    (site / "broken_plugin" / "__init__.py").write_text(
        "from blocks.spec import BlockSpec\n"
        "from tensorblocks_example_plugin import INVERT\n"
        "import dataclasses\n"
        "CLASH = dataclasses.replace(INVERT, name='Reshape')\n"
        "NOT_A_BLOCK = 42\n",
        encoding="utf-8",
    )
    info = site / "broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "clash = broken_plugin:CLASH\n"
        "number = broken_plugin:NOT_A_BLOCK\n"
        "missing = broken_plugin.nowhere:THING\n"
    )
    try:
        loaded = load_plugins(BUILT_IN)
    finally:
        shutil.rmtree(info)
    assert sorted(spec.name for spec in loaded.specs) == ["ExampleAddConstant", "ExampleInvert"]
    assert len(loaded.problems) == 3
    text = "\n".join(loaded.problems)
    assert "'Reshape' is left out: that name is already taken" in text
    assert "expected a BlockSpec or a list of them, found int" in text
    assert "cannot be loaded: ModuleNotFoundError" in text
    assert all("broken-plugin" in line and "\n" not in line for line in loaded.problems)


def test_plugins_can_be_switched_off(on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENSORBLOCKS_NO_PLUGINS", "1")
    assert load_plugins(BUILT_IN).specs == []


def test_the_reason_for_a_missing_plugin_names_block_and_package() -> None:
    assert missing_block_reason("Blur", "tb-blur") == (
        "unknown block 'Blur': it comes from the plugin package 'tb-blur', which is not "
        "installed (pip install tb-blur)"
    )
    assert missing_block_reason("Blur", None) == "unknown block 'Blur'"


# ----------------------------------------------------------------------------- editor


def test_the_palette_shows_plugin_blocks_under_their_package(qtbot, on_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.palette import Palette

    registry = BlockRegistry((*REGISTRY.values(), *load_plugins(BUILT_IN).specs))
    palette = Palette(registry)
    qtbot.addWidget(palette)
    tree = palette.tree
    headers = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]  # type: ignore[union-attr]
    assert PACKAGE.upper() in headers
    palette.set_filter("example plugin")
    assert palette.visible_blocks() == ["ExampleAddConstant", "ExampleInvert"]


def test_the_editor_opens_and_runs_a_graph_with_plugin_blocks(
    plugin_site: Path, tmp_path: Path
) -> None:
    graph, png = write_graph(tmp_path), tmp_path / "shot.png"
    result = cli(
        ["edit", os.fspath(graph), "--run", "--screenshot", os.fspath(png)], plugin_site,
        QT_QPA_PLATFORM="offscreen", HOME=os.fspath(tmp_path),
        XDG_CONFIG_HOME=os.fspath(tmp_path / "config"),
    )
    assert result.returncode == 0, result.stderr
    assert png.stat().st_size > 1000


# ----------------------------------------------------------------------------- command line


def test_check_and_run_use_plugin_blocks(plugin_site: Path, tmp_path: Path) -> None:
    graph = write_graph(tmp_path)
    checked = cli(["check", os.fspath(graph)], plugin_site)
    assert checked.returncode == 0, checked.stderr
    assert "flip.y" in checked.stdout and "ExampleInvert" in checked.stdout
    out = tmp_path / "out.npz"
    ran = cli(["run", os.fspath(graph), "--out", os.fspath(out)], plugin_site)
    assert ran.returncode == 0, ran.stderr
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["plus.y"], EXPECTED)
        np.testing.assert_array_equal(saved["shaped.output"], EXPECTED.reshape(1, 3, 2))


def test_a_batch_run_maps_a_dataset_through_plugin_blocks(
    plugin_site: Path, tmp_path: Path
) -> None:
    import zarr

    graph = write_graph(tmp_path)
    items = np.random.default_rng(3).integers(0, 256, (7, 2, 3), dtype=np.uint8)
    np.save(tmp_path / "items.npy", items)
    store = tmp_path / "store.zarr"
    ran = cli(
        ["run", os.fspath(graph), "--map", f"x={tmp_path / 'items.npy'}", "--out",
         os.fspath(store), "--chunk", "3"],
        plugin_site,
    )
    assert ran.returncode == 0, ran.stderr
    root = zarr.open_group(store=os.fspath(store), mode="r")
    expected = ((255 - items) + 2).astype(np.uint8).reshape(7, 3, 2)
    np.testing.assert_array_equal(np.asarray(root["shaped.output"][...]), expected)


def test_a_graph_needing_a_missing_plugin_fails_in_one_line(tmp_path: Path) -> None:
    graph = write_graph(tmp_path)
    result = cli(["check", os.fspath(graph)], None)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "unknown block 'ExampleInvert'" in result.stderr


# ----------------------------------------------------------------------------- recorded packages


def test_saving_records_the_package_of_each_plugin_block(on_path: Path, tmp_path: Path) -> None:
    registry = BlockRegistry((*REGISTRY.values(), *load_plugins(BUILT_IN).specs))
    model = load_graph(write_graph(tmp_path), registry=registry)
    data = graph_to_dict(model)
    assert data["plugins"] == RECORDED
    assert graph_to_dict(model, ["flip"])["plugins"] == {"ExampleInvert": PACKAGE}  # copy
    assert "plugins" not in graph_to_dict(model, ["x", "shaped"])  # built-in blocks only
    again = graph_from_dict(json.loads(json.dumps(data)), registry=registry)
    assert graph_to_dict(again) == data
    assert "plugins" not in again.extra


def test_a_missing_plugin_names_block_and_package(tmp_path: Path) -> None:
    with pytest.raises(MissingPluginError) as caught:
        load_graph(write_graph(tmp_path, record=True))
    error = caught.value
    assert [(p.node, p.block, p.location) for p in error.problems] == [
        ("flip", "ExampleInvert", "nodes[1].block"),
        ("plus", "ExampleAddConstant", "nodes[2].block"),
    ]
    text = str(error)
    assert "\n" not in text and "plugin.tbg.json" in text
    assert missing_block_reason("ExampleInvert", PACKAGE) in text
    assert "ExampleAddConstant" in text  # "(and 1 more: ...)"


def test_a_malformed_plugins_record_is_a_load_problem(tmp_path: Path) -> None:
    path = write_graph(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["plugins"] = ["tensorblocks-example-plugin"]
    with pytest.raises(GraphLoadError, match='expected "plugins" as an object') as caught:
        graph_from_dict(data)
    assert not isinstance(caught.value, MissingPluginError)


@pytest.mark.parametrize("command", ["check", "run"])
def test_check_and_run_exit_1_naming_the_missing_plugin(command: str, tmp_path: Path) -> None:
    result = cli([command, os.fspath(write_graph(tmp_path, record=True))], None)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "unknown block 'ExampleInvert'" in result.stderr
    assert f"plugin package '{PACKAGE}', which is not installed" in result.stderr


def test_a_recorded_graph_runs_where_the_plugin_is_installed(
    plugin_site: Path, tmp_path: Path
) -> None:
    ran = cli(["run", os.fspath(write_graph(tmp_path, record=True))], plugin_site)
    assert ran.returncode == 0, ran.stderr
    assert "plus.y" in ran.stdout
