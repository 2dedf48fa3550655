"""Make the ExtractImagePatches fixtures with TensorFlow (the ``oracle`` extra).

``main(out_dir)`` runs every case below through TensorFlow 2.21's ExtractImagePatches
op and writes ``out_dir/manifest.json`` plus one ``out_dir/patches.npz`` holding, per
case ``<id>``, the input ``<id>.images`` and (value cases) the output ``<id>.expected``.
bfloat16 arrays are stored as their uint16 bit patterns (``"storage":
"bfloat16_bits_as_uint16"``); every other array in its own dtype. The npz is written
with fixed timestamps, so regenerating gives the same bytes.

Value cases cover every dtype, both paddings with strides and rates, stride > k, odd
pad totals, dilated columns of every phase pattern, 1x1 and empty shapes (batch 0, C 0,
H or W 0, VALID outputs that are empty without being negative) and special floats
(NaN with payloads and signs, infinities, -0.0, subnormals). Error cases record TF's
exception type and message (eager mode; ``"mode": "graph"`` where eager TF accepts the
input and only its shape function refuses it, e.g. 5 ksizes), plus the ``port`` our
kernel names. Tests replay all of it without TensorFlow.

Run it through ``python tools/make_golden.py`` (which regenerates every fixture).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEED = 20260521
NPZ_NAME = "patches.npz"

# ----------------------------------------------------------------------------- inputs


def _bits(dtype: str, patterns: list[int]) -> np.ndarray:
    unsigned = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32,
                "float64": np.uint64}[dtype]
    return np.array(patterns, dtype=unsigned)


# Special values by bit pattern: NaNs with payloads and both signs, a signalling NaN,
# +-inf, -0.0, the smallest subnormal and the largest finite value.
_SPECIAL_BITS: dict[str, list[int]] = {
    "float16": [0x7E00, 0xFE00, 0x7E01, 0x7C01, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x7BFF],
    "bfloat16": [0x7FC0, 0xFFC0, 0x7FC1, 0x7F81, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x7F7F],
    "float32": [0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7F800001, 0x7F800000, 0xFF800000,
                0x80000000, 0x00000001, 0x7F7FFFFF],
    "float64": [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF8000000000001,
                0x7FF0000000000001, 0x7FF0000000000000, 0xFFF0000000000000,
                0x8000000000000000, 0x0000000000000001, 0x7FEFFFFFFFFFFFFF],
}


def _bfloat16() -> Any:
    import ml_dtypes

    return ml_dtypes.bfloat16


def make_images(
    shape: list[int], dtype: str, rng: np.random.Generator, special: bool
) -> np.ndarray:
    """Distinct values (so misplaced taps show), extremes, and special floats if asked."""
    size = int(np.prod(shape))
    if dtype in ("float16", "bfloat16", "float32", "float64"):
        values = (rng.standard_normal(size) * 50).astype(np.float64)
        if dtype == "bfloat16":
            array = values.astype(np.float32).astype(_bfloat16())
        else:
            array = values.astype(dtype)
        if special and size:
            specials = _bits(dtype, _SPECIAL_BITS[dtype])
            where = rng.choice(size, size=min(size, 2 * len(specials)), replace=False)
            flat = array.view(specials.dtype).reshape(-1)
            flat[where] = np.resize(specials, len(where))
        return array.reshape(shape)
    if dtype in ("complex64", "complex128"):
        part = "float32" if dtype == "complex64" else "float64"
        pair = np.stack(
            [make_images([size], part, rng, special), make_images([size], part, rng, special)],
            axis=-1,
        )
        return np.ascontiguousarray(pair).view(dtype).reshape(shape)
    info = np.iinfo(dtype)
    array = rng.integers(info.min, info.max, size=size, dtype=dtype, endpoint=True)
    if size >= 2:
        array[:2] = [info.min, info.max]
    return array.reshape(shape)


# ----------------------------------------------------------------------------- cases


def _case(case_id: str, shape: list[int], k: Any, s: Any = (1, 1), r: Any = (1, 1),
          padding: Any = "SAME", dtype: str = "float32", *, special: bool = False,
          tags: tuple[str, ...] = (), port: str | None = None, mode: str = "eager",
          full: bool = False, as_python_list: bool = False,
          bytes_padding: bool = False) -> dict[str, Any]:
    """A case; ``k``/``s``/``r`` are (rows, cols) unless ``full`` (then the whole attr)."""

    def attr(pair: Any) -> list[int]:
        return list(pair) if full else [1, pair[0], pair[1], 1]

    return {
        "id": case_id,
        "shape": shape,
        "dtype": dtype,
        "attrs": {"ksizes": attr(k), "strides": attr(s), "rates": attr(r), "padding": padding},
        "special": special,
        "tags": list(tags),
        "port": port,
        "mode": mode,
        "as_python_list": as_python_list,
        "bytes_padding": bytes_padding,
    }


def cases() -> list[dict[str, Any]]:
    """Every fixture case: values, errors, then TensorFlow's argument conversions."""
    value = [
        _case("v_f32_k3_same_b2c3", [2, 7, 8, 3], (3, 3), tags=("odd_k", "batch>1")),
        _case("v_f32_k3_valid_b2c3", [2, 7, 8, 3], (3, 3), padding="VALID"),
        _case("v_f32_k2s2_same_odd_size", [1, 9, 10, 1], (2, 2), (2, 2)),
        _case("v_f32_k2_same_pad_total_1", [1, 6, 6, 1], (2, 2), tags=("odd_pad_total",)),
        _case("v_f32_k4r2_same_odd_pad_total", [1, 8, 7, 3], (4, 4), r=(2, 2),
              tags=("odd_pad_total", "rates")),
        _case("v_f32_k3x2_s1x2_r2_same_c5", [1, 9, 10, 5], (3, 2), (1, 2), (2, 2)),
        _case("v_f32_k2_s3_valid_stride_gt_k", [3, 11, 9, 3], (2, 2), (3, 3), padding="VALID"),
        _case("v_f32_k2_s3x4_same_stride_gt_k", [2, 10, 7, 1], (2, 2), (3, 4)),
        _case("v_f32_k5x1_s1x2_r1x3_same", [1, 8, 9, 2], (5, 1), (1, 2), (1, 3)),
        _case("v_f32_k3_s1_r2_same_two_phases", [2, 9, 11, 2], (3, 3), (1, 1), (2, 2)),
        _case("v_f32_k3_s2_r3_same_three_phases", [1, 11, 13, 2], (3, 3), (2, 2), (3, 3)),
        _case("v_f32_k2x3_s3_r2_valid", [2, 12, 13, 3], (2, 3), (3, 3), (2, 2), "VALID"),
        _case("v_f32_k3_s4_r2_valid_reduced", [1, 17, 18, 3], (3, 3), (4, 4), (2, 2), "VALID"),
        _case("v_f32_k3_s2_r2_same", [1, 17, 19, 3], (3, 3), (2, 2), (2, 2)),
        _case("v_f32_k2_r6_same_rate_beyond_image", [1, 4, 5, 1], (2, 2), r=(6, 6)),
        _case("v_f32_k5_same_kernel_beyond_image", [1, 3, 2, 2], (5, 5), (2, 1)),
        _case("v_f32_1x1_k1_valid", [1, 1, 1, 1], (1, 1), padding="VALID", tags=("tiny",)),
        _case("v_f32_1x1_k3_same", [1, 1, 1, 3], (3, 3), tags=("tiny",)),
        _case("v_f32_1x1_k2_s2_r3_same", [2, 1, 1, 5], (2, 2), (2, 2), (3, 3), tags=("tiny",)),
        _case("v_f32_valid_empty_k3_s3_r3", [1, 5, 5, 2], (3, 3), (3, 3), (3, 3), "VALID",
              tags=("empty",)),
        _case("v_f32_valid_empty_truncated_division", [1, 9, 4, 1], (4, 7), (2, 2),
              padding="VALID", tags=("empty",)),
        _case("v_f32_batch0_same", [0, 4, 4, 3], (2, 2), tags=("empty",)),
        _case("v_f32_c0_same", [1, 5, 5, 0], (3, 3), tags=("empty",)),
        _case("v_f32_c0_valid", [2, 5, 5, 0], (3, 3), padding="VALID", tags=("empty",)),
        _case("v_f32_h0_same", [1, 0, 5, 2], (2, 2), tags=("empty",)),
        _case("v_f32_w0_same", [2, 3, 0, 1], (2, 2), tags=("empty",)),
        _case("v_f32_h0_valid_k1", [1, 0, 5, 2], (1, 1), padding="VALID", tags=("empty",)),
    ]
    dtypes = ["float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
              "uint8", "uint16", "uint32", "uint64", "complex64", "complex128"]
    for index, dtype in enumerate(dtypes):
        padding = "SAME" if index % 2 == 0 else "VALID"
        value.append(_case(f"v_{dtype}_k3_s2_r1_{padding.lower()}", [2, 6, 7, 3], (3, 3),
                           (2, 2), (1, 1), padding, dtype, special=True, tags=("dtype",)))
        value.append(_case(f"v_{dtype}_k2_s1_r2_{'valid' if index % 2 == 0 else 'same'}",
                           [1, 6, 5, 2], (2, 2), (1, 1), (2, 2),
                           "VALID" if index % 2 == 0 else "SAME", dtype, special=True,
                           tags=("dtype", "rates")))
    error = [
        _case("e_ksizes_batch_not_1", [1, 5, 5, 2], [2, 2, 2, 1], full=True, port="ksizes",
              s=[1, 1, 1, 1], r=[1, 1, 1, 1]),
        _case("e_ksizes_depth_not_1", [1, 5, 5, 2], [1, 2, 2, 2], [1, 1, 1, 1], [1, 1, 1, 1],
              full=True, port="ksizes"),
        _case("e_ksizes_zero", [1, 5, 5, 2], (0, 2), port="ksizes"),
        _case("e_ksizes_negative", [1, 5, 5, 2], (2, -3), port="ksizes"),
        _case("e_strides_zero", [1, 5, 5, 2], (2, 2), (0, 1), port="strides"),
        _case("e_strides_batch_not_1", [1, 5, 5, 2], [1, 2, 2, 1], [2, 1, 1, 1], [1, 1, 1, 1],
              full=True, port="strides"),
        _case("e_rates_zero", [1, 5, 5, 2], (2, 2), (1, 1), (1, 0), port="rates"),
        _case("e_rates_depth_not_1", [1, 5, 5, 2], [1, 2, 2, 1], [1, 1, 1, 1], [1, 1, 1, 2],
              full=True, port="rates"),
        _case("e_order_ksizes_range_before_strides", [1, 5, 5, 2], [1, 0, 2, 1], [2, 1, 1, 1],
              [1, 1, 1, 1], full=True, port="ksizes"),
        _case("e_order_strides_before_rates", [1, 5, 5, 2], [1, 2, 2, 1], [2, 1, 1, 1],
              [2, 1, 1, 1], full=True, port="strides"),
        _case("e_ksizes_length_3", [1, 5, 5, 2], [1, 2, 2], [1, 1, 1, 1], [1, 1, 1, 1],
              full=True, port="ksizes"),
        _case("e_strides_length_3", [1, 5, 5, 2], [1, 2, 2, 1], [1, 1, 1], [1, 1, 1, 1],
              full=True, port="strides"),
        _case("e_rates_length_2", [1, 5, 5, 2], [1, 2, 2, 1], [1, 1, 1, 1], [1, 1],
              full=True, port="rates"),
        _case("e_order_length_before_elements", [1, 5, 5, 2], [2, 2, 2, 1], [1, 1, 1], [1, 1, 1, 1],
              full=True, port="strides"),
        # Length and padding faults together are left out: which one TF reports depends
        # on its attr caches (tests/test_patches.py pins our order, the fresh-process one).
        _case("e_order_length_before_bool", [1, 5, 5, 2], [1, 2, 2], [1, 1, 1, 1],
              [1, 1, 1, 1], dtype="bool", full=True, port="ksizes"),
        _case("e_ksizes_length_5", [1, 5, 5, 2], [1, 2, 2, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1],
              full=True, port="ksizes", mode="graph"),
        _case("e_strides_length_5", [1, 5, 5, 2], [1, 2, 2, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1],
              full=True, port="strides", mode="graph"),
        _case("e_rates_length_5", [1, 5, 5, 2], [1, 2, 2, 1], [1, 1, 1, 1], [1, 1, 1, 1, 1],
              full=True, port="rates", mode="graph"),
        _case("e_ksizes_beyond_int32", [1, 5, 5, 2], (2**31, 2), port="ksizes"),
        _case("e_padding_lower_case", [1, 5, 5, 2], (2, 2), padding="same", port="padding"),
        _case("e_padding_empty", [1, 5, 5, 2], (2, 2), padding="", port="padding"),
        _case("e_padding_explicit", [1, 5, 5, 2], (2, 2), padding="EXPLICIT", port="padding"),
        _case("e_padding_trailing_space", [1, 5, 5, 2], (2, 2), padding="VALID ", port="padding"),
        _case("e_order_padding_before_elements", [1, 5, 5, 2], [2, 2, 2, 1], [1, 1, 1, 1],
              [1, 1, 1, 1], "same", full=True, port="padding"),
        _case("e_order_padding_before_rank", [5, 5, 2], (2, 2), padding="valid", port="padding"),
        _case("e_bool", [1, 3, 3, 1], (2, 2), dtype="bool", port="images"),
        _case("e_order_bool_before_elements", [1, 3, 3, 1], [2, 2, 2, 1], [1, 1, 1, 1],
              [1, 1, 1, 1], dtype="bool", full=True, port="images"),
        _case("e_order_padding_before_bool", [1, 3, 3, 1], (2, 2), padding="x", dtype="bool",
              port="padding"),
        _case("e_string_dtype", [1, 1, 1, 1], (1, 1), dtype="str", port="images"),
        _case("e_rank3", [5, 5, 2], (2, 2), port="images"),
        _case("e_rank5", [1, 5, 5, 2, 1], (2, 2), port="images"),
        _case("e_rank0", [], (2, 2), port="images"),
        _case("e_order_elements_before_rank", [5, 5, 2], [2, 2, 2, 1], [1, 1, 1, 1],
              [1, 1, 1, 1], full=True, port="ksizes"),
        _case("e_valid_negative_rows", [1, 5, 5, 2], (5, 5), (2, 2), (2, 2), "VALID",
              port="ksizes"),
        _case("e_valid_negative_cols_only", [1, 20, 5, 2], (5, 5), (2, 2), (2, 2), "VALID",
              port="ksizes"),
        _case("e_valid_negative_h0", [1, 0, 5, 2], (2, 2), padding="VALID", port="ksizes"),
        _case("e_valid_negative_batch0", [0, 5, 5, 2], (5, 5), (2, 2), (2, 2), "VALID",
              port="ksizes"),
        _case("e_valid_negative_huge_k", [1, 5, 5, 2], (2**31 - 1, 2), padding="VALID",
              port="ksizes"),
    ]
    conversion = [
        # How TensorFlow takes its arguments: Python lists and bytes.
        _case("v_list_ints_to_int32", [2, 5, 4, 2], (2, 2), dtype="list_int",
              as_python_list=True, tags=("conversion",)),
        _case("v_list_big_ints_to_int64", [1, 4, 4, 1], (2, 2), padding="VALID",
              dtype="list_big_int", as_python_list=True, tags=("conversion",)),
        _case("v_list_floats_to_float32", [1, 5, 6, 3], (3, 2), (2, 1), dtype="list_float",
              as_python_list=True, tags=("conversion",)),
        _case("v_bytes_padding_valid", [1, 6, 6, 2], (3, 3), padding="VALID",
              bytes_padding=True, tags=("conversion",)),
        _case("v_bytes_padding_same", [2, 5, 7, 1], (2, 3), (2, 2), padding="SAME",
              bytes_padding=True, tags=("conversion",)),
    ]
    return value + error + conversion  # last, so the other cases' random inputs stay put


