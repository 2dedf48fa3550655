"""Batch runs over datasets: mapping, chunk invariance, the store, resume, faults, clusters."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from conftest import interruptible
from PIL import Image

from blocks.errors import TensorBlocksError
from graph.api import Graph
from graph.batch import BatchError, plan_batch, run_batch
from graph.cli import main

ROOT = Path(__file__).resolve().parents[1]
N_ITEMS = 23


def write_graph(folder: Path, *, noise: str = "uniform", padding: str = "VALID") -> Path:
    """images [n,16,16,3] uint8 -> float -> 8x8 glimpse at mapped offsets -> 4x4 patches."""
    path = folder / "pipeline.tbg.json"
    data = {
        "format": "tensorblocks.graph", "version": 1,
        "nodes": [
            {"id": "image", "block": "Input",
             "inputs": {"dtype": "DT_FLOAT", "initvalues": "0", "shape": "{1,16,16,3}"},
             "pos": [0, 0]},
            {"id": "focus", "block": "ExtractGlimpseV2",
             "attrs": f"uniform_noise_ = false;noise_ = {noise};",
             "inputs": {"size": "{8,8}", "offsets": "{{0,0}}"}, "pos": [300, 0]},
            {"id": "tiles", "block": "ExtractImagePatches",
             "inputs": {"ksizes": "{1,4,4,1}", "strides": "{1,4,4,1}", "rates": "{1,1,1,1}",
                        "padding": padding}, "pos": [600, 0]},
        ],
        "edges": [{"from": "image.output", "to": "focus.input"},
                  {"from": "focus.glimpse", "to": "tiles.images"}],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_data(folder: Path, n: int = N_ITEMS) -> tuple[Path, Path]:
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    # Offsets reaching beyond the border, so many glimpses are partly noise.
    offsets = rng.uniform(-1.6, 1.6, (n, 2)).astype(np.float32)
    np.save(folder / "images.npy", images)
    np.save(folder / "offsets.npy", offsets)
    return folder / "images.npy", folder / "offsets.npy"


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def store_arrays(path: Path) -> dict[str, np.ndarray]:
    root = zarr.open_group(store=str(path), mode="r")
    return {name: np.asarray(array[...]) for name, array in root.arrays()}


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path, Path]:
    graph = write_graph(tmp_path)
    images, offsets = write_data(tmp_path)
    return graph, images, offsets


def maps(images: Path, offsets: Path) -> list[str]:
    return ["--map", f"image={images}", "--map", f"focus.offsets={offsets}"]


# ----------------------------------------------------------------------------- invariance


def test_chunk_sizes_and_workers_give_identical_stores_noise_included(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    graph, images, offsets = dataset
    stores = []
    for chunk, workers in ((1, 1), (5, 2), (7, 1), (23, 2), (None, None)):
        out = tmp_path / f"out-{chunk}-{workers}.zarr"
        argv = ["run", str(graph), *maps(images, offsets), "--out", str(out), "--seed", "11"]
        if chunk is not None:
            argv += ["--chunk", str(chunk)]
        if workers is not None:
            argv += ["--workers", str(workers)]
        code, stdout, stderr = call(argv)
        assert code == 0, stderr
        assert f"{N_ITEMS} items in " in stdout and "items/s" in stdout
        stores.append(store_arrays(out))
    first = stores[0]
    assert set(first) == {"tiles.patches", "items", "chunks_done"}
    assert first["tiles.patches"].shape == (N_ITEMS, 2, 2, 48)
    for other in stores[1:]:
        np.testing.assert_array_equal(other["tiles.patches"], first["tiles.patches"])
        np.testing.assert_array_equal(other["items"], np.arange(N_ITEMS))
    # The noise really is there: some glimpse elements are outside the image.
    glimpse_graph = Graph.load(graph)
    lazy = glimpse_graph.to_dask({"image": str(images), "focus.offsets": str(offsets)}, seed=11)
    glimpses = lazy["focus.glimpse"].compute()
    whole = np.load(images).astype(np.float32)
    assert not all(np.isin(glimpses[i], whole[i]).all() for i in range(N_ITEMS))


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_a_chunks_kernels_get_the_cores_left_by_the_workers(
    workers: int, dataset: tuple[Path, Path, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from blocks.kernels import pieces
    from graph.engine import Engine

    graph_path, images, offsets = dataset
    monkeypatch.delenv(pieces.THREADS_ENV, raising=False)
    seen: list[int] = []
    original = Engine.run

    def run(self: Engine, *args: Any, **kwargs: Any) -> Any:
        seen.append(pieces.thread_count())  # what a kernel of this chunk would use
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "run", run)
    sources = {"image": str(images), "focus.offsets": str(offsets)}
    Graph.load(graph_path).map(sources, tmp_path / "out.zarr", chunk=6, workers=workers)
    assert seen and set(seen) == {max(1, pieces.thread_count() // workers)}
    assert pieces.thread_count() == min(len(os.sched_getaffinity(0)), 4)  # not left capped


def test_each_item_equals_a_run_of_that_item_alone(dataset: tuple[Path, Path, Path],
                                                  tmp_path: Path) -> None:
    graph_path, images, offsets = dataset
    graph = Graph.load(graph_path)
    sources = {"image": str(images), "focus.offsets": str(offsets)}
    summary = graph.map(sources, tmp_path / "api.zarr", chunk=4, seed=5)
    assert summary.items_run == N_ITEMS and summary.chunks == 6
    stored = store_arrays(tmp_path / "api.zarr")["tiles.patches"]
    for index in (0, 3, 4, 22):
        alone = graph.run_item(sources, index, seed=5)
        assert alone["tiles.patches"].shape == (1, 2, 2, 48)
        np.testing.assert_array_equal(alone["tiles.patches"][0], stored[index])
    # A different seed gives different noise.
    other = graph.run_item(sources, 0, seed=6)["focus.glimpse"]
    assert not np.array_equal(other, graph.run_item(sources, 0, seed=5)["focus.glimpse"])


def test_single_run_is_item_zero_of_the_batch(dataset: tuple[Path, Path, Path],
                                              tmp_path: Path) -> None:
    """The editor's preview (a plain run of the graph on item 0) equals item 0 of the batch."""
    graph_path, images, offsets = dataset
    graph = Graph.load(graph_path)
    first_image = np.load(images)[:1]
    np.save(tmp_path / "first.npy", first_image)
    graph.set("image.initvalues", None)
    graph.set("image.shape", None)
    graph.set("image.file", "first.npy")
    graph.set("focus.offsets", np.load(offsets)[:1])
    preview = graph.run(seed=3)["tiles.patches"]
    batch = graph.to_dask({"image": str(images), "focus.offsets": str(offsets)}, seed=3)
    np.testing.assert_array_equal(preview[0], batch["tiles.patches"][0].compute())


