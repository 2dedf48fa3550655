"""Write the ExtractGlimpse / ExtractGlimpseV2 fixtures by running TensorFlow 2.21.

Contract: ``main(out_dir)`` writes ``out_dir/manifest.json`` and ``out_dir/glimpse.npz``
(every array of every case, keyed ``"<case id>__<name>"``). Run it with the project's
``oracle`` extra installed (``pip install -e .[oracle]``), either through
``tools/make_golden.py`` or on its own: ``python tools/golden_glimpse.py [out_dir]``.

Three kinds of case, all computed by ``tf.raw_ops.ExtractGlimpse`` / ``ExtractGlimpseV2``
in eager mode:

* ``value``: deterministic outputs (zero fill, windows fully inside, empty outputs,
  empty images whose fill is NaN), stored as ``expected``;
* ``error``: TensorFlow's message (the text between the function-node prefix and the
  ``[Op:...]`` suffix), plus the port or attr TensorBlocks names;
* ``noise``: TensorFlow's noise is not reproducible, so the case stores the input, the
  in-image part (``expected_in_image``, 0 where filled), the fill mask (found by a
  zero-fill run of the same window on an input without zeros) and, per image and
  channel, statistics of the fill over several TensorFlow draws (NaN fill counted
  apart).

Inputs come from a fixed numpy seed, so value and error cases regenerate identically.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20240521
NOISE_DRAWS = 8
OPS = {"ExtractGlimpse": "ExtractGlimpse", "ExtractGlimpseV2": "ExtractGlimpseV2"}
V1, V2 = "ExtractGlimpse", "ExtractGlimpseV2"
ZERO: dict[str, Any] = {"uniform_noise": False, "noise": "zero"}

Case = dict[str, Any]


def _attrs(
    centered: bool | None = True, normalized: bool | None = True, **fill: Any
) -> dict[str, Any]:
    attrs: dict[str, Any] = {"centered": centered, "normalized": normalized}
    attrs.update(uniform_noise=True, noise="uniform")
    attrs.update(fill)
    return attrs


def _coded_image(batch: int, height: int, width: int, channels: int) -> np.ndarray:
    """Values that name their position (b*1e6 + row*1e3 + col*10 + ch + 1), never zero."""
    b, r, c, ch = np.meshgrid(
        np.arange(batch), np.arange(height), np.arange(width), np.arange(channels), indexing="ij"
    )
    return (b * 1_000_000 + r * 1000 + c * 10 + ch + 1).astype(np.float32)


def _f32(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _size(h: int, w: int) -> np.ndarray:
    return np.asarray([h, w], dtype=np.int32)


def _value_cases(rng: np.random.Generator) -> list[Case]:
    img = _coded_image(3, 10, 12, 3)
    cases: list[Case] = []

    def add(case_id: str, op: str, attrs: dict[str, Any], image: np.ndarray, size: np.ndarray,
            offsets: np.ndarray, note: str) -> None:
        cases.append({"id": case_id, "op": op, "kind": "value", "attrs": attrs, "note": note,
                      "arrays": {"input": image, "size": size, "offsets": offsets}})

    # The four modes of each version, each with a window inside, one partial, one far out.
    mode_offsets = {
        (True, True): _f32([[0.1, -0.2], [0.9, -0.95], [3.0, 0.0]]),
        (False, True): _f32([[0.3, 0.4], [0.95, 0.05], [-2.0, 0.5]]),
        (True, False): _f32([[1.0, -2.0], [-9.0, 11.0], [40.0, -60.0]]),
        (False, False): _f32([[2.0, 3.0], [8.5, -1.5], [-30.0, 2.0]]),
    }
    for op, tag in ((V1, "v1"), (V2, "v2")):
        for (centered, normalized), offsets in mode_offsets.items():
            mode = f"c{int(centered)}n{int(normalized)}"
            add(f"{tag}_zero_{mode}_mixed", op, _attrs(centered, normalized, **ZERO), img,
                _size(4, 5), offsets, "inside / partial / far outside, zero fill")
        add(f"{tag}_trunc_toward_zero", op, _attrs(False, False, **ZERO), img, _size(3, 4),
            _f32([[-0.5, -2.5], [-1.7, 0.9], [-3.99, -0.01]]),
            "negative fractional tops truncate toward zero")
        add(f"{tag}_f32_rounding", op, _attrs(False, True, **ZERO), _coded_image(2, 10, 10, 1),
            _size(4, 4), _f32([[0.7, 0.7], [0.3, 0.9]]),
            "float32(0.7)*10 is exactly 7.0 in float32 (the exact product would truncate to 6)")
        add(f"{tag}_nonfinite_offsets", op, _attrs(False, False, **ZERO),
            _coded_image(7, 6, 7, 2), _size(3, 3),
            _f32([[np.nan, 1.0], [1.0, np.inf], [-np.inf, 0.0], [1e30, 1.0],
                  [9.3e18, 0.0], [-9.3e18, 1.0], [1.0, 2.0]]),
            "NaN, inf, |v| >= 2^63 make the whole glimpse fill; the last image is normal")
        add(f"{tag}_huge_normalized", op, _attrs(True, True, **ZERO), img, _size(2, 2),
            _f32([[1e18, 0.0], [0.0, -1e37], [0.5, 0.5]]),
            "normalized offsets so large the float32 product overflows")
        add(f"{tag}_size_gt_image", op, _attrs(True, True, **ZERO), _coded_image(1, 4, 5, 2),
            _size(7, 9), _f32([[0.0, 0.0]]), "window larger than the image on both sides")
        add(f"{tag}_size0_h", op, _attrs(True, True, **ZERO), img, _size(0, 3),
            _f32(np.zeros((3, 2))), "size 0 gives an empty output")
        add(f"{tag}_size0_w", op, _attrs(), img, _size(2, 0), _f32(np.zeros((3, 2))),
            "size 0 with noise: empty output, no error")
        add(f"{tag}_batch0", op, _attrs(), np.zeros((0, 5, 6, 3), np.float32), _size(3, 3),
            np.zeros((0, 2), np.float32), "batch 0")
        add(f"{tag}_channels0", op, _attrs(), np.zeros((2, 5, 6, 0), np.float32), _size(3, 3),
            _f32([[0.0, 0.0], [2.0, 2.0]]), "zero channels")
        add(f"{tag}_empty_image_zero", op, _attrs(**ZERO), np.zeros((2, 0, 6, 3), np.float32),
            _size(2, 3), _f32([[0.0, 0.0], [0.5, 0.5]]), "H = 0 with zero fill gives 0")
        add(f"{tag}_empty_image_uniform", op, _attrs(), np.zeros((1, 4, 0, 2), np.float32),
            _size(2, 2), _f32([[0.0, 0.0]]), "W = 0 with uniform noise gives NaN")
        add(f"{tag}_empty_image_gaussian", op, _attrs(uniform_noise=False, noise="gaussian"),
            np.zeros((1, 0, 0, 2), np.float32), _size(2, 3), _f32([[0.0, 0.0]]),
            "empty image with gaussian noise gives NaN")
        # V1 uncentred pixel offsets are the window's centre, V2's its top-left corner.
        edge = [[8.5, 9.5], [1.5, 2.5], [1.5, 9.5]] if op == V1 else [[7, 7], [0, 0], [0, 7]]
        add(f"{tag}_touches_edge", op, _attrs(False, False), img, _size(3, 5), _f32(edge),
            "windows ending exactly on the bottom/right edge are inside (noise never shows)")
    # Defaults with windows inside: deterministic even though the fill is noise.
    add("v1_default_inside", V1, _attrs(), img, _size(4, 5),
        _f32([[0.1, -0.1], [-0.3, 0.2], [0.0, 0.0]]), "V1 defaults, windows inside")
    add("v2_default_inside", V2, _attrs(uniform_noise=False), img, _size(4, 4),
        _f32([[0.2, 0.1], [-0.2, -0.3], [0.0, 0.0]]),
        "tf.image.extract_glimpse defaults, windows inside")
    add("v1_c1n0_halves_pixels", V1, _attrs(True, False), img, _size(3, 3),
        _f32([[4.0, -6.0], [-4.0, 8.0], [1.0, 1.0]]), "V1 halves unnormalized centred offsets")
    # Random cases: odd shapes, random attrs and offsets, zero fill.
    for index in range(8):
        op = V1 if index % 2 == 0 else V2
        batch = int(rng.integers(1, 4))
        image = rng.standard_normal(
            (batch, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 4)))
        ).astype(np.float32)
        centered, normalized = bool(index & 2), bool(index & 4)
        scale = 1.2 if normalized else 10.0
        offsets = (rng.uniform(-scale, scale, (batch, 2)) * 8).round() / 8
        add(f"random_{index}", op, _attrs(centered, normalized, **ZERO), image,
            _size(int(rng.integers(1, 10)), int(rng.integers(1, 10))), _f32(offsets),
            "random shapes and offsets (multiples of 1/8), zero fill")
    cases.extend(_fidelity_cases(img))
    return cases


def _fidelity_cases(img: np.ndarray) -> list[Case]:
    """How TensorFlow takes its arguments: None attrs, bytes, Python lists, float sizes,
    and the bits of its NaN. ``"exact_bits"``: NaN compared bit for bit too;
    ``"as_python_list"``: arrays passed as nested Python lists; ``"bytes_attrs"``: string
    attrs passed as ASCII bytes."""
    mixed = _f32([[0.1, -0.2], [0.9, -0.95], [3.0, 0.0]])
    inside = _f32([[0.1, -0.1], [-0.3, 0.2], [0.0, 0.0]])
    cases: list[Case] = []

    def add(case_id: str, op: str, attrs: dict[str, Any], arrays: dict[str, np.ndarray],
            note: str, **flags: Any) -> None:
        cases.append({"id": case_id, "op": op, "kind": "value", "attrs": attrs, "note": note,
                      "arrays": arrays, **flags})

    for op, tag in ((V1, "v1"), (V2, "v2")):
        for noise in ("uniform", "gaussian"):
            add(f"{tag}_empty_image_{noise}_nan_bits", op,
                _attrs(uniform_noise=noise == "uniform", noise=noise),
                {"input": np.zeros((2, 0, 4, 3), np.float32), "size": _size(2, 3),
                 "offsets": _f32([[0.0, 0.0], [0.5, -0.5]])},
                "TensorFlow's NaN for an empty image is 0xFFC00000 (sign bit set)",
                exact_bits=True)
        add(f"{tag}_none_centered", op, _attrs(None, False, **ZERO),
            {"input": img, "size": _size(4, 5), "offsets": _f32([[0.2, 0.4], [-0.9, 0.5],
                                                                [0.95, 0.05]])},
            "centered=None takes the default, true")
        add(f"{tag}_none_normalized", op, _attrs(False, None, **ZERO),
            {"input": img, "size": _size(4, 5), "offsets": mixed},
            "normalized=None takes the default, true")
        add(f"{tag}_none_noise_inside", op, _attrs(uniform_noise=None, noise=None),
            {"input": img, "size": _size(4, 5), "offsets": inside},
            "uniform_noise=None and noise=None take true and 'uniform' (windows inside)")
        add(f"{tag}_bytes_noise_zero", op, _attrs(uniform_noise=False, noise="zero"),
            {"input": img, "size": _size(4, 5), "offsets": mixed},
            "noise=b'zero' is accepted as bytes", bytes_attrs=True)
        add(f"{tag}_float_size_truncates", op, _attrs(**ZERO),
            {"input": img, "size": np.asarray([2.5, 3.9]), "offsets": mixed},
            "a float64 ndarray size converts by truncation toward zero")
        add(f"{tag}_python_lists", op, _attrs(**ZERO),
            {"input": np.arange(2 * 5 * 6 * 2).reshape(2, 5, 6, 2), "size": _size(3, 4),
             "offsets": _f32([[0.5, -0.25], [-1.0, 1.0]])},
            "input (ints), size and offsets as Python lists convert to float32 / int32",
            as_python_list=True)
    return cases


def _error_cases() -> list[Case]:
    img = _coded_image(2, 5, 6, 3)
    off = np.zeros((2, 2), np.float32)
    size = _size(3, 3)
    cases: list[Case] = []

    def add(case_id: str, op: str, attrs: dict[str, Any], arrays: dict[str, np.ndarray],
            where: dict[str, str], note: str) -> None:
        full = {"input": img, "size": size, "offsets": off}
        full.update(arrays)
        cases.append({"id": case_id, "op": op, "kind": "error", "attrs": attrs, "note": note,
                      "arrays": full, "where": where})

    add("err_conflict_gaussian", V2, _attrs(noise="gaussian"), {}, {"attr": "uniform_noise"},
        "uniform_noise=true with gaussian")
    add("err_conflict_zero", V1, _attrs(noise="zero"), {}, {"attr": "uniform_noise"},
        "uniform_noise=true with zero")
    add("err_conflict_before_input", V1, _attrs(noise="foo"), {"input": img[0]},
        {"attr": "uniform_noise"}, "attr errors come before input errors")
    add("err_unknown_noise", V2, _attrs(uniform_noise=False, noise="foo"), {}, {"attr": "noise"},
        "unknown noise")
    add("err_unknown_noise_case", V1, _attrs(uniform_noise=False, noise="Uniform"), {},
        {"attr": "noise"}, "noise names are case-sensitive")
    add("err_input_rank3", V2, _attrs(), {"input": img[0]}, {"port": "input"}, "input 3-D")
    add("err_input_rank5", V1, _attrs(), {"input": img[None]}, {"port": "input"}, "input 5-D")
    add("err_input_before_size", V1, _attrs(), {"input": img[0], "size": _size(3, 3)[:1]},
        {"port": "input"}, "input errors come before size errors")
    add("err_size_3", V2, _attrs(), {"size": np.asarray([3, 3, 3], np.int32)}, {"port": "size"},
        "size of length 3")
    add("err_size_matrix", V1, _attrs(), {"size": np.asarray([[3, 3]], np.int32)},
        {"port": "size"}, "size 2-D")
    add("err_size_scalar", V2, _attrs(), {"size": np.asarray(3, np.int32)}, {"port": "size"},
        "size scalar")
    add("err_size_negative_h", V1, _attrs(), {"size": _size(-1, 3)}, {"port": "size"},
        "negative height")
    add("err_size_negative_w", V2, _attrs(), {"size": _size(2, -2)}, {"port": "size"},
        "negative width")
    add("err_size_negative_both", V2, _attrs(), {"size": _size(-3, -2)}, {"port": "size"},
        "the height is reported first")
    add("err_size_before_offsets", V1, _attrs(), {"size": _size(-1, 3), "offsets": off[0]},
        {"port": "size"}, "size errors come before offsets errors")
    add("err_offsets_vector", V2, _attrs(), {"offsets": off[0]}, {"port": "offsets"},
        "offsets 1-D")
    add("err_offsets_rank3", V1, _attrs(), {"offsets": np.zeros((2, 2, 1), np.float32)},
        {"port": "offsets"}, "offsets 3-D")
    add("err_offsets_batch", V2, _attrs(), {"offsets": off[:1]}, {"port": "offsets"},
        "offsets rows != batch")
    add("err_offsets_batch_first", V1, _attrs(), {"offsets": np.zeros((1, 3), np.float32)},
        {"port": "offsets"}, "the batch check comes before the column check")
    add("err_offsets_columns", V2, _attrs(), {"offsets": np.zeros((2, 3), np.float32)},
        {"port": "offsets"}, "offsets with 3 columns")
    return cases


def _noise_input() -> np.ndarray:
    """Two 16x16x3 images with very different channel ranges; image 0's channel 2 is flat."""
    rng = np.random.default_rng(SEED + 1)
    image = np.empty((2, 16, 16, 3), np.float32)
    image[0, ..., 0] = rng.random((16, 16)) + 0.001
    image[0, ..., 1] = 100 + rng.random((16, 16))
    image[0, ..., 2] = 50
    for channel, centre in enumerate((0.0, 20.0, -20.0)):
        image[1, ..., channel] = centre + 3 * rng.standard_normal((16, 16))
    image[image == 0] = 0.5  # the fill mask is found by a zero-fill run, so no zeros
    return image


