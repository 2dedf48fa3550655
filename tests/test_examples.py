"""The example graphs run headless and produce what their notes promise; the samples are fit."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assets import asset_path
from graph.cli import main
from graph.fileformat import graph_to_json, load_graph
from tools.make_samples import make_scene, make_texture

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = asset_path("examples")

#: For each example: every product tensor and its shape.
EXPECTED: dict[str, dict[str, tuple[int, ...]]] = {
    "attention.tbg.json": {
        "scenes.output": (4, 128, 128, 3),
        "attention.glimpse": (4, 48, 48, 3),
        "tiles.patches": (4, 3, 3, 768),
    },
    "glimpses.tbg.json": {
        "scene.output": (1, 128, 128, 3),
        "centre.glimpse": (1, 48, 48, 3),
        "red_square.glimpse": (1, 24, 24, 3),
        "sun.glimpse": (1, 32, 32, 3),
        "corner_zero.glimpse": (1, 48, 48, 3),
    },
    "patches_rates.tbg.json": {
        "texture.output": (1, 64, 64, 1),
        "dilated_same.patches": (1, 16, 16, 9),
        "dilated_valid.patches": (1, 15, 15, 9),
        "numbers.output": (1, 4, 4, 1),
        "numbers_dilated.patches": (1, 2, 2, 4),
    },
    "multiscale_glimpse.tbg.json": {
        "scenes.output": (4, 128, 128, 3),
        "locations.output": (4, 2),
        "glimpse_16.glimpse": (4, 16, 16, 3),
        "glimpse_32.glimpse": (4, 32, 32, 3),
        "glimpse_64.glimpse": (4, 64, 64, 3),
        "shrink_32.resized_images": (4, 16, 16, 3),
        "shrink_64.resized_images": (4, 16, 16, 3),
        "scales.output": (4, 16, 16, 9),
        "sensor.patches": (4, 2, 2, 576),
    },
    "noise_fill.tbg.json": {
        "texture.output": (1, 64, 64, 1),
        "uniform_fill.glimpse": (1, 96, 96, 1),
        "gaussian_fill.glimpse": (1, 96, 96, 1),
    },
    "patch_tokens.tbg.json": {
        "scene.output": (1, 128, 128, 3),
        "patches.patches": (1, 8, 8, 768),
        "tokens.output": (1, 64, 768),
        "tokens_f32.y": (1, 64, 768),
    },
    "pipeline.tbg.json": {
        "scene.output": (1, 128, 128, 3),
        "focus.glimpse": (1, 64, 64, 3),
        "tiles.patches": (1, 4, 4, 768),
    },
}


def run_example(name: str, tmp_path: Path) -> dict[str, np.ndarray]:
    out_path = tmp_path / f"{name}.npz"
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(EXAMPLES / name), "--seed", "1", "--out", str(out_path)],
                stdout=out, stderr=err)
    assert (code, err.getvalue()) == (0, "")
    with np.load(out_path, allow_pickle=False) as results:
        return {key: results[key] for key in results.files}


def test_every_example_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.tbg.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_in_process(name: str, tmp_path: Path) -> None:
    results = run_example(name, tmp_path)
    assert {key: value.shape for key, value in results.items()} == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_checks_clean(name: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["check", str(EXAMPLES / name)], stdout=out, stderr=err) == 0
    for key, shape in EXPECTED[name].items():
        row = next(line for line in out.getvalue().splitlines() if line.startswith(key + " "))
        assert "[" + ",".join(map(str, shape)) + "]" in row


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_files_are_saved_in_canonical_form(name: str) -> None:
    path = EXAMPLES / name
    assert graph_to_json(load_graph(path)) == path.read_text(encoding="utf-8")


def test_glimpses_land_on_their_landmarks(tmp_path: Path) -> None:
    results = run_example("glimpses.tbg.json", tmp_path)
    scene = results["scene.output"][0]
    # centre: V1, centred and normalized (0,0): the middle 48x48 of the image.
    np.testing.assert_array_equal(results["centre.glimpse"][0], scene[40:88, 40:88])
    # red_square: V2 uncentred pixel offsets (33,7) are the top-left corner.
    np.testing.assert_array_equal(results["red_square.glimpse"][0], scene[33:57, 7:31])
    red = results["red_square.glimpse"][0, 12, 12]
    np.testing.assert_array_equal(red, [220, 50, 50])
    # sun: V1 halves centred pixel offsets: (-77,72) -> centre (25.5, 100).
    np.testing.assert_array_equal(results["sun.glimpse"][0, 16, 16], [255, 214, 60])
    # corner_zero: centred on the bottom-right corner; three quarters lie outside -> 0.
    corner = results["corner_zero.glimpse"][0]
    np.testing.assert_array_equal(corner[:24, :24], scene[104:, 104:])
    assert not corner[24:].any() and not corner[:, 24:].any()


def test_dilated_patches_pick_every_other_pixel(tmp_path: Path) -> None:
    results = run_example("patches_rates.tbg.json", tmp_path)
    numbers = results["numbers_dilated.patches"][0]
    # A 2x2 patch dilated by 2 at (0,0) takes pixels (0,0), (0,2), (2,0), (2,2): 1, 3, 9, 11.
    np.testing.assert_array_equal(numbers[0, 0], [1, 3, 9, 11])
    np.testing.assert_array_equal(numbers[1, 1], [6, 8, 14, 16])
    texture = results["texture.output"][0, :, :, 0]
    valid = results["dilated_valid.patches"][0]
    np.testing.assert_array_equal(valid[1, 2], texture[4:9:2, 8:13:2].reshape(-1))


def test_pipeline_tiles_are_the_glimpse(tmp_path: Path) -> None:
    results = run_example("pipeline.tbg.json", tmp_path)
    glimpse = results["focus.glimpse"][0]
    tiles = results["tiles.patches"][0]
    np.testing.assert_array_equal(tiles[2, 1], glimpse[32:48, 16:32].reshape(-1))


def test_patch_tokens_are_the_patches_in_row_major_order(tmp_path: Path) -> None:
    results = run_example("patch_tokens.tbg.json", tmp_path)
    patches, tokens = results["patches.patches"][0], results["tokens_f32.y"][0]
    assert tokens.dtype == np.float32 and results["tokens.output"].dtype == np.uint8
    np.testing.assert_array_equal(tokens[2 * 8 + 5], patches[2, 5].astype(np.float32))
    scene = results["scene.output"][0]
    np.testing.assert_array_equal(tokens[9], scene[16:32, 16:32].reshape(-1))


def test_multiscale_glimpses_share_their_centre_and_join_along_channels(
    tmp_path: Path,
) -> None:
    results = run_example("multiscale_glimpse.tbg.json", tmp_path)
    g16, g32, g64 = (results[f"glimpse_{n}.glimpse"] for n in (16, 32, 64))
    # The same location for the three scales: each smaller glimpse is the middle of the
    # next larger one, within a pixel (TensorFlow rounds each window's corner on its own:
    # item 0's 64 window lies one pixel left of centring the 32 one).
    def middle_shift(small: np.ndarray, large: np.ndarray) -> tuple[int, int] | None:
        edge = (large.shape[0] - small.shape[0]) // 2
        for dy, dx in [(0, 0), *((y, x) for y in (-1, 0, 1) for x in (-1, 0, 1))]:
            window = large[edge + dy:edge + dy + small.shape[0],
                           edge + dx:edge + dx + small.shape[1]]
            if np.array_equal(window, small):
                return dy, dx
        return None

    assert [middle_shift(g16[b], g32[b]) for b in range(4)] == [(0, 0)] * 4
    assert [middle_shift(g32[b], g64[b]) for b in range(4)] == [(0, -1), (0, 0), (-1, 0),
                                                                  (0, 0)]
    # ResizeArea halves 32 -> 16 by averaging 2x2 blocks (quarters 64 -> 16 by 4x4).
    blocks = g32.reshape(4, 16, 2, 16, 2, 3).astype(np.float64).mean(axis=(2, 4))
    np.testing.assert_allclose(results["shrink_32.resized_images"], blocks, rtol=1e-6)
    scales = results["scales.output"]
    np.testing.assert_array_equal(scales[..., 0:3], g16)
    np.testing.assert_array_equal(scales[..., 3:6], results["shrink_32.resized_images"])
    np.testing.assert_array_equal(scales[..., 6:9], results["shrink_64.resized_images"])
    # The last location hangs over the corner: the 64 glimpse is partly zero fill, the 16
    # one is not; the sensor's patches are the joined scales, 8x8 tiles row-major.
    assert not g64[3, 44:, 44:].any() and g64[3, :40, :40].all() and g16[3].any()
    sensor = results["sensor.patches"]
    np.testing.assert_array_equal(sensor[2, 1, 0], scales[2, 8:16, 0:8].reshape(-1))


def test_noise_fill_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    first = run_example("noise_fill.tbg.json", tmp_path)
    again = run_example("noise_fill.tbg.json", tmp_path)
    texture = first["texture.output"][0]
    for key in ("uniform_fill.glimpse", "gaussian_fill.glimpse"):
        np.testing.assert_array_equal(first[key], again[key])
        window = first[key][0]
        np.testing.assert_array_equal(window[16:80, 16:80], texture)
        border = np.concatenate([window[:16].ravel(), window[80:].ravel()])
        assert texture.min() <= border.min() and border.max() <= texture.max()
        assert len(np.unique(border)) > 100  # noise, not a constant fill
    uniform_border = first["uniform_fill.glimpse"][0, :16].ravel()
    gaussian_border = first["gaussian_fill.glimpse"][0, :16].ravel()
    # Uniform noise spreads evenly; gaussian noise gathers around the mean.
    assert uniform_border.std() > gaussian_border.std()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_via_python_m_app_cli(name: str, tmp_path: Path) -> None:
    out_path = tmp_path / "r.npz"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", str(EXAMPLES / name), "--out", str(out_path)],
        cwd=tmp_path,  # relative paths in the graph resolve against the graph file, not here
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for key in EXPECTED[name]:
        assert key in result.stdout
    with np.load(out_path, allow_pickle=False) as results:
        assert sorted(results.files) == sorted(EXPECTED[name])


# ----------------------------------------------------------------------------- sample images


@pytest.mark.parametrize(
    ("name", "make", "mode", "size"),
    [("scene.png", make_scene, "RGB", (128, 128)), ("texture.png", make_texture, "L", (64, 64))],
)
def test_samples_are_small_and_match_their_generator(
    name: str, make: Callable[[], np.ndarray], mode: str, size: tuple[int, int]
) -> None:
    path = EXAMPLES / name
    assert path.stat().st_size < 60 * 1024
    with Image.open(path) as image:
        assert image.mode == mode and image.size == size
        pixels = np.asarray(image)
    np.testing.assert_array_equal(pixels, make())


def test_samples_carry_a_licence() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert "CC0" in readme and "glimpses.tbg.json" in readme
    assert "CC0 1.0" in (EXAMPLES / "LICENSE").read_text(encoding="utf-8")


def test_attention_glimpses_differ_per_batch_item_and_the_corner_is_zero_filled(
    tmp_path: Path,
) -> None:
    from tools.make_samples import make_scene_batch

    results = run_example("attention.tbg.json", tmp_path)
    np.testing.assert_array_equal(results["scenes.output"], make_scene_batch())
    glimpses = results["attention.glimpse"]
    assert len({glimpses[b].tobytes() for b in range(4)}) == 4  # four different places
    # The last window is centred near the bottom-right corner: its far quarter is zeros.
    assert np.all(glimpses[3, 40:, 40:] == 0) and np.any(glimpses[3, :16, :16] > 0)
    assert np.all(glimpses[1] > 0)  # the blue square's window lies inside the image
