"""The Input block through its declaration: cast, reshape, fill, files; infer matches run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from blocks.errors import BlockFileError, InvalidArgumentError, MemoryLimitError
from blocks.library import INPUT
from blocks.literals import parse_literal
from blocks.spec import InferContext, PortKind, PortValue, RunContext, TensorInfo


def run(base_dir: Path | None = None, memory_limit: int = 2**31, **inputs: PortValue) -> np.ndarray:
    return INPUT.run(
        RunContext(inputs=inputs, attrs={}, base_dir=base_dir, memory_limit=memory_limit)
    )["output"]


def infer(
    base_dir: Path | None = None, memory_limit: int = 2**31, **inputs: TensorInfo
) -> TensorInfo:
    return INPUT.infer(
        InferContext(inputs=inputs, attrs={}, base_dir=base_dir, memory_limit=memory_limit)
    )["output"]


def literal(value: Any) -> TensorInfo:
    """An inference input for a literal value, as the engine makes it."""
    if isinstance(value, np.ndarray):
        return TensorInfo(tuple(value.shape), value.dtype, value)
    return TensorInfo(None, None, value)


def run_and_infer(base_dir: Path | None = None, **inputs: PortValue) -> np.ndarray:
    """Runs the block, infers it, and checks both agree."""
    out = run(base_dir, **inputs)
    infos = {name: literal(value) for name, value in inputs.items()}
    info = INPUT.infer(InferContext(inputs=infos, attrs={}, base_dir=base_dir))["output"]
    assert info.shape == out.shape
    assert info.dtype == out.dtype
    if info.value is not None:
        np.testing.assert_array_equal(info.value, out)
    return out


F32 = np.dtype(np.float32)


# ----------------------------------------------------------------------------- values


def test_default_dtype_is_float32() -> None:
    out = run_and_infer(initvalues=np.array([[1, 2], [3, 4]]))
    assert out.dtype == F32
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    "dtype", ["DT_INT32", "DT_UINT8", "DT_DOUBLE", "DT_HALF", "DT_BOOL", "DT_COMPLEX64"]
)
def test_initvalues_cast_to_dtype(dtype: str) -> None:
    target = parse_literal(dtype, PortKind.DTYPE)
    values = parse_literal("{{1,0},{3,4}}", PortKind.TENSOR)
    out = run_and_infer(initvalues=values, dtype=target)
    assert out.dtype == target
    np.testing.assert_array_equal(out, np.array([[1, 0], [3, 4]]).astype(target))


def test_dtype_given_as_text_is_accepted() -> None:
    assert run(initvalues=np.array([1.5]), dtype="DT_DOUBLE").dtype == np.float64
    assert infer(initvalues=literal(np.array([1.5])), dtype=literal("float16")).dtype == np.float16


def test_literal_parsed_with_the_dtype_keeps_exact_values() -> None:
    values = parse_literal("{9007199254740993, -1}", PortKind.TENSOR, "DT_INT64")
    out = run_and_infer(initvalues=values, dtype=np.dtype(np.int64))
    assert out[0] == 9007199254740993


def test_shape_reshapes() -> None:
    out = run_and_infer(initvalues=np.arange(6), shape=(2, 3))
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert run_and_infer(initvalues=np.arange(6), shape=(6, 1, 1)).shape == (6, 1, 1)


def test_scalar_fills_the_shape() -> None:
    out = run_and_infer(initvalues=np.array(2.5), shape=(2, 3, 1))
    assert out.shape == (2, 3, 1)
    assert out.dtype == F32
    assert (out == 2.5).all()
    assert run_and_infer(initvalues=np.array(7), shape=()).shape == ()
    assert run_and_infer(initvalues=np.array(7), shape=(0, 4)).shape == (0, 4)


def test_big_fill_infers_without_allocating() -> None:
    info = infer(initvalues=literal(np.array(1.0)), shape=literal((1000, 1000, 10)))
    assert info.shape == (1000, 1000, 10)
    assert info.dtype == F32
    assert info.value is None  # too big to carry as a known value


@pytest.mark.parametrize(
    ("values", "shape", "fragment"),
    [
        (np.arange(6), (4, 2), "cannot reshape 6 values (shape [6]) to [4, 2]"),
        (np.arange(6), (-1, 3), "negative dims"),
        (np.array(1.0), (2, -2), "negative dims"),
    ],
)
def test_bad_shapes(values: np.ndarray, shape: tuple[int, ...], fragment: str) -> None:
    for call in (
        lambda: run(initvalues=values, shape=shape),
        lambda: infer(initvalues=literal(values), shape=literal(shape)),
    ):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert info.value.port == "shape"
        assert fragment in info.value.reason


def test_fill_beyond_the_memory_limit() -> None:
    for call in (
        lambda: run(initvalues=np.array(1.0), shape=(1 << 20, 1 << 20), memory_limit=1 << 30),
        lambda: infer(
            initvalues=literal(np.array(1.0)),
            shape=literal((1 << 20, 1 << 20)),
            memory_limit=1 << 30,
        ),
        lambda: run(initvalues=np.array(1.0), shape=(1 << 40, 1 << 40, 1 << 40)),
    ):
        with pytest.raises(MemoryLimitError, match="memory limit"):
            call()


@pytest.mark.parametrize(
    ("values", "dtype", "fragment"),
    [
        (np.array([1 + 2j]), np.float32, "cannot convert complex values to float32"),
        (np.array([np.nan]), np.int32, "NaN or infinite"),
        (np.array([np.inf], np.float32), np.uint8, "NaN or infinite"),
        (np.array([300]), np.uint8, "value 300 is out of range for uint8"),
        (np.array([-1.0]), np.uint16, "value -1 is out of range for uint16"),
        (np.array([3e9]), np.int32, "out of range for int32"),
        (np.array([70000]), np.float16, "value 70000 is out of range for float16"),
        (np.array([1e300]), np.float32, "out of range for float32 (it would be infinity)"),
        # An integer type wider than float16's range is still checked value by value.
        (np.array([1, 65535], np.uint16), np.float16, "value 65535 is out of range for float16"),
        (np.array([1e300 + 1j]), np.complex64, "out of range for complex64"),
    ],
)
def test_casts_that_would_lose_values_are_refused(
    values: np.ndarray, dtype: Any, fragment: str
) -> None:
    for call in (
        lambda: run(initvalues=values, dtype=np.dtype(dtype)),
        lambda: infer(initvalues=literal(values), dtype=literal(np.dtype(dtype))),
    ):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert info.value.port == "dtype"
        assert fragment in info.value.reason


def test_integer_images_cast_to_floats_that_hold_them_exactly() -> None:
    # uint8 and int16 images fit float32 and float16 without a check value by value.
    pixels = np.array([[0, 7, 255]], np.uint8)
    np.testing.assert_array_equal(run(initvalues=pixels, dtype=np.dtype(np.float32)),
                                  pixels.astype(np.float32))
    wide = np.array([-32768, 32767], np.int16)
    assert run(initvalues=wide, dtype=np.dtype(np.float16)).tolist() == [-32768.0, 32768.0]


def test_float_to_int_truncates_like_tensorflow_cast() -> None:
    out = run_and_infer(initvalues=np.array([1.9, -1.9, 255.5]), dtype=np.dtype(np.int16))
    np.testing.assert_array_equal(out, [1, -1, 255])


def test_wired_initvalues_infer_from_the_wire_shape() -> None:
    wire = TensorInfo((2, 3), np.dtype(np.int32))
    assert infer(initvalues=wire) == TensorInfo((2, 3), F32)
    assert infer(initvalues=wire, shape=literal((3, 2))) == TensorInfo((3, 2), F32)
    assert infer(initvalues=TensorInfo((None, 3), F32), shape=literal((3, 2))).shape == (3, 2)
    with pytest.raises(InvalidArgumentError, match="cannot reshape 6 values"):
        infer(initvalues=wire, shape=literal((4,)))
    with pytest.raises(InvalidArgumentError, match="complex"):
        infer(initvalues=TensorInfo((2,), np.dtype(np.complex64)))


def test_nothing_set() -> None:
    assert infer() == TensorInfo(None, F32)
    with pytest.raises(InvalidArgumentError, match="exactly one of 'initvalues' or 'file'"):
        run()


# ----------------------------------------------------------------------------- check_inputs


@pytest.mark.parametrize(
    ("is_set", "problems"),
    [
        ({"initvalues": True}, []),
        ({"file": True}, []),
        ({"initvalues": True, "file": False, "shape": True, "dtype": True}, []),
        ({}, [("initvalues", "set exactly one of 'initvalues' or 'file'")]),
        (
            {"initvalues": False, "file": False},
            [("initvalues", "set exactly one of 'initvalues' or 'file'")],
        ),
        (
            {"initvalues": True, "file": True},
            [("file", "set exactly one of 'initvalues' or 'file', not both")],
        ),
    ],
)
def test_check_inputs_rule(is_set: dict[str, bool], problems: list[tuple[str, str]]) -> None:
    assert INPUT.check_inputs is not None
    assert INPUT.check_inputs(is_set) == problems


# ----------------------------------------------------------------------------- files


def test_npy_file_cast_and_reshape(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(12, dtype=np.int64).reshape(3, 4))
    out = run_and_infer(tmp_path, file="a.npy")
    assert out.shape == (3, 4) and out.dtype == F32
    out = run_and_infer(tmp_path, file="a.npy", dtype=np.dtype(np.int16), shape=(2, 6))
    assert out.shape == (2, 6) and out.dtype == np.int16
    np.testing.assert_array_equal(out.reshape(-1), np.arange(12))


def test_npz_file(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", offsets=np.array([[0.5, -0.5]], np.float64), size=np.array([8, 8]))
    offsets = run_and_infer(tmp_path, file="d.npz:offsets")
    assert offsets.dtype == F32
    np.testing.assert_array_equal(offsets, [[0.5, -0.5]])
    size = run_and_infer(tmp_path, file="d.npz:size", dtype=np.dtype(np.int32))
    assert size.dtype == np.int32
    with pytest.raises(BlockFileError, match="size"):
        run(tmp_path, file="d.npz:sizes")
    with pytest.raises(BlockFileError, match="offsets, size"):
        infer(tmp_path, file=literal("d.npz:sizes"))


def test_scalar_file_fills_the_shape(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.array(3, np.uint8))
    out = run_and_infer(tmp_path, file="s.npy", shape=(2, 2))
    np.testing.assert_array_equal(out, np.full((2, 2), 3, np.float32))


def test_image_files(tmp_path: Path) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(tmp_path / "photo.png")
    Image.fromarray(pixels, "RGB").save(tmp_path / "photo.bmp")
    Image.fromarray(pixels[:, :, 0], "L").save(tmp_path / "grey.png")
    Image.fromarray(pixels, "RGB").save(tmp_path / "photo.jpg", quality=95)
    for name in ("photo.png", "photo.bmp"):
        out = run_and_infer(tmp_path, file=name)
        assert out.shape == (1, 6, 7, 3) and out.dtype == F32
        np.testing.assert_array_equal(out[0], pixels.astype(np.float32))
    raw = run_and_infer(tmp_path, file="photo.png", dtype=np.dtype(np.uint8))
    np.testing.assert_array_equal(raw[0], pixels)
    assert run_and_infer(tmp_path, file="grey.png").shape == (1, 6, 7, 1)
    jpeg = run_and_infer(tmp_path, file="photo.jpg", dtype=np.dtype(np.uint8))
    assert jpeg.shape == (1, 6, 7, 3)
    with Image.open(tmp_path / "photo.jpg") as decoded:
        np.testing.assert_array_equal(jpeg[0], np.asarray(decoded))  # Pillow's own decoding


def test_complex_file_to_real_dtype_refused_in_infer_too(tmp_path: Path) -> None:
    np.save(tmp_path / "c.npy", np.array([1 + 1j], np.complex64))
    with pytest.raises(InvalidArgumentError, match="complex"):
        run(tmp_path, file="c.npy")
    with pytest.raises(InvalidArgumentError, match="complex"):
        infer(tmp_path, file=literal("c.npy"))
    out = run_and_infer(tmp_path, file="c.npy", dtype=np.dtype(np.complex128))
    assert out.dtype == np.complex128


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BlockFileError) as info:
        run(tmp_path, file="gone.npy")
    assert info.value.port == "file"
    with pytest.raises(BlockFileError):
        infer(tmp_path, file=literal("gone.npy"))


def test_file_shape_mismatch(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 3)))
    with pytest.raises(
        InvalidArgumentError, match=r"cannot reshape 6 values \(shape \[2, 3\]\) to \[5\]"
    ):
        infer(tmp_path, file=literal("a.npy"), shape=literal((5,)))
    with pytest.raises(InvalidArgumentError, match="cannot reshape 6 values"):
        run(tmp_path, file="a.npy", shape=(5,))


def test_file_beyond_the_memory_limit_is_refused_before_reading(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((64, 64), np.uint8))
    for call in (
        lambda: run(tmp_path, memory_limit=4096, file="a.npy"),  # 16 KiB as float32
        lambda: infer(tmp_path, memory_limit=4096, file=literal("a.npy")),
    ):
        with pytest.raises(MemoryLimitError) as info:
            call()
        assert info.value.port == "file"
        # Sized from the file's own dtype, plus the float32 copy and the cast's scratch.
        assert "[64, 64] uint8 values and converting them to float32" in info.value.reason
        assert "4096 bytes" in info.value.reason
    assert run(tmp_path, memory_limit=4096, file="a.npy", dtype=np.dtype(np.uint8)).shape == (
        64,
        64,
    )


def test_non_finite_floats_stay_non_finite_in_narrower_floats() -> None:
    values = np.array([np.inf, -np.inf, np.nan, -0.0, 65504.0])
    out = run_and_infer(initvalues=values, dtype=np.dtype(np.float16))
    assert np.isposinf(out[0]) and np.isneginf(out[1]) and np.isnan(out[2])
    assert np.signbit(out[3]) and out[4] == 65504