def _noise_cases() -> list[Case]:
    image = _noise_input()
    far = _f32([[1000.0, 1000.0], [-1000.0, 1000.0]])
    partial = _f32([[0.9, -0.8], [-0.7, 0.95]])
    specs: list[tuple[str, str, dict[str, Any], np.ndarray, np.ndarray, str, str]] = [
        ("noise_v2_uniform_far", V2, _attrs(False, False, uniform_noise=False),
         _size(24, 24), far, "uniform", "tf.image.extract_glimpse(noise='uniform'), all fill"),
        ("noise_v2_gaussian_far", V2, _attrs(False, False, uniform_noise=False, noise="gaussian"),
         _size(24, 24), far, "gaussian", "gaussian, all fill"),
        ("noise_v1_default_partial", V1, _attrs(), _size(20, 18), partial, "uniform",
         "V1 defaults (uniform_noise=true, noise='uniform'), partial windows"),
        ("noise_v1_uniform_noise_false_uniform", V1, _attrs(uniform_noise=False), _size(20, 18),
         partial, "uniform", "uniform_noise=false with noise='uniform' is still uniform"),
        ("noise_v1_empty_noise_gaussian", V1, _attrs(uniform_noise=False, noise=""),
         _size(20, 18), partial, "gaussian", "empty noise with uniform_noise=false is gaussian"),
        ("noise_v2_empty_noise_uniform", V2, _attrs(noise=""), _size(20, 18), partial,
         "uniform", "empty noise with uniform_noise=true is uniform"),
        ("noise_v2_gaussian_partial", V2, _attrs(uniform_noise=False, noise="gaussian"),
         _size(20, 18), partial, "gaussian", "gaussian, partial windows"),
    ]
    cases = [
        {"id": case_id, "op": op, "kind": "noise", "attrs": attrs, "note": note,
         "distribution": distribution,
         "arrays": {"input": image, "size": size, "offsets": offsets}}
        for case_id, op, attrs, size, offsets, distribution, note in specs
    ]
    with_nan = image.copy()
    with_nan[0, 3, 4, 1] = np.nan
    with_nan[1, 0, 0, 0] = np.nan
    for distribution in ("uniform", "gaussian"):
        cases.append({
            "id": f"noise_v2_{distribution}_nan_pixel", "op": V2, "kind": "noise",
            "attrs": _attrs(uniform_noise=False, noise=distribution),
            "note": "a NaN pixel: uniform lo/hi skip it; a gaussian channel holding it is NaN",
            "distribution": distribution,
            "arrays": {"input": with_nan, "size": _size(20, 18), "offsets": partial},
        })
    return cases