def test_sources_from_python_arrays_zarr_and_dask(dataset: tuple[Path, Path, Path],
                                                  tmp_path: Path) -> None:
    import dask.array as da

    graph_path, images, offsets = dataset
    graph = Graph.load(graph_path)
    reference = graph.to_dask({"image": str(images), "focus.offsets": str(offsets)}, seed=1)
    expected = reference["tiles.patches"].compute()
    array = np.load(images)
    zarr.save_array(str(tmp_path / "images.zarr"), array)
    for source in (array, da.from_array(array, chunks=5), str(tmp_path / "images.zarr")):
        lazy = graph.to_dask({"image": source, "focus.offsets": np.load(offsets)}, seed=1,
                             chunk=6)
        np.testing.assert_array_equal(lazy["tiles.patches"].compute(), expected)
    # Composes with the user's own dask code.
    assert float(reference["tiles.patches"].sum().compute()) == pytest.approx(
        float(expected.astype(np.float64).sum()), rel=1e-6)


def test_npz_members_stored_and_compressed(dataset: tuple[Path, Path, Path],
                                           tmp_path: Path) -> None:
    graph, images, offsets = dataset
    array = np.load(images)
    np.savez(tmp_path / "plain.npz", pictures=array, other=np.zeros(3))
    np.savez_compressed(tmp_path / "packed.npz", pictures=array)
    results = []
    for source in (str(images), f"{tmp_path / 'plain.npz'}:pictures",
                   f"{tmp_path / 'packed.npz'}:pictures"):
        out = tmp_path / f"o{len(results)}.zarr"
        code, _, stderr = call(["run", str(graph), "--map", f"image={source}",
                                "--map", f"focus.offsets={offsets}", "--out", str(out),
                                "--seed", "2", "--chunk", "6"])
        assert code == 0, stderr
        results.append(store_arrays(out)["tiles.patches"])
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    code, _, stderr = call(["check", str(graph), "--map", f"image={tmp_path / 'plain.npz'}",
                            "--map", f"focus.offsets={offsets}"])
    assert code == 1 and "keys: other, pictures" in stderr


# ----------------------------------------------------------------------------- globs


def write_pngs(folder: Path, sizes: list[tuple[int, int]]) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(3)
    files = []
    for index, (height, width) in enumerate(sizes):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        file = folder / f"photo{index:02d}.png"
        Image.fromarray(pixels).save(file)
        files.append(file)
    return files


def test_glob_of_pngs_of_mixed_sizes(tmp_path: Path) -> None:
    graph = write_graph(tmp_path, noise="zero", padding="SAME")
    sizes = [(16, 16), (16, 16), (20, 12), (16, 16), (9, 9)]
    files = write_pngs(tmp_path / "photos", sizes)
    offsets = np.zeros((len(sizes), 2), np.float32)
    np.save(tmp_path / "offsets.npy", offsets)
    out = tmp_path / "glob.zarr"
    code, _, stderr = call(["run", str(graph), "--map", f"image={tmp_path}/photos/*.png",
                                 "--map", f"focus.offsets={tmp_path / 'offsets.npy'}",
                                 "--keep", "focus.glimpse", "--keep", "image.output",
                                 "--out", str(out), "--chunk", "8"])
    assert code == 0, stderr
    root = zarr.open_group(store=str(out), mode="r")
    # The glimpse has one shape for every item: one array. The images differ: per item.
    glimpse = np.asarray(root["focus.glimpse"][...])
    assert glimpse.shape == (5, 8, 8, 3)
    for index, file in enumerate(files):
        pixels = np.asarray(Image.open(file), dtype=np.float32)
        np.testing.assert_array_equal(np.asarray(root[f"image.output/{index}"][...]), pixels)
        height, width = sizes[index]
        top, left = (height - 8) // 2, (width - 8) // 2
        if top >= 0 and left >= 0:
            np.testing.assert_array_equal(glimpse[index],
                                          pixels[top:top + 8, left:left + 8])
    assert [str(name) for name in root["items"][...]] == [str(f) for f in files]
    layout = dict(root.attrs)["tensorblocks"]["tensors"]
    assert layout["image.output"]["layout"] == "per_item"
    assert layout["focus.glimpse"]["layout"] == "stacked"
    # Chunks are of equal size whatever the shapes: the graph runs once per run of alike
    # items within a chunk (4 runs here), and what has one shape is stacked.
    assert dict(root.attrs)["tensorblocks"]["chunks"] == [[0, 5]]


