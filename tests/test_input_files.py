"""Input block data files: .npy, name.npz:key, images; peeking; signatures; errors."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from blocks.errors import BlockFileError
from blocks.input_files import file_signature, peek_tensor_file, read_tensor_file


def _check_same_as_peek(spec: str, base: Path | None) -> np.ndarray:
    array = read_tensor_file(spec, base)
    assert peek_tensor_file(spec, base) == (array.shape, array.dtype)
    return array


def _error(spec: str, base: Path | None, *fragments: str) -> None:
    for function in (read_tensor_file, peek_tensor_file):
        with pytest.raises(BlockFileError) as info:
            function(spec, base)
        error = info.value
        assert error.port == "file"
        assert error.file == spec
        for fragment in fragments:
            assert fragment in error.reason, (fragment, error.reason)


# ----------------------------------------------------------------------------- npy / npz


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        np.array(3.5),
        np.zeros((0, 5), np.int16),
        np.array([True, False]),
        np.array([1 + 2j, np.nan], np.complex128),
        np.array([2**64 - 1], np.uint64),
        np.asfortranarray(np.arange(6, dtype=np.int8).reshape(2, 3)),
    ],
)
def test_npy_round_trip(tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", array)
    back = _check_same_as_peek("a.npy", tmp_path)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_npy_header_versions_2_and_3(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.float64).reshape(3, 2)
    for version in ((2, 0), (3, 0)):
        path = tmp_path / f"v{version[0]}.npy"
        with path.open("wb") as stream:
            np.lib.format.write_array(stream, array, version=version)
        np.testing.assert_array_equal(_check_same_as_peek(path.name, tmp_path), array)


def test_npz_with_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "b.npz", images=np.ones((1, 4, 4, 3), np.float32), sizes=np.array([2, 2]))
    np.savez_compressed(tmp_path / "c.npz", x=np.arange(10, dtype=np.uint16))
    images = _check_same_as_peek("b.npz:images", tmp_path)
    assert images.shape == (1, 4, 4, 3)
    np.testing.assert_array_equal(_check_same_as_peek("b.npz:sizes", tmp_path), [2, 2])
    np.testing.assert_array_equal(_check_same_as_peek("c.npz:x", tmp_path), np.arange(10))
    np.testing.assert_array_equal(_check_same_as_peek("c.npz", tmp_path), np.arange(10))
    np.testing.assert_array_equal(_check_same_as_peek("B.NPZ:sizes".lower(), tmp_path), [2, 2])


def test_npz_key_errors_list_the_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "b.npz", images=np.ones(2), sizes=np.ones(2))
    _error("b.npz:nope", tmp_path, "no array 'nope'", "images, sizes")
    _error("b.npz", tmp_path, "holds 2 arrays", "name.npz:key", "images, sizes")
    np.savez(tmp_path / "empty.npz")
    _error("empty.npz", tmp_path, "holds 0 arrays", "none")


def test_key_with_colons_and_dots(tmp_path: Path) -> None:
    arrays: dict[str, Any] = {"a.b:c": np.array([7])}
    np.savez(tmp_path / "k.npz", **arrays)
    np.testing.assert_array_equal(_check_same_as_peek("k.npz:a.b:c", tmp_path), [7])


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    _error("obj.npy", tmp_path, "numbers or booleans", "object")
    np.savez(tmp_path / "obj.npz", x=np.array([None], dtype=object))
    _error("obj.npz:x", tmp_path, "object")


def test_string_and_structured_arrays_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.array(["abc"]))
    _error("s.npy", tmp_path, "numbers or booleans", "<U3")
    np.save(tmp_path / "r.npy", np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]))
    _error("r.npy", tmp_path, "structured")


def test_a_pickle_renamed_to_npy_is_not_loaded(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "p.npy").write_bytes(pickle.dumps([1, 2, 3]))
    _error("p.npy", tmp_path, "not a valid .npy file")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.npy", b"garbage!"),
        ("empty.npy", b""),
        ("bad.npz", b"PK\x03\x04 not a zip"),
        ("trunc.npy", None),
    ],
)
def test_corrupt_files(tmp_path: Path, name: str, content: bytes | None) -> None:
    if content is None:
        np.save(tmp_path / name, np.arange(100, dtype=np.float64))
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[:-40])
        _error(name, tmp_path, "truncated", "[100] float64 (800 bytes of data)", "760 bytes")
        return
    (tmp_path / name).write_bytes(content)
    _error(name, tmp_path, "not a valid", name)


def test_npz_with_corrupt_member(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "m.npz", "w") as archive:
        archive.writestr("x.npy", b"\x93NUMPY broken")
    _error("m.npz:x", tmp_path, "not a valid .npz file")


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("mode", "suffix", "channels", "dtype"),
    [
        ("RGB", ".png", 3, np.uint8),
        ("RGBA", ".png", 4, np.uint8),
        ("L", ".png", 1, np.uint8),
        ("LA", ".png", 2, np.uint8),
        ("1", ".png", 1, np.uint8),
        ("P", ".png", 3, np.uint8),
        ("RGB", ".bmp", 3, np.uint8),
        ("L", ".bmp", 1, np.uint8),
        ("RGB", ".jpg", 3, np.uint8),
        ("L", ".jpeg", 1, np.uint8),
        ("CMYK", ".jpg", 3, np.uint8),
        ("I;16", ".png", 1, np.uint16),
    ],
)
def test_image_modes(tmp_path: Path, mode: str, suffix: str, channels: int, dtype: type) -> None:
    image = Image.new(mode, (5, 3))
    rng = np.random.default_rng(0)
    if mode in ("RGB", "RGBA", "L", "LA", "P"):
        pixels = rng.integers(0, 256, size=(3, 5, len(mode) if mode != "P" else 1), dtype=np.uint8)
        image = Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels, mode)
    elif mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, size=(3, 5), dtype=np.uint16))
    name = "img" + suffix
    image.save(tmp_path / name)
    array = _check_same_as_peek(name, tmp_path)
    assert array.shape == (1, 3, 5, channels)
    assert array.dtype == np.dtype(dtype)
    if suffix in (".png", ".bmp") and mode in ("RGB", "RGBA", "L", "LA"):
        expected = np.asarray(Image.open(tmp_path / name))
        np.testing.assert_array_equal(array.reshape(expected.shape), expected)
    if mode == "I;16":
        np.testing.assert_array_equal(array[0, :, :, 0], np.asarray(image).astype(np.uint16))


def test_rgb_png_exact_pixels(tmp_path: Path) -> None:
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7
    Image.fromarray(pixels, "RGB").save(tmp_path / "x.png")
    np.testing.assert_array_equal(read_tensor_file("x.png", tmp_path)[0], pixels)


def test_palette_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    image = Image.new("P", (4, 2), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.info["transparency"] = 0
    image.save(tmp_path / "t.png", transparency=0)
    array = _check_same_as_peek("t.png", tmp_path)
    assert array.shape == (1, 2, 4, 4)
    assert tuple(array[0, 1, 1]) == (0, 255, 0, 255)
    assert tuple(array[0, 0, 0]) == (255, 0, 0, 0)


def test_bilevel_image_is_0_or_255(tmp_path: Path) -> None:
    image = Image.new("1", (3, 1), 0)
    image.putpixel((1, 0), 1)
    image.save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_tensor_file("b.png", tmp_path).reshape(-1), [0, 255, 0])


def test_corrupt_image(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _error("x.png", tmp_path, "cannot read the image x.png")
    Image.new("RGB", (50, 50)).save(tmp_path / "cut.jpg")
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.png").write_bytes(data)  # a JPEG named .png: content must match suffix
    _error("cut.png", tmp_path, "not a PNG image", "does not match")


# ----------------------------------------------------------------------------- paths and errors


def test_relative_to_base_dir_and_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "a.npy", np.arange(3))
    np.testing.assert_array_equal(read_tensor_file("sub/a.npy", tmp_path), [0, 1, 2])
    np.testing.assert_array_equal(
        read_tensor_file(str(tmp_path / "sub" / "a.npy"), None), [0, 1, 2]
    )
    monkeypatch.chdir(tmp_path / "sub")
    np.testing.assert_array_equal(read_tensor_file("a.npy", None), [0, 1, 2])
    np.testing.assert_array_equal(read_tensor_file("  a.npy  ", None), [0, 1, 2])


def test_missing_unsupported_and_empty(tmp_path: Path) -> None:
    _error("nope.npy", tmp_path, "file not found", str(tmp_path / "nope.npy"))
    _error("nope.npz:x", tmp_path, "file not found")
    (tmp_path / "data.txt").write_text("1 2 3")
    _error("data.txt", tmp_path, "unsupported file type", "'.txt'", ".npy")
    _error("README", tmp_path, "unsupported file type", "no extension")
    _error("", tmp_path, "expected a file name", "found nothing")
    (tmp_path / "dir.npy").mkdir()
    _error("dir.npy", tmp_path, "expected a file")


def test_error_message_names_file_and_port(tmp_path: Path) -> None:
    with pytest.raises(BlockFileError) as info:
        read_tensor_file("gone.npy", tmp_path)
    assert str(info.value).startswith("gone.npy, port 'file': file not found")


def test_file_signature_changes_with_the_file(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(3))
    first = file_signature("a.npy", tmp_path)
    assert str((tmp_path / "a.npy").resolve()) in first
    assert first == file_signature(str(tmp_path / "a.npy"), None)
    np.save(tmp_path / "a.npy", np.arange(4))
    stat = (tmp_path / "a.npy").stat()
    os.utime(tmp_path / "a.npy", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert file_signature("a.npy", tmp_path) != first
    np.savez(tmp_path / "b.npz", x=np.ones(1), y=np.ones(1))
    assert file_signature("b.npz:x", tmp_path) != file_signature("b.npz:y", tmp_path)
    with pytest.raises(BlockFileError, match="file not found"):
        file_signature("gone.npy", tmp_path)


def test_peek_does_not_read_the_data(tmp_path: Path) -> None:
    # A sparse 1 GiB file: peek reads the header only.
    path = tmp_path / "big.npy"
    header = {"descr": "<f4", "fortran_order": False, "shape": (1 << 14, 1 << 14)}
    with path.open("wb") as stream:
        np.lib.format.write_array_header_1_0(stream, header)
        stream.truncate(stream.tell() + (1 << 30))
    assert peek_tensor_file("big.npy", tmp_path) == ((1 << 14, 1 << 14), np.dtype(np.float32))


def test_header_promising_more_than_the_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "liar.npy"
    header = {"descr": "<f8", "fortran_order": False, "shape": (1 << 30, 1 << 30)}
    with path.open("wb") as stream:
        np.lib.format.write_array_header_1_0(stream, header)
        stream.write(b"\0" * 64)
    _error("liar.npy", tmp_path, "truncated", "only 64 bytes follow")
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as archive:
        archive.write(path, "x.npy")
    _error("liar.npz:x", tmp_path, "truncated")


def test_names_that_cannot_be_files(tmp_path: Path) -> None:
    _error("a\x00b.npy", tmp_path, "file not found")
    _error("x" * 5000 + ".npy", tmp_path)


def test_a_large_file_is_read_in_pieces_and_a_stop_lands_between_them(tmp_path: Path) -> None:
    import threading

    from blocks.errors import CancelledError
    from blocks.input_files import _READ_PIECE, read_tensor_file

    pieces = 3
    np.save(tmp_path / "big.npy", np.zeros(pieces * _READ_PIECE // 4, np.float32))

    class StopAfter(threading.Event):
        """Set once the reader has asked ``count`` times (one ask per piece)."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.asked, self.count = 0, count

        def is_set(self) -> bool:
            self.asked += 1
            return self.asked > self.count

    stop = StopAfter(1)
    with pytest.raises(CancelledError):
        read_tensor_file("big.npy", tmp_path, cancel=stop)
    assert stop.asked == 2  # stopped after the first piece, not after the whole file
    whole = read_tensor_file("big.npy", tmp_path, cancel=StopAfter(pieces + 1))
    assert whole.shape == (pieces * _READ_PIECE // 4,)