def _tf_message(error: Exception) -> str:
    text = str(error).split("\n")[0]
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", text)
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text)


def call_arguments(case: Case, arrays: dict[str, np.ndarray]) -> tuple[list[Any], dict[str, Any]]:
    """The arguments as the case passes them (lists, bytes), for TensorFlow and for tests."""
    values: list[Any] = [arrays["input"], arrays["size"], arrays["offsets"]]
    if case.get("as_python_list"):
        values = [value.tolist() for value in values]
    attrs = dict(case["attrs"])
    if case.get("bytes_attrs"):
        attrs = {key: value.encode() if isinstance(value, str) else value
                 for key, value in attrs.items()}
    return values, attrs


def _run_tf(
    tf: Any, case: Case, arrays: dict[str, np.ndarray], attrs: dict[str, Any]
) -> np.ndarray:
    """The raw op on the arrays themselves: TensorFlow converts them as a user's call would."""
    kernel = getattr(tf.raw_ops, OPS[case["op"]])
    values, attrs = call_arguments(dict(case, attrs=attrs), arrays)
    result = kernel(input=values[0], size=values[1], offsets=values[2], **attrs)
    return np.asarray(result.numpy())


def _noise_stats(tf: Any, case: Case) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    arrays = case["arrays"]
    zero_attrs = dict(case["attrs"], uniform_noise=False, noise="zero")
    in_image = _run_tf(tf, case, arrays, zero_attrs)
    mask = in_image == 0  # the input has no zeros
    draws = [_run_tf(tf, case, arrays, case["attrs"]) for _ in range(NOISE_DRAWS)]
    for draw in draws:
        if not np.array_equal(np.where(mask, 0, draw), in_image, equal_nan=True):
            raise RuntimeError(f"{case['id']}: TensorFlow's in-image part differs between draws")
    image = arrays["input"]
    stats = []
    for b in range(image.shape[0]):
        channels = []
        for ch in range(image.shape[3]):
            fill = np.concatenate([draw[b, ..., ch][mask[b, ..., ch]] for draw in draws])
            fill = fill.astype(np.float64)
            nan_count = int(np.isnan(fill).sum())
            fill = fill[~np.isnan(fill)]
            channels.append({
                "channel": ch, "tf_fill_count": int(fill.size) + nan_count,
                "tf_fill_nan_count": nan_count,
                "tf_fill_mean": float(fill.mean()) if fill.size else None,
                "tf_fill_std": float(fill.std()) if fill.size else None,
                "tf_fill_min": float(fill.min()) if fill.size else None,
                "tf_fill_max": float(fill.max()) if fill.size else None,
            })
        stats.append({"batch": b, "channels": channels})
    return {"expected_in_image": in_image, "noise_mask": mask}, stats