def test_a_folder_of_many_sizes_makes_few_chunks_and_plans_each_size_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Photos of three sizes, interleaved: 30 runs of one item, three looks. Planning infers
    # each look once (not once per run), and the run makes 3 chunks, not 30.
    import graph.batch as batch

    graph = write_graph(tmp_path, noise="zero", padding="SAME")
    sizes = [(16, 16), (20, 12), (9, 9)] * 10
    files = write_pngs(tmp_path / "photos", sizes)
    np.save(tmp_path / "offsets.npy", np.zeros((len(sizes), 2), np.float32))
    inferred: list[Any] = []
    real_infer = batch._infer_run
    monkeypatch.setattr(batch, "_infer_run",
                        lambda *a, **k: inferred.append(a[2]) or real_infer(*a, **k))
    sources = {"image": f"{tmp_path}/photos/*.png", "focus.offsets": str(tmp_path / "offsets.npy")}
    plan = plan_batch(Graph.load(graph).model, sources, chunk=12,
                      keep=["focus.glimpse", "image.output"])
    assert len(inferred) == 3 and len(plan.item_shapes) == 30
    assert plan.chunks == [(0, 12), (12, 24), (24, 30)]
    out = tmp_path / "many.zarr"
    run_batch(plan, out, workers=2)
    root = zarr.open_group(store=str(out), mode="r")
    glimpse = np.asarray(root["focus.glimpse"][...])
    loaded = Graph.load(graph)
    for index, file in enumerate(files):
        pixels = np.asarray(Image.open(file), dtype=np.float32)
        np.testing.assert_array_equal(np.asarray(root[f"image.output/{index}"][...]), pixels)
        alone = loaded.run_item(sources, index)
        np.testing.assert_array_equal(glimpse[index], alone["focus.glimpse"][0])
    assert root["chunks_done"][...].tolist() == [1, 1, 1]


def test_check_with_map_prints_per_item_shapes(dataset: tuple[Path, Path, Path]) -> None:
    graph, images, offsets = dataset
    code, stdout, stderr = call(["check", str(graph), *maps(images, offsets), "--chunk", "10"])
    assert code == 0, stderr
    assert f"{N_ITEMS} items" in stdout
    assert "tiles.patches" in stdout and "[2,2,48] float32  (kept)" in stdout
    assert "focus.glimpse" in stdout and "[8,8,3] float32" in stdout
    assert "3 chunks of up to 10" in stdout


# ----------------------------------------------------------------------------- refusals


def test_counts_must_match(dataset: tuple[Path, Path, Path], tmp_path: Path) -> None:
    graph, images, _ = dataset
    np.save(tmp_path / "short.npy", np.zeros((5, 2), np.float32))
    code, _, stderr = call(["check", str(graph), "--map", f"image={images}",
                            "--map", f"focus.offsets={tmp_path / 'short.npy'}"])
    assert code == 1
    assert len(stderr.splitlines()) == 1
    assert f"has {N_ITEMS} items" in stderr and "has 5" in stderr


