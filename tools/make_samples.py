"""Make the sample images of assets/examples/ (procedural, owned by the project, CC0).

Usage: ``python3 tools/make_samples.py [FOLDER]`` (default: ``assets/examples``).

* ``scene.png`` — 128x128 RGB: a sky gradient, a sun, two hills, a checkerboard field
  and a few coloured squares, so glimpses at different offsets show different things.
* ``texture.png`` — 64x64 greyscale: concentric rings over a fine checkerboard, where
  dilated patches (``rates`` 2) visibly sample every other pixel.

* ``scenes.npz`` — key ``images``: ``scene.png`` tiled to a batch of 4, ``uint8
  [4, 128, 128, 3]``, compressed (np.savez_compressed), for the batched attention example.

* ``photos/photo0.png`` … ``photo5.png`` — six views of the scene (crops and a flip, of
  three sizes) and ``photo_offsets.npy`` (``float32 [6, 2]``, one glimpse offset per
  photo), a small dataset for the batch example in the README
  (``run attention.tbg.json --map scenes='photos/*.png' --map attention.offsets=...``).

All are deterministic (no randomness), so rerunning the script rewrites identical files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = ROOT / "assets" / "examples"


def make_scene(size: int = 128) -> np.ndarray:
    """The 128x128 RGB scene as ``uint8 [H, W, 3]``."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    image = np.zeros((size, size, 3), dtype=np.float64)
    # Sky: light blue at the top to pale near the horizon.
    t = y / size
    image[..., 0] = 90 + 120 * t
    image[..., 1] = 150 + 80 * t
    image[..., 2] = 235 - 20 * t
    # Sun, top right.
    sun = (x - 0.78 * size) ** 2 + (y - 0.2 * size) ** 2 < (0.11 * size) ** 2
    image[sun] = (255, 214, 60)
    # Two hills.
    hill_a = y > 0.62 * size - 0.25 * size * np.exp(-(((x - 0.3 * size) / (0.22 * size)) ** 2))
    hill_b = y > 0.66 * size - 0.18 * size * np.exp(-(((x - 0.75 * size) / (0.18 * size)) ** 2))
    image[hill_b] = (70, 140, 70)
    image[hill_a] = (50, 120, 55)
    # A checkerboard field in the bottom quarter.
    field = y >= 0.78 * size
    checker = ((x // 8).astype(int) + (y // 8).astype(int)) % 2 == 0
    image[field & checker] = (200, 180, 120)
    image[field & ~checker] = (150, 110, 70)
    # Coloured squares: red, blue, magenta, each a landmark for a glimpse.
    for (cy, cx), colour in (
        ((0.35, 0.15), (220, 50, 50)),
        ((0.45, 0.55), (40, 60, 200)),
        ((0.9, 0.5), (200, 60, 200)),
    ):
        square = (abs(y - cy * size) < 6) & (abs(x - cx * size) < 6)
        image[square] = colour
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def make_texture(size: int = 64) -> np.ndarray:
    """The 64x64 greyscale texture as ``uint8 [H, W]``."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    radius = np.hypot(y - size / 2 + 0.5, x - size / 2 + 0.5)
    rings = 0.5 + 0.5 * np.cos(radius * 2 * np.pi / 12)
    checker = ((x.astype(int) + y.astype(int)) % 2).astype(np.float64)
    image = 40 + 150 * rings + 60 * checker
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def make_scene_batch(batch: int = 4) -> np.ndarray:
    """The scene tiled to ``uint8 [batch, 128, 128, 3]`` (one image per glimpse)."""
    return np.ascontiguousarray(np.tile(make_scene()[None], (batch, 1, 1, 1)))


def make_photos() -> list[np.ndarray]:
    """Six views of the scene: crops of three sizes and a mirror image, ``uint8 [H, W, 3]``."""
    scene = make_scene()
    return [
        scene,
        scene[:, ::-1],
        scene[16:112, 16:112],
        scene[8:104, 24:120],
        scene[32:96, :],
        scene[32:96, ::-1],
    ]


#: One (y, x) glimpse offset per photo: centred, normalized, the last two partly outside.
PHOTO_OFFSETS = np.array(
    [[-0.3, -0.7], [-0.3, 0.7], [0.1, 0.0], [-0.5, 0.5], [0.9, 0.9], [-0.9, -0.8]],
    dtype=np.float32,
)


def write_png(array: np.ndarray, path: Path) -> None:
    """Write ``array`` as an optimized PNG (no metadata, so the bytes are reproducible)."""
    Image.fromarray(array).save(path, format="PNG", optimize=True)


def main(argv: list[str]) -> int:
    """Write the samples into ``argv[0]`` (default assets/examples); returns 0."""
    folder = Path(argv[0]) if argv else DEFAULT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("scene.png", make_scene()), ("texture.png", make_texture())):
        path = folder / name
        write_png(array, path)
        print(f"{path}: {array.shape} {array.dtype}, {path.stat().st_size} bytes")
    batch = make_scene_batch()
    path = folder / "scenes.npz"
    np.savez_compressed(path, images=batch)
    print(f"{path}: {batch.shape} {batch.dtype}, {path.stat().st_size} bytes")
    photos = folder / "photos"
    photos.mkdir(exist_ok=True)
    for index, photo in enumerate(make_photos()):
        write_png(np.ascontiguousarray(photo), photos / f"photo{index}.png")
    np.save(folder / "photo_offsets.npy", PHOTO_OFFSETS)
    print(f"{photos}: {len(make_photos())} photos; {folder / 'photo_offsets.npy'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