def main(out_dir: Path) -> None:
    """Run TensorFlow on every case; write ``manifest.json`` and ``glimpse.npz`` to ``out_dir``."""
    import tensorflow as tf  # the oracle extra; imported here so the module imports without it

    rng = np.random.default_rng(SEED)
    cases = _value_cases(rng) + _error_cases() + _noise_cases()
    arrays: dict[str, np.ndarray] = {}
    manifest_cases = []
    for case in cases:
        entry = {key: value for key, value in case.items() if key != "arrays"}
        case_arrays: dict[str, np.ndarray] = dict(case["arrays"])
        if case["kind"] == "value":
            expected = _run_tf(tf, case, case_arrays, case["attrs"])
            case_arrays["expected"] = expected
            entry["expected_shape"] = list(expected.shape)
        elif case["kind"] == "error":
            try:
                _run_tf(tf, case, case_arrays, case["attrs"])
            except tf.errors.InvalidArgumentError as error:
                entry["message"] = _tf_message(error)
            else:
                raise RuntimeError(f"{case['id']}: TensorFlow raised no error")
        else:
            extra, stats = _noise_stats(tf, case)
            case_arrays.update(extra)
            entry["draws"] = NOISE_DRAWS
            entry["stats"] = stats
        entry["arrays"] = sorted(case_arrays)
        for name, value in case_arrays.items():
            arrays[f"{case['id']}__{name}"] = value
        manifest_cases.append(entry)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / "glimpse.npz", **arrays)  # type: ignore[arg-type]
    manifest = {
        "generator": "tools/golden_glimpse.py",
        "tensorflow_version": tf.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "arrays_file": "glimpse.npz",
        "array_key": "<case id>__<array name>",
        "cases": manifest_cases,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else root / "tests" / "fixtures" / "glimpse")
