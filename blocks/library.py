"""The block library: Input, ExtractGlimpse, ExtractGlimpseV2, ExtractImagePatches.

Each block is declared here exactly once as a :class:`~blocks.spec.BlockSpec`;
:data:`REGISTRY` lists them by name. The adapters below only translate between
port values and the public kernels in :mod:`blocks.kernels`; all semantics
(TensorFlow's) live in the kernels and their shape functions, so a kernel and
its inference rule can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from blocks.errors import InvalidArgumentError, MemoryLimitError, TensorBlocksError
from blocks.input_files import peek_tensor_file, read_tensor_file
from blocks.kernels.glimpse import (
    extract_glimpse,
    extract_glimpse_v2,
    glimpse_output_shape,
)
from blocks.kernels.patches import extract_image_patches, patches_output_shape
from blocks.literals import parse_dtype
from blocks.spec import (
    AttrSpec,
    BlockSpec,
    InferContext,
    InputPort,
    OutputPort,
    PortKind,
    RunContext,
    TensorInfo,
)

# ----------------------------------------------------------------------------- Input


def _input_check(is_set: Mapping[str, bool]) -> list[tuple[str, str]]:
    has_values, has_file = is_set.get("initvalues", False), is_set.get("file", False)
    if has_values and has_file:
        return [("file", "set exactly one of 'initvalues' or 'file', not both")]
    if not has_values and not has_file:
        return [("initvalues", "set exactly one of 'initvalues' or 'file'")]
    return []


def _reshape(
    value: np.ndarray, shape: tuple[int, ...] | None, memory_limit: int | None = None
) -> np.ndarray:
    if shape is None:
        return value
    out_shape = _reshaped_shape(tuple(value.shape), shape, value.dtype, memory_limit)
    if value.ndim == 0:
        return np.full(out_shape, value, dtype=value.dtype)
    return value.reshape(out_shape)


def _reshaped_shape(
    value_shape: tuple[int, ...],
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    memory_limit: int | None,
) -> tuple[int, ...]:
    """The output shape of reshaping (or, for a scalar, filling) ``value_shape`` to ``shape``."""
    if any(d < 0 for d in shape):
        raise InvalidArgumentError(
            f"shape must not have negative dims, got {list(shape)}", port="shape"
        )
    size = math.prod(shape)  # exact: np.prod would wrap around for huge dims
    if len(value_shape) == 0:
        nbytes = size * dtype.itemsize
        if memory_limit is not None and nbytes > memory_limit:
            raise MemoryLimitError(
                f"filling shape {list(shape)} with {dtype.name} needs {nbytes} bytes, more than "
                f"the memory limit of {memory_limit} bytes",
                port="shape",
            )
        return tuple(shape)
    value_size = math.prod(value_shape)
    if size != value_size:
        raise InvalidArgumentError(
            f"cannot reshape {value_size} values (shape {list(value_shape)}) to {list(shape)}",
            port="shape",
        )
    return tuple(shape)


def _check_memory(shape: tuple[int, ...], dtype: np.dtype[Any], memory_limit: int | None) -> None:
    nbytes = math.prod(shape) * dtype.itemsize
    if memory_limit is not None and nbytes > memory_limit:
        raise MemoryLimitError(
            f"the file's {list(shape)} values as {dtype.name} need {nbytes} bytes, more than "
            f"the memory limit of {memory_limit} bytes",
            port="file",
        )


def _as_dtype(value: Any) -> np.dtype[Any]:
    if value is None:
        return parse_dtype("DT_FLOAT")
    return parse_dtype(value) if isinstance(value, str) else np.dtype(value)


def _input_dtype(inputs: Mapping[str, Any]) -> np.dtype[Any]:
    return _as_dtype(inputs.get("dtype"))


def _input_run(ctx: RunContext) -> dict[str, np.ndarray]:
    dtype = _input_dtype(ctx.inputs)
    value = ctx.inputs.get("initvalues")
    if value is None:
        file = ctx.inputs.get("file")
        if file is None:
            raise InvalidArgumentError(
                "set exactly one of 'initvalues' or 'file'", port="initvalues"
            )
        file_shape, _ = peek_tensor_file(str(file), ctx.base_dir)
        _check_memory(file_shape, dtype, ctx.memory_limit)  # before reading, not after
        value = read_tensor_file(str(file), ctx.base_dir)
    value = _cast(np.asarray(value), dtype)
    shape = ctx.inputs.get("shape")
    return {"output": _reshape(value, None if shape is None else tuple(shape), ctx.memory_limit)}


def _check_cast(source: np.dtype[Any], dtype: np.dtype[Any]) -> None:
    if source.kind == "c" and dtype.kind != "c":
        raise InvalidArgumentError(f"cannot convert complex values to {dtype.name}", port="dtype")
    if source.kind not in "biufc" and source.name != "bfloat16":
        raise InvalidArgumentError(f"cannot convert {source} values to {dtype.name}", port="dtype")


def _cast(value: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    if value.dtype == dtype:
        return value
    _check_cast(value.dtype, dtype)
    if dtype.kind in "iu" and value.dtype.kind != "b" and value.size:
        # NumPy turns NaN, inf and out-of-range values into arbitrary integers; refuse them.
        info = np.iinfo(dtype)
        if value.dtype.kind in "iu":
            low, high = int(value.min()), int(value.max())
        else:
            wide = value.astype(np.float64)
            if not np.isfinite(wide).all():
                raise InvalidArgumentError(
                    f"cannot convert NaN or infinite values to {dtype.name}", port="dtype"
                )
            low, high = int(np.trunc(wide.min())), int(np.trunc(wide.max()))
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise InvalidArgumentError(
                f"value {bad} is out of range for {dtype.name} ({info.min}..{info.max})",
                port="dtype",
            )
    with np.errstate(over="ignore", invalid="ignore"):
        out = value.astype(dtype)
    if (dtype.kind in "fc" or dtype.name == "bfloat16") and value.dtype.kind != "b" and out.size:
        # A finite value too large for a narrow float type would silently become infinity.
        became_inf = np.isinf(out.astype(np.complex128)) & np.isfinite(value.astype(np.complex128))
        if became_inf.any():
            bad = value.reshape(-1)[int(np.argmax(became_inf.reshape(-1)))]
            raise InvalidArgumentError(
                f"value {bad} is out of range for {dtype.name} (it would be infinity)",
                port="dtype",
            )
    return out


#: Largest literal Input value (in elements) that inference computes and passes on.
_INFER_VALUE_LIMIT = 1 << 16


def _input_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    dtype_info = ctx.inputs.get("dtype")
    dtype = _as_dtype(None if dtype_info is None else dtype_info.value)
    shape_info = ctx.inputs.get("shape")
    shape = None if shape_info is None or shape_info.value is None else tuple(shape_info.value)
    values = ctx.inputs.get("initvalues")
    if values is not None and values.value is not None:
        literal = np.asarray(values.value)
        cast = _cast(literal, dtype)  # the errors run would raise
        out_shape = (
            tuple(cast.shape)
            if shape is None
            else _reshaped_shape(tuple(cast.shape), shape, dtype, ctx.memory_limit)
        )
        if math.prod(out_shape) > _INFER_VALUE_LIMIT:
            return {"output": TensorInfo(out_shape, dtype)}
        out = _reshape(cast, shape, ctx.memory_limit)
        return {"output": TensorInfo(tuple(out.shape), out.dtype, out)}
    if values is not None:  # wired: its shape and dtype may be known
        if values.dtype is not None:
            _check_cast(values.dtype, dtype)
        if shape is None:
            return {"output": TensorInfo(values.shape, dtype)}
        if values.shape is not None and all(d is not None for d in values.shape):
            known = tuple(int(d) for d in values.shape if d is not None)
            out_shape = _reshaped_shape(known, shape, dtype, ctx.memory_limit)
            return {"output": TensorInfo(out_shape, dtype)}
        # Unknown element count: only the shape port itself can be checked now.
        return {"output": TensorInfo(_reshaped_shape((), shape, dtype, None), dtype)}
    file_info = ctx.inputs.get("file")
    if file_info is None or file_info.value is None:
        return {"output": TensorInfo(shape, dtype)}
    file_shape, file_dtype = peek_tensor_file(str(file_info.value), ctx.base_dir)
    _check_cast(file_dtype, dtype)
    _check_memory(tuple(file_shape), dtype, ctx.memory_limit)
    if shape is not None:
        file_shape = _reshaped_shape(tuple(file_shape), shape, dtype, ctx.memory_limit)
    return {"output": TensorInfo(tuple(file_shape), dtype)}


INPUT = BlockSpec(
    name="Input",
    title="Input",
    category="Sources",
    doc="A constant tensor: typed values or a file (.npy, .npz as name.npz:key, .png/.jpg/.bmp "
    "as [1,H,W,C]), cast to dtype and optionally reshaped (a scalar fills the shape).",
    inputs=(
        InputPort(
            "dtype",
            PortKind.DTYPE,
            "element type of the output",
            required=False,
            default="DT_FLOAT",
        ),
        InputPort("initvalues", PortKind.TENSOR, "the values, e.g. {{1,2},{3,4}}", required=False),
        InputPort("file", PortKind.PATH, "a .npy, name.npz:key or image file", required=False),
        InputPort(
            "shape", PortKind.INT_LIST, "reshape to this shape (a scalar fills it)", required=False
        ),
    ),
    outputs=(OutputPort("output", "the tensor"),),
    attrs=(),
    infer=_input_infer,
    run=_input_run,
    check_inputs=_input_check,
    reads_files=True,
    item_source="initvalues",
    color="#4f9d69",
    tags=("constant", "file", "image", "source", "npy"),
)

# ----------------------------------------------------------------------------- ExtractGlimpse

_GLIMPSE_ATTRS = (
    AttrSpec("centered", bool, True, "offsets are relative to the image centre"),
    AttrSpec("normalized", bool, True, "offsets are fractions of the image size"),
    AttrSpec(
        "uniform_noise",
        bool,
        True,
        "fill outside the image with uniform noise (when noise is empty)",
    ),
    AttrSpec(
        "noise",
        str,
        "uniform",
        "fill outside the image: uniform, gaussian, zero, or empty to let uniform_noise decide",
        choices=("uniform", "gaussian", "zero", ""),
    ),
)

_GLIMPSE_INPUTS = (
    InputPort("input", PortKind.TENSOR, "images [B,H,W,C] float32", dtype="float32"),
    InputPort("size", PortKind.TENSOR, "glimpse size (h, w), int32 [2]", dtype="int32"),
    InputPort(
        "offsets",
        PortKind.TENSOR,
        "window offsets (y, x) per image, float32 [B,2]",
        dtype="float32",
    ),
)


def _glimpse_kwargs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "centered": bool(attrs["centered"]),
        "normalized": bool(attrs["normalized"]),
        "uniform_noise": bool(attrs["uniform_noise"]),
        "noise": str(attrs["noise"]),
    }


def _glimpse_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    image, size, offsets = (
        ctx.inputs.get("input"),
        ctx.inputs.get("size"),
        ctx.inputs.get("offsets"),
    )
    shape = glimpse_output_shape(
        None if image is None else image.shape,
        None if size is None or size.value is None else np.asarray(size.value),
        None if offsets is None else offsets.shape,
        memory_limit=ctx.memory_limit,
        **_glimpse_kwargs(ctx.attrs),
    )
    return {"glimpse": TensorInfo(shape, np.dtype(np.float32))}


def _make_glimpse_run(kernel: Any) -> Any:
    def run(ctx: RunContext) -> dict[str, np.ndarray]:
        out = kernel(
            ctx.inputs["input"],
            ctx.inputs["size"],
            ctx.inputs["offsets"],
            seed=ctx.seed,
            item_offset=ctx.item_offset,
            memory_limit=ctx.memory_limit,
            **_glimpse_kwargs(ctx.attrs),
        )
        return {"glimpse": out}

    return run


def _glimpse_block(name: str, title: str, doc: str, kernel: Any) -> BlockSpec:
    # V1 and V2 share ports, attrs and shape rule; only the offset arithmetic differs.
    return BlockSpec(
        name=name,
        title=title,
        category="Image",
        doc=doc,
        inputs=_GLIMPSE_INPUTS,
        outputs=(OutputPort("glimpse", "[B,h,w,C] float32"),),
        attrs=_GLIMPSE_ATTRS,
        infer=_glimpse_infer,
        run=_make_glimpse_run(kernel),
        noisy=True,
        color="#c0803a",
        tags=("crop", "window", "attention", "tf.image.extract_glimpse"),
    )


EXTRACT_GLIMPSE = _glimpse_block(
    "ExtractGlimpse",
    "Extract Glimpse",
    "Windows of size (h, w) cut from each image at its offset (V1: centred offsets are the "
    "window centre, unnormalized centred offsets are halved); outside the image: noise or zero.",
    extract_glimpse,
)

EXTRACT_GLIMPSE_V2 = _glimpse_block(
    "ExtractGlimpseV2",
    "Extract Glimpse V2",
    "As ExtractGlimpse, with V2 offsets (tf.image.extract_glimpse): uncentred offsets are "
    "the window's top-left corner.",
    extract_glimpse_v2,
)

# ----------------------------------------------------------------------------- ExtractImagePatches


def _int_list(value: Any) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _patches_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    images = ctx.inputs.get("images")
    dtype = None if images is None else images.dtype
    known = {
        name: info.value
        for name in ("ksizes", "strides", "rates", "padding")
        if (info := ctx.inputs.get(name)) is not None and info.value is not None
    }
    if len(known) < 4:
        # An int list fed by a wire is only known at run time: rank is all we can say.
        rank = None if images is None or images.shape is None else len(images.shape)
        return {"patches": TensorInfo(None if rank is None else (None,) * rank, dtype)}
    shape = patches_output_shape(
        None if images is None else images.shape,
        dtype,
        _int_list(known["ksizes"]),
        _int_list(known["strides"]),
        _int_list(known["rates"]),
        str(known["padding"]),
        memory_limit=ctx.memory_limit,
    )
    return {"patches": TensorInfo(shape, dtype)}


def _patches_run(ctx: RunContext) -> dict[str, np.ndarray]:
    out = extract_image_patches(
        ctx.inputs["images"],
        _int_list(ctx.inputs["ksizes"]),
        _int_list(ctx.inputs["strides"]),
        _int_list(ctx.inputs["rates"]),
        str(ctx.inputs["padding"]),
        memory_limit=ctx.memory_limit,
    )
    return {"patches": out}


EXTRACT_IMAGE_PATCHES = BlockSpec(
    name="ExtractImagePatches",
    title="Extract Image Patches",
    category="Image",
    doc="Every kh x kw patch (dilated by rates, stepped by strides) flattened into the depth "
    "dimension: [B,out_h,out_w,kh*kw*C], patch row then column then channel.",
    inputs=(
        InputPort("images", PortKind.TENSOR, "images [B,H,W,C]"),
        InputPort(
            "ksizes", PortKind.INT_LIST, "[1, kh, kw, 1]", required=False, default="{1,3,3,1}"
        ),
        InputPort(
            "strides", PortKind.INT_LIST, "[1, sh, sw, 1]", required=False, default="{1,1,1,1}"
        ),
        InputPort(
            "rates",
            PortKind.INT_LIST,
            "[1, rh, rw, 1] dilation",
            required=False,
            default="{1,1,1,1}",
        ),
        InputPort(
            "padding",
            PortKind.STRING,
            "SAME or VALID",
            required=False,
            default="VALID",
            choices=("SAME", "VALID"),
        ),
    ),
    outputs=(OutputPort("patches", "[B,out_h,out_w,kh*kw*C]"),),
    attrs=(),
    infer=_patches_infer,
    run=_patches_run,
    color="#8a5fbf",
    tags=("im2col", "patches", "tf.image.extract_patches", "conv"),
)


class BlockRegistry(Mapping[str, BlockSpec]):
    """The blocks by name, in palette order."""

    def __init__(self, specs: tuple[BlockSpec, ...]) -> None:
        self._specs = {spec.name: spec for spec in specs}

    def __getitem__(self, name: str) -> BlockSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def get_spec(self, name: str, *, node: str | None = None) -> BlockSpec:
        """The block called ``name``, or a TensorBlocksError naming the known blocks."""
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(self._specs)
            raise TensorBlocksError(f"unknown block '{name}' (known blocks: {known})", node=node)
        return spec

    def categories(self) -> dict[str, list[BlockSpec]]:
        """Blocks grouped by category, for the palette."""
        groups: dict[str, list[BlockSpec]] = {}
        for spec in self._specs.values():
            groups.setdefault(spec.category, []).append(spec)
        return groups


from blocks.library_ops import LIBRARY_OPS  # noqa: E402  (the resize and array ops)
from blocks.plugins import load_plugins  # noqa: E402

_BUILT_IN = (INPUT, EXTRACT_GLIMPSE, EXTRACT_GLIMPSE_V2, EXTRACT_IMAGE_PATCHES, *LIBRARY_OPS)
#: The installed plugins' blocks and problems (blocks/plugins.py).
PLUGINS = load_plugins(spec.name for spec in _BUILT_IN)
REGISTRY = BlockRegistry((*_BUILT_IN, *PLUGINS.specs))