@pytest.mark.parametrize(
    ("argv_tail", "expected", "status"),
    [
        (["--map", "nothing=x.npy", "--out", "r.zarr"], "no node 'nothing'", 1),
        (["--map", "tiles.padding=x.npy", "--out", "r.zarr"], "takes string values", 1),
        (["--map", "focus.size=x.npy", "--out", "r.zarr"],
         "--map focus.size: the input takes one value for the whole run", 1),
        (["--map", "tiles.images=x.npy", "--out", "r.zarr"],
         "fed by a wire from 'focus.glimpse'", 1),
        (["--map", "image"], "--map expects TARGET=SOURCE", 2),
        (["--map", "image=IMAGES"], "needs --out STORE.zarr", 2),
        (["--map", "image=IMAGES", "--out", "r.npz"], "is a zarr store", 2),
        (["--map", "image=IMAGES", "--map", "focus.offsets=OFFSETS", "--out", "r.zarr",
          "--keep", "image.nope"],
         "--keep image.nope: no such tensor", 1),
    ],
)
def test_bad_mappings_are_one_line(
    dataset: tuple[Path, Path, Path], tmp_path: Path, argv_tail: list[str], expected: str,
    status: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    graph, images, offsets = dataset
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    monkeypatch.chdir(tmp_path)
    tail = [arg.replace("IMAGES", str(images)).replace("OFFSETS", str(offsets))
            for arg in argv_tail]
    code, _, stderr = call(["run", str(graph), *tail])
    assert code == status
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert expected in stderr


def test_bad_sources_name_the_file(dataset: tuple[Path, Path, Path], tmp_path: Path) -> None:
    graph, _, offsets = dataset
    (tmp_path / "fake.npy").write_bytes(b"\x93NUMPY\x01\x00" + b"garbage")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    big_header = tmp_path / "truncated.npy"
    np.save(big_header, np.zeros((100, 16, 16, 3), np.uint8))
    big_header.write_bytes(big_header.read_bytes()[:5000])
    for name, expected in (("fake.npy", "not a valid .npy"),
                           ("objects.npy", "object, string and structured arrays"),
                           ("truncated.npy", "truncated"),
                           ("missing.npy", "no such file"),
                           ("nothing/*.png", "matches no file")):
        code, _, stderr = call(["check", str(graph), "--map", f"image={tmp_path / name}",
                                "--map", f"focus.offsets={offsets}"])
        assert code == 1, name
        assert expected in stderr and name.split("/")[0] in stderr, stderr


def test_shapes_that_do_not_fit_the_graph_are_refused_before_running(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    graph, images, _ = dataset
    np.save(tmp_path / "wide.npy", np.zeros((N_ITEMS, 3), np.float32))
    code, _, stderr = call(["check", str(graph), "--map", f"image={images}",
                            "--map", f"focus.offsets={tmp_path / 'wide.npy'}"])
    assert code == 1
    assert "node 'focus'" in stderr and "offsets" in stderr and "items 0..22" in stderr


def test_chunk_beyond_the_memory_budget_is_refused(dataset: tuple[Path, Path, Path]) -> None:
    graph_path, images, offsets = dataset
    graph = Graph.load(graph_path)
    with pytest.raises(TensorBlocksError, match="more than the memory budget"):
        plan_batch(graph.model, {"image": str(images), "focus.offsets": str(offsets)},
                   chunk=10**7, memory_limit=2**30)


# ----------------------------------------------------------------------------- faults


def test_corrupt_item_stops_with_its_file_and_keeps_finished_chunks(tmp_path: Path) -> None:
    graph = write_graph(tmp_path, noise="zero")
    files = write_pngs(tmp_path / "photos", [(16, 16)] * 6)
    files[4].write_bytes(files[4].read_bytes()[:60])  # a PNG cut short
    np.save(tmp_path / "offsets.npy", np.zeros((6, 2), np.float32))
    out = tmp_path / "faulty.zarr"
    code, _, stderr = call(["run", str(graph), "--map", f"image={tmp_path}/photos/*.png",
                            "--map", f"focus.offsets={tmp_path / 'offsets.npy'}",
                            "--out", str(out), "--chunk", "2", "--workers", "1"])
    assert code == 1
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "photo04.png" in stderr and "item 4" in stderr
    root = zarr.open_group(store=str(out), mode="r")
    done = np.asarray(root["chunks_done"][...])
    assert done[2] == 0  # the failing chunk is never counted as done
    glimpses = np.asarray(root["tiles.patches"][...])
    for chunk, finished in enumerate(done.tolist()):
        if finished:  # what was written is valid
            for index in (2 * chunk, 2 * chunk + 1):
                pixels = np.asarray(Image.open(files[index]), dtype=np.float32)
                np.testing.assert_array_equal(glimpses[index, 0, 0], pixels[4:8, 4:8].ravel())


def test_kernel_failure_names_the_first_bad_item(tmp_path: Path) -> None:
    graph = write_graph(tmp_path)
    images = np.zeros((8, 16, 16, 3), np.float32)
    images[5, 0, 0, 0] = np.nan  # DT_FLOAT keeps NaN; a cast to an integer type refuses it
    text = graph.read_text().replace("DT_FLOAT", "DT_INT32")
    graph.write_text(text)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "offsets.npy", np.zeros((8, 2), np.float32))
    code, _, stderr = call(["run", str(graph), "--map", f"image={tmp_path / 'images.npy'}",
                            "--map", f"focus.offsets={tmp_path / 'offsets.npy'}",
                            "--out", str(tmp_path / "o.zarr"), "--chunk", "4",
                            "--workers", "1"])
    assert code == 1
    assert "item 5" in stderr and "node 'image'" in stderr and "NaN" in stderr


def test_resume_skips_done_chunks_and_rewrites_unfinished_ones(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    graph, images, offsets = dataset
    out = tmp_path / "r.zarr"
    argv = ["run", str(graph), *maps(images, offsets), "--out", str(out), "--seed", "4",
            "--chunk", "5"]
    assert call(argv)[0] == 0
    complete = store_arrays(out)["tiles.patches"]
    # As a kill would leave it: chunk 2 half written and not marked; chunk 3 not started.
    root = zarr.open_group(store=str(out), mode="r+")
    root["tiles.patches"][10:12] = -1
    root["tiles.patches"][15:20] = 0
    root["chunks_done"][2] = 0
    root["chunks_done"][3] = 0
    code, _, stderr = call(argv)
    assert code == 1 and "--resume" in stderr  # the store is never silently replaced
    code, stdout, stderr = call([*argv, "--resume"])
    assert code == 0, stderr
    assert "10 items in 2 chunks" in stdout and "3 chunks already done" in stdout
    np.testing.assert_array_equal(store_arrays(out)["tiles.patches"], complete)


def test_resume_refuses_another_graph_or_other_sources(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    graph, images, offsets = dataset
    out = tmp_path / "r.zarr"
    assert call(["run", str(graph), *maps(images, offsets), "--out", str(out)])[0] == 0
    changed = graph.read_text().replace("{8,8}", "{4,4}")
    graph.write_text(changed)
    code, _, stderr = call(["run", str(graph), *maps(images, offsets), "--out", str(out),
                            "--resume"])
    assert code == 1 and "another graph" in stderr
    np.save(images, np.zeros((N_ITEMS, 16, 16, 3), np.uint8))
    code, _, stderr = call(["run", str(graph), *maps(images, offsets), "--out", str(out),
                            "--resume"])
    assert code == 1 and "other sources" in stderr


def test_resume_refuses_a_store_cut_at_other_chunk_boundaries(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    # A store from a version that cut chunks where item shapes changed: its marks count
    # other chunks, so resuming it would skip the wrong items.
    graph, images, offsets = dataset
    out = tmp_path / "old.zarr"
    argv = ["run", str(graph), *maps(images, offsets), "--out", str(out), "--chunk", "6"]
    assert call(argv)[0] == 0
    root = zarr.open_group(store=str(out), mode="r+")
    record = dict(root.attrs)["tensorblocks"]
    record["chunks"] = [[0, 5], *record["chunks"][1:]]
    root.attrs["tensorblocks"] = record
    code, _, stderr = call([*argv, "--resume"])
    assert code == 1 and "other chunk boundaries" in stderr


def test_resume_after_a_kill(dataset: tuple[Path, Path, Path], tmp_path: Path) -> None:
    graph, images, offsets = dataset
    big = np.repeat(np.load(images), 40, axis=0)  # 920 items, 1 per chunk
    np.save(images, big)
    np.save(offsets, np.repeat(np.load(offsets), 40, axis=0))
    out = tmp_path / "killed.zarr"
    argv = [sys.executable, "-m", "app.cli", "run", str(graph), *maps(images, offsets),
            "--out", str(out), "--seed", "9", "--chunk", "1", "--workers", "1"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marks = out / "chunks_done" / "c"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if marks.is_dir() and len(os.listdir(marks)) >= 20:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    done_before = int(np.asarray(zarr.open_group(store=str(out), mode="r")["chunks_done"][...])
                      .sum())
    assert 20 <= done_before < 920
    resumed = subprocess.run([*argv, "--resume"], cwd=ROOT, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{920 - done_before} items" in resumed.stdout
    clean = tmp_path / "clean.zarr"
    graph_api = Graph.load(graph)
    graph_api.map({"image": str(images), "focus.offsets": str(offsets)}, clean, seed=9,
                  chunk=64)
    np.testing.assert_array_equal(store_arrays(out)["tiles.patches"],
                                  store_arrays(clean)["tiles.patches"])


def test_ctrl_c_exits_130_without_traceback(dataset: tuple[Path, Path, Path],
                                            tmp_path: Path) -> None:
    graph, images, offsets = dataset
    np.save(images, np.repeat(np.load(images), 60, axis=0))
    np.save(offsets, np.repeat(np.load(offsets), 60, axis=0))
    out = tmp_path / "interrupted.zarr"
    argv = [sys.executable, "-m", "app.cli", "run", str(graph), *maps(images, offsets),
            "--out", str(out), "--chunk", "1", "--workers", "1"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=interruptible)
    marks = out / "chunks_done" / "c"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (marks.is_dir() and len(os.listdir(marks)) > 5):
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted" in stderr.strip().splitlines()[-1]


# ----------------------------------------------------------------------------- scale


def test_dask_distributed_scheduler_with_two_worker_processes(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    graph, images, offsets = dataset
    local = tmp_path / "local.zarr"
    assert call(["run", str(graph), *maps(images, offsets), "--out", str(local), "--seed", "8",
                 "--chunk", "4"])[0] == 0
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=50,
    ) as cluster:
        remote = tmp_path / "remote.zarr"
        code, stdout, stderr = call(["run", str(graph), *maps(images, offsets), "--out",
                                     str(remote), "--seed", "8", "--chunk", "3",
                                     "--scheduler", cluster.scheduler_address])
        assert code == 0, stderr
        with distributed.Client(cluster.scheduler_address) as client:
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2
            assert all(w["host"] == "127.0.0.1" for w in workers.values())
    np.testing.assert_array_equal(store_arrays(remote)["tiles.patches"],
                                  store_arrays(local)["tiles.patches"])
    assert "8 chunks" in stdout


def test_unreachable_scheduler_is_one_line(dataset: tuple[Path, Path, Path],
                                           tmp_path: Path) -> None:
    graph, images, offsets = dataset
    code, _, stderr = call(["run", str(graph), *maps(images, offsets), "--out",
                            str(tmp_path / "x.zarr"), "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 1 and len(stderr.strip().splitlines()) == 1
    assert "cannot reach the scheduler" in stderr


def test_peak_memory_follows_the_chunk_not_the_dataset(tmp_path: Path) -> None:
    """A 1 GiB memory-mapped .npy runs in a few hundred MB (peak RSS of a subprocess)."""
    graph = write_graph(tmp_path, noise="zero")
    count = 1024**3 // (128 * 128 * 3 * 4)  # float32 [128,128,3] items: 1 GiB in all
    images = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32,
                                       shape=(count, 128, 128, 3))
    images[::97, 5, 5, 0] = 1.0  # a few pages of data; the rest stays a sparse file
    del images
    np.save(tmp_path / "offsets.npy", np.zeros((count, 2), np.float32))
    # Peak resident size from /proc (VmHWM, reset first): getrusage's ru_maxrss would carry
    # the parent's peak over the exec.
    script = (
        "import sys\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "from graph.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print('PEAK', int(status) * 1024)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "run", str(graph),
         "--map", f"image={tmp_path / 'big.npy'}",
         "--map", f"focus.offsets={tmp_path / 'offsets.npy'}",
         "--out", str(tmp_path / "big.zarr")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    peak = int(result.stdout.split("PEAK")[1].split()[0])
    assert peak < 450 * 1024**2, f"peak RSS {peak / 1024**2:.0f} MiB"
    assert f"{count} items" in result.stdout


def test_plan_errors_are_batch_errors(dataset: tuple[Path, Path, Path]) -> None:
    graph_path, images, _ = dataset
    graph = Graph.load(graph_path)
    with pytest.raises(BatchError, match="feed the same input"):
        plan_batch(graph.model, {"image": str(images), " image": str(images)})
    with pytest.raises(BatchError, match="at least one"):
        plan_batch(graph.model, {})
    plan = plan_batch(graph.model, {"image": str(images),
                                    "focus.offsets": np.zeros((N_ITEMS, 2), np.float32)})
    summary: Any = run_batch(plan, Path(str(graph_path) + ".zarr"))
    assert summary.items == N_ITEMS


def test_the_readme_batch_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "assets" / "examples")
    maps_ = ["--map", "scenes=photos/*.png", "--map", "attention.offsets=photo_offsets.npy"]
    code, stdout, stderr = call(["check", "attention.tbg.json", *maps_])
    assert code == 0, stderr
    assert "items 2..3:" in stdout and "[96,96,3]" in stdout
    out = tmp_path / "attention.zarr"
    code, stdout, stderr = call(["run", "attention.tbg.json", *maps_, "--out", str(out),
                                 "--seed", "1", "--compress", "lz4", "--workers", "2"])
    assert code == 0, stderr
    assert stdout.startswith("6 items in 2 chunks")  # 3 sizes, 2 workers: 2 chunks
    root = zarr.open_group(store=str(out), mode="r")
    tiles = np.asarray(root["tiles.patches"][...])
    assert tiles.shape == (6, 3, 3, 768)
    assert str(root["items"][0]) == "photos/photo0.png"
    # Photo 4's glimpse reaches past the corner: zero fill in its last tile.
    assert not tiles[4, 2, 2].any() and tiles[0].any()
    graph = Graph.load("attention.tbg.json")
    lazy = graph.to_dask({"scenes": "photos/*.png",
                          "attention.offsets": np.load("photo_offsets.npy")}, seed=1)
    np.testing.assert_array_equal(lazy["tiles.patches"].compute(), tiles)


def test_progress_bar_on_a_terminal(dataset: tuple[Path, Path, Path], tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    graph, images, offsets = dataset
    out, err = io.StringIO(), Terminal()
    code = main(["run", str(graph), *maps(images, offsets), "--out", str(tmp_path / "p.zarr"),
                 "--chunk", "4"], stdout=out, stderr=err)
    assert code == 0
    assert f"{N_ITEMS}/{N_ITEMS}" in err.getvalue() and "item/s" in err.getvalue()
    assert out.getvalue().count("\n") == 1  # the summary line only


def test_resume_completes_a_store_killed_while_it_was_created(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    graph, images, offsets = dataset
    out = tmp_path / "early.zarr"
    argv = ["run", str(graph), *maps(images, offsets), "--out", str(out), "--chunk", "6",
            "--seed", "12"]
    assert call(argv)[0] == 0
    complete = store_arrays(out)["tiles.patches"]
    import shutil

    for name in ("tiles.patches", "chunks_done", "items"):  # only the record was written
        shutil.rmtree(out / name)
    code, stdout, stderr = call([*argv, "--resume"])
    assert code == 0, stderr
    assert stdout.startswith(f"{N_ITEMS} items in 4 chunks")
    np.testing.assert_array_equal(store_arrays(out)["tiles.patches"], complete)


def test_the_session_announces_a_batch_run(dataset: tuple[Path, Path, Path],
                                           tmp_path: Path) -> None:
    from graph.batch import BatchFinished, BatchProgress, BatchStarted

    graph_path, images, offsets = dataset
    graph = Graph.load(graph_path)
    seen: list[object] = []
    events = graph.session.events
    for emitter in (events.batch_started, events.batch_progress, events.batch_finished):
        emitter.connect(seen.append)
    told: list[object] = []
    summary = graph.map({"image": str(images), "focus.offsets": str(offsets)},
                        tmp_path / "s.zarr", chunk=10, progress=told.append)
    assert [type(event) for event in seen] == [BatchStarted, BatchProgress, BatchProgress,
                                               BatchProgress, BatchFinished]
    last = seen[-1]
    assert isinstance(last, BatchFinished) and last.summary is summary
    assert graph.session.batch is last
    assert told == seen[:-1]  # the caller's progress: the start and every chunk
    progress = seen[3]
    assert isinstance(progress, BatchProgress) and progress.items_done == N_ITEMS
    # A failing run is announced with its one-line error, then raised.
    with pytest.raises(TensorBlocksError, match="exists"):
        graph.map({"image": str(images), "focus.offsets": str(offsets)}, tmp_path / "s.zarr")
    failed = graph.session.batch
    assert isinstance(failed, BatchFinished) and failed.summary is None
    assert failed.error is not None and "s.zarr exists" in failed.error
    assert "\n" not in failed.error


@pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")
def test_zarr_sources_are_checked_before_reading(dataset: tuple[Path, Path, Path],
                                                 tmp_path: Path) -> None:
    graph_path, _, offsets = dataset
    graph = Graph.load(graph_path)
    big = zarr.create_array(store=str(tmp_path / "big.zarr"), shape=(N_ITEMS, 512, 512, 3),
                            chunks=(N_ITEMS, 512, 512, 3), dtype="float32")
    del big
    with pytest.raises(TensorBlocksError, match=r"one zarr chunk of .* rechunk it"):
        plan_batch(graph.model, {"image": str(tmp_path / "big.zarr"),
                                 "focus.offsets": str(offsets)}, memory_limit=64 * 2**20)
    zarr.save_array(str(tmp_path / "text.zarr"), np.array(["a"] * N_ITEMS))
    with pytest.raises(TensorBlocksError, match="numbers or booleans"):
        plan_batch(graph.model, {"image": str(tmp_path / "text.zarr"),
                                 "focus.offsets": str(offsets)})
    code, _, stderr = call(["check", str(graph_path), "--map", f"image={tmp_path}/nothing.zarr",
                            "--map", f"focus.offsets={offsets}"])
    assert code == 1 and "nothing.zarr" in stderr and len(stderr.splitlines()) == 1


# ----------------------------------------------------------------------------- batched ports

#: Inputs that hold one value for the whole batch in every block that has them.
_WHOLE_RUN_PORTS = {"size", "ksizes", "strides", "rates", "padding", "axis", "shape", "perm",
                    "begin", "crop_size", "max_output_size", "iou_threshold",
                    "score_threshold", "colors", "scale", "delta", "contrast_factor", "dtype",
                    "DstT", "file"}


def test_blocks_declare_which_inputs_take_a_value_per_item() -> None:
    from blocks.library import REGISTRY
    from blocks.spec import PortKind

    def declared(spec: Any) -> list[Any]:  # a variadic group by its first port
        return [*spec.inputs, *([spec.variadic.port(0)] if spec.variadic else [])]

    batched = {f"{spec.name}.{port.name}" for spec in REGISTRY.values()
               for port in declared(spec) if port.batched}
    for spec in REGISTRY.values():
        for port in declared(spec):
            if port.batched:  # only a tensor's axis 0 can run over items
                assert port.kind is PortKind.TENSOR, f"{spec.name}.{port.name}"
            if port.name in _WHOLE_RUN_PORTS:
                assert not port.batched, f"{spec.name}.{port.name}"
    assert {"Input.initvalues", "ExtractGlimpseV2.input", "ExtractGlimpseV2.offsets",
            "ExtractGlimpse.offsets", "ExtractImagePatches.images", "ResizeBilinear.images",
            "CropAndResize.boxes", "DrawBoundingBoxes.boxes", "Cast.x",
            "AdjustContrastv2.images", "ConcatV2.values_0"} <= batched
    # Rows that interact (suppression across boxes; box_ind naming images of the chunk).
    assert not batched & {"NonMaxSuppressionV3.boxes", "NonMaxSuppressionV3.scores",
                          "CropAndResize.image"}


def test_only_ports_that_take_a_value_per_item_are_offered(tmp_path: Path) -> None:
    from graph.batch import mappable_targets, port_mapping_problem

    graph = Graph.load(write_graph(tmp_path))
    addresses = [target.address for target in mappable_targets(graph.model)]
    assert addresses == ["image", "focus.offsets"]  # not focus.size, nor the wired images
    spec = graph.model.registry["ExtractGlimpseV2"]
    assert port_mapping_problem(spec.input("offsets")) is None
    size_problem = port_mapping_problem(spec.input("size"))
    assert size_problem is not None and "one value for the whole run" in size_problem


def test_mapping_a_whole_run_port_is_refused_in_one_line(
    dataset: tuple[Path, Path, Path]
) -> None:
    graph, images, _ = dataset
    model = Graph.load(graph).model
    sizes = np.tile(np.array([8, 8], np.int32), (N_ITEMS, 1))
    with pytest.raises(BatchError) as caught:
        plan_batch(model, {"image": str(images), "focus.size": sizes})
    error = caught.value
    assert (error.node, error.port) == ("focus", "size")
    assert str(error).count("\n") == 0
    assert "--map focus.size: the input takes one value for the whole run" in str(error)


def test_an_engine_reused_for_chunks_sizes_each_step_by_its_own_chunk(tmp_path: Path) -> None:
    # The step memo is keyed by the fed tensors' shapes: a big chunk after a small one
    # reserves what the big one needs, as on an engine of its own.
    from graph.engine import Engine

    path = tmp_path / "tiles.tbg.json"
    path.write_text(json.dumps({
        "format": "tensorblocks.graph", "version": 1,
        "nodes": [{"id": "tiles", "block": "ExtractImagePatches",
                   "inputs": {"ksizes": "{1,4,4,1}", "strides": "{1,1,1,1}",
                              "rates": "{1,1,1,1}", "padding": "SAME"}, "pos": [0, 0]}],
        "edges": [],
    }), encoding="utf-8")
    model = Graph.load(path).model

    def feeds(n: int) -> dict[str, dict[str, Any]]:
        return {"tiles": {"images": np.ones((n, 16, 16, 3), np.float32)}}

    alone = Engine().run(model, feeds=feeds(40))
    reused = Engine()
    small = reused.run(model, feeds=feeds(2))
    big = reused.run(model, feeds=feeds(40))
    assert alone.ok and small.ok and big.ok
    assert big.results["tiles.patches"].shape == (40, 16, 16, 48)
    assert small.peak_bytes < big.peak_bytes == alone.peak_bytes


def test_whole_raw_chunks_are_written_as_zarr_writes_them(tmp_path: Path) -> None:
    from graph.batch import _compressors, _write_raw_chunk, _write_rows

    rows = np.random.default_rng(2).random((10, 3, 5), dtype=np.float32)

    def array(name: str, compress: str = "none") -> Any:
        return zarr.create_array(store=str(tmp_path / f"{name}.zarr"), shape=(10, 3, 5),
                                 dtype="float32", chunks=(4, 3, 5), fill_value=0,
                                 compressors=_compressors(compress))

    by_zarr, direct = array("by_zarr"), array("direct")
    by_zarr[:] = rows
    for start in range(0, 10, 4):
        _write_rows(direct, start, rows[start:start + 4])
    for key in ("c/0/0/0", "c/1/0/0", "c/2/0/0"):
        assert (tmp_path / "direct.zarr" / key).read_bytes() == (
            tmp_path / "by_zarr.zarr" / key).read_bytes()
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "direct.zarr"))[...], rows)
    assert not list((tmp_path / "direct.zarr").rglob("*.partial"))
    # Not a whole raw chunk: the last, short one; a compressed array; another byte order.
    assert not _write_raw_chunk(array("short"), 2, rows[8:])
    assert not _write_raw_chunk(array("packed", "lz4"), 0, rows[:4])
    assert not _write_raw_chunk(array("swapped"), 0, rows[:4].astype(">f4"))
    assert not (tmp_path / "packed.zarr" / "c").exists()


def test_a_chunk_is_cast_once(dataset: tuple[Path, Path, Path],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    # uint8 images into a DT_FLOAT Input: the kernel casts the chunk; the step's shape rule
    # sees the fed chunk as a wire's tensor (shape and dtype), so it does not cast it too.
    import blocks.library as library
    from graph.batch import compute_chunk

    graph, images, offsets = dataset
    plan = plan_batch(Graph.load(graph).model, {"image": str(images),
                                                "focus.offsets": str(offsets)}, seed=1)
    cast_sizes: list[int] = []
    real_cast = library._cast

    def counted(value: np.ndarray, dtype: Any) -> np.ndarray:
        cast_sizes.append(int(value.size))
        return real_cast(value, dtype)

    monkeypatch.setattr(library, "_cast", counted)
    compute_chunk(plan, 0, 6)
    assert cast_sizes == [6 * 16 * 16 * 3]


def test_a_store_that_cannot_be_made_stops_the_run_with_its_own_error(
    dataset: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store is made on a thread while the first chunks compute: its failure is what
    # the run raises, and no chunk is written without it.
    import graph.batch as batch

    graph, images, offsets = dataset
    plan = plan_batch(Graph.load(graph).model, {"image": str(images),
                                                "focus.offsets": str(offsets)}, chunk=4)

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch, "_make_arrays", full_disk)
    with pytest.raises(OSError, match="No space left"):
        run_batch(plan, tmp_path / "full.zarr", workers=2)
    assert not (tmp_path / "full.zarr" / "tiles.patches").exists()
    assert not batch._MAKERS


def test_a_store_overwritten_in_the_same_process_is_written_with_its_new_chunks(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    # The arrays a run writes into are the ones it made: a store replaced by a run with
    # other chunks is never written through the arrays of the store it replaced.
    graph, images, offsets = dataset
    model = Graph.load(graph).model
    sources = {"image": str(images), "focus.offsets": str(offsets)}
    out = tmp_path / "again.zarr"
    run_batch(plan_batch(model, sources, chunk=6, seed=3), out, workers=2)
    first = store_arrays(out)
    run_batch(plan_batch(model, sources, chunk=5, seed=3), out, workers=2, overwrite=True)
    second = store_arrays(out)
    assert zarr.open_array(store=str(out), path="tiles.patches", mode="r").chunks[0] == 5
    np.testing.assert_array_equal(second["tiles.patches"], first["tiles.patches"])
    assert second["chunks_done"].tolist() == [1] * -(-N_ITEMS // 5)


def chunks_of_six(dataset: tuple[Path, Path, Path]) -> Any:
    """The dataset's plan in chunks of six items."""
    graph, images, offsets = dataset
    return plan_batch(Graph.load(graph).model, {"image": str(images),
                                                "focus.offsets": str(offsets)}, chunk=6)


def test_a_new_store_has_the_files_zarr_writes_itself(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    # The store is made by zarr in memory and its files written by the run: byte for byte
    # what zarr writes when it makes the same store in the folder itself.
    from zarr.api import asynchronous

    import graph.batch as batch

    plan = chunks_of_six(dataset)
    record = {"format": "tensorblocks.batch", "note": "a record"}
    made = batch._make_store(plan, tmp_path / "ours.zarr", record)

    async def by_zarr() -> None:
        root = await asynchronous.create_group(store=str(tmp_path / "zarr.zarr"),
                                               attributes={"tensorblocks": record})
        await batch._make_arrays(plan, root, present=set())

    batch._sync(by_zarr())

    def files(folder: Path) -> dict[str, bytes]:
        return {str(path.relative_to(folder)): path.read_bytes()
                for path in sorted(folder.rglob("*")) if path.is_file()}

    ours = files(tmp_path / "ours.zarr")
    assert {"zarr.json", "tiles.patches/zarr.json", "items/zarr.json"} <= set(ours)
    assert ours == files(tmp_path / "zarr.zarr")
    # The arrays returned write into the folder (the marks of chunk 1 and 2 here).
    assert sorted(made) == ["chunks_done", "tiles.patches"]
    made["chunks_done"][1:3] = 1
    assert zarr.open_array(store=str(tmp_path / "ours.zarr"), path="chunks_done",
                           mode="r")[...].tolist() == [0, 1, 1, 0]


def test_a_store_made_meanwhile_by_someone_else_is_not_overwritten(
    dataset: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import graph.batch as batch

    plan = chunks_of_six(dataset)
    out = tmp_path / "taken.zarr"
    out.mkdir()
    (out / "zarr.json").write_text("someone else's", encoding="utf-8")
    with pytest.raises(FileExistsError):
        batch._make_store(plan, out, {"format": "tensorblocks.batch"})
    assert (out / "zarr.json").read_text(encoding="utf-8") == "someone else's"
    assert [path.name for path in out.iterdir()] == ["zarr.json"]