# ----------------------------------------------------------------------------- TensorFlow


def _clean_message(message: str) -> str:
    """TF's message without the op-location decorations around it."""
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    message = message.split("\n\t; NodeDef")[0]
    message = re.sub(r"\s*\[Op:ExtractImagePatches\]( name: \S*)?\s*$", "", message)
    if "ValueError: " in message:  # graph mode: keep the shape function's own words
        message = message.split("ValueError: ")[-1]
    message = message.split(" for '{{node")[0]
    return message.strip()


def call_arguments(case: dict[str, Any], images: np.ndarray) -> tuple[Any, Any]:
    """``(images, padding)`` as the case passes them: a Python list, bytes."""
    padding = case["attrs"]["padding"]
    return (
        images.tolist() if case.get("as_python_list") else images,
        padding.encode() if case.get("bytes_padding") else padding,
    )


def _run_tf(case: dict[str, Any], images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    attrs, mode = case["attrs"], case["mode"]
    values, padding = call_arguments(case, images)

    def call(x: Any) -> Any:
        return tf.raw_ops.ExtractImagePatches(
            images=x, ksizes=attrs["ksizes"], strides=attrs["strides"], rates=attrs["rates"],
            padding=padding,
        )

    if case.get("as_python_list"):
        return np.asarray(call(values))

    if mode == "graph":
        return np.asarray(tf.function(call)(images))
    return np.asarray(call(images))


def _storable(array: np.ndarray, dtype: str) -> tuple[np.ndarray, str | None]:
    if dtype == "bfloat16":
        return array.view(np.uint16), "bfloat16_bits_as_uint16"
    return array, None


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz (np.load-able, no pickles) with fixed timestamps, so bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.array(arrays[name], order="C"),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def main(out_dir: Path) -> None:
    """Regenerate ``out_dir/manifest.json`` and ``out_dir/patches.npz`` with TensorFlow."""
    import tensorflow as tf

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {}
    entries: list[dict[str, Any]] = []
    for case in cases():
        dtype = case["dtype"]
        if dtype == "str":
            images = np.full(case["shape"], "a", dtype="<U1")
        elif dtype == "bool":
            images = rng.random(case["shape"]) < 0.5
        elif dtype == "list_int":  # stored as int64; passed as a list of Python ints
            images = rng.integers(-1000, 1000, case["shape"])
        elif dtype == "list_big_int":
            images = rng.integers(-1000, 1000, case["shape"])
            flat = images.reshape(-1)  # a view: every third value needs int64
            flat[::3] = 2**40 + np.arange(0, flat.size, 3)
        elif dtype == "list_float":  # stored as float64; passed as a list of Python floats
            images = rng.standard_normal(case["shape"]) * 1000
        else:
            images = make_images(case["shape"], dtype, rng, case["special"])
        stored, storage = _storable(images, dtype)
        arrays[f"{case['id']}.images"] = stored
        entry: dict[str, Any] = {
            "id": case["id"],
            "attrs": case["attrs"],
            "tags": case["tags"],
            "images": {"dtype": str(images.dtype) if case["as_python_list"] else dtype,
                       "shape": case["shape"], "storage": storage},
        }
        for flag in ("as_python_list", "bytes_padding"):
            if case[flag]:
                entry[flag] = True
        try:
            expected = _run_tf(case, images)
        except Exception as error:  # TF's error is the expected result here
            if case["port"] is None:
                raise RuntimeError(f"{case['id']}: TF refused a value case: {error}") from error
            entry["kind"] = "error"
            entry["error"] = {
                "tf_type": type(error).__name__,
                "tf_message": _clean_message(str(error)),
                "tf_mode": case["mode"],
                "port": case["port"],
            }
        else:
            if case["port"] is not None:
                raise RuntimeError(f"{case['id']}: TensorFlow accepted an error case")
            entry["kind"] = "value"
            stored_out, storage_out = _storable(expected, dtype)
            arrays[f"{case['id']}.expected"] = stored_out
            entry["expected"] = {"dtype": str(expected.dtype), "shape": list(expected.shape),
                                 "storage": storage_out}
        entries.append(entry)
    write_fixture_set(out_dir, NPZ_NAME, arrays, entries, generator="tools/golden_patches.py",
                      tensorflow_version=tf.__version__, seed=SEED,
                      head={"op": "ExtractImagePatches"})
    print(f"patches: {len(entries)} cases -> {out_dir}", file=sys.stderr)


def write_fixture_set(
    out_dir: Path, npz_name: str, arrays: dict[str, np.ndarray], entries: list[dict[str, Any]],
    *, generator: str, tensorflow_version: str, seed: int, head: dict[str, Any] | None = None,
) -> None:
    """Write ``arrays`` (``npz_name``) and the manifest of ``entries`` beside them, as every
    fixture set is written (the tests check the arrays' sha256 from the manifest)."""
    npz_path = out_dir / npz_name
    _write_npz(npz_path, arrays)
    manifest = {
        **(head or {}),
        "generator": f"{generator} (via tools/make_golden.py)",
        "tensorflow_version": tensorflow_version,
        "numpy_version": np.__version__,
        "seed": seed,
        "arrays": npz_name,
        "arrays_sha256": hashlib.sha256(npz_path.read_bytes()).hexdigest(),
        "n_value_cases": sum(e["kind"] == "value" for e in entries),
        "n_error_cases": sum(e["kind"] == "error" for e in entries),
        "cases": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "patches")
