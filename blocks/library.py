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
from blocks.input_files import FileHeader, read_header, read_tensor_file
from blocks.kernels.glimpse import (
    check_input_dtype,
    extract_glimpse,
    extract_glimpse_v2,
    glimpse_output_shape,
    glimpse_windows,
)
from blocks.kernels.patches import extract_image_patches, patches_output_shape, receptive_field
from blocks.literals import parse_dtype
from blocks.spec import (
    AttrSpec,
    AttrValue,
    BlockSpec,
    InferContext,
    InputPort,
    OutputPort,
    PatchGrid,
    PortKind,
    ResultView,
    ResultViewKind,
    RunContext,
    TensorInfo,
    Windows,
)

# ----------------------------------------------------------------------------- Input


#: The most dims a tensor may have (tensor literals nest at most this deep too).
MAX_RANK = 32


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
    if len(shape) > MAX_RANK:
        raise InvalidArgumentError(
            f"shape has {len(shape)} dims; at most {MAX_RANK} are supported", port="shape"
        )
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


#: Elements converted at a time when a dtype cast checks its values (bounds the scratch).
_CAST_CHUNK = 1 << 18


_READ_SLACK = 64 << 10


def _cast_scratch(size: int) -> int:
    """Scratch bytes of a checked cast of ``size`` elements: a few wide copies of a chunk."""
    return min(size, _CAST_CHUNK) * 48


#: The most scratch a checked cast needs.
_CAST_SCRATCH = _cast_scratch(_CAST_CHUNK)


def _file_step_bytes(header: FileHeader, dtype: np.dtype[Any]) -> int:
    """Bytes an Input allocates to read a file's data and cast it to ``dtype``."""
    if header.dtype == dtype:
        return header.read_bytes
    size = math.prod(header.shape)
    return header.read_bytes + size * dtype.itemsize + _cast_scratch(size)


def _admit_file(header: FileHeader, dtype: np.dtype[Any], memory_limit: int | None) -> None:
    """Refuse a file whose reading (sized by the FILE's dtype) and cast would not fit."""
    nbytes = _file_step_bytes(header, dtype)
    if memory_limit is not None and nbytes > memory_limit:
        cast = "" if header.dtype == dtype else f" and converting them to {dtype.name}"
        raise MemoryLimitError(
            f"reading the file's {list(header.shape)} {header.dtype.name} values{cast} "
            f"needs {nbytes} bytes, more than the memory limit of {memory_limit} bytes",
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
        # Judged on the header read from the very handle the data comes from, before
        # anything is allocated: a file swapped since inference is judged again.
        value = read_tensor_file(
            str(file), ctx.base_dir,
            admit=lambda header: _admit_file(header, dtype, ctx.memory_limit),
            cancel=ctx.cancel,
        )
    value = _cast(np.asarray(value), dtype)
    shape = ctx.inputs.get("shape")
    return {"output": _reshape(value, None if shape is None else tuple(shape), ctx.memory_limit)}


def _check_cast(source: np.dtype[Any], dtype: np.dtype[Any]) -> None:
    if source.kind == "c" and dtype.kind != "c":
        raise InvalidArgumentError(f"cannot convert complex values to {dtype.name}", port="dtype")
    if source.kind not in "biufc" and source.name != "bfloat16":
        raise InvalidArgumentError(f"cannot convert {source} values to {dtype.name}", port="dtype")


def _chunks(array: np.ndarray) -> Iterator[np.ndarray]:
    """``array``'s elements in memory order, a bounded chunk at a time (views, no copy)."""
    flat = array.ravel(order="K")
    for start in range(0, flat.size, _CAST_CHUNK):
        yield flat[start : start + _CAST_CHUNK]


def _cast(value: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """``value`` as ``dtype``, refusing values the new type cannot hold.

    The checks run chunk by chunk, so the scratch stays within ``_CAST_SCRATCH`` whatever
    the size: the cast allocates its output and little more.
    """
    if value.dtype == dtype:
        return value
    _check_cast(value.dtype, dtype)
    if dtype.kind in "iu" and value.dtype.kind != "b" and value.size:
        # NumPy turns NaN, inf and out-of-range values into arbitrary integers; refuse them.
        info = np.iinfo(dtype)
        if value.dtype.kind in "iu":
            low, high = int(value.min()), int(value.max())
        else:
            low, high = _finite_range(value, dtype)
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise InvalidArgumentError(
                f"value {bad} is out of range for {dtype.name} ({info.min}..{info.max})",
                port="dtype",
            )
    with np.errstate(over="ignore", invalid="ignore"):
        out = value.astype(dtype)
    if (dtype.kind in "fc" or dtype.name == "bfloat16") and out.size and not _holds(
        dtype, value.dtype
    ):
        # A finite value too large for a narrow float type would silently become infinity.
        # Complex parts are judged apart; real values need no complex copy (16 bytes each).
        wide = np.complex128 if "c" in (value.dtype.kind, dtype.kind) else np.float64
        for before, after in zip(_chunks(value), _chunks(out), strict=True):
            became_inf = np.isinf(after.astype(wide)) & np.isfinite(before.astype(wide))
            if became_inf.any():
                bad = before[int(np.argmax(became_inf))]
                raise InvalidArgumentError(
                    f"value {bad} is out of range for {dtype.name} (it would be infinity)",
                    port="dtype",
                )
    return out


def _holds(dtype: np.dtype[Any], source: np.dtype[Any]) -> bool:
    """Whether every finite ``source`` value stays finite as ``dtype`` (a float type): booleans
    and integers whose largest magnitude is below the type's largest finite value (uint8 to
    float32 — images — needs no check; uint16 to float16 does)."""
    if source.kind == "b":
        return True
    if source.kind not in "iu":
        return False
    # bfloat16 reaches 3.39e38, float32 3.40e38: no integer comes near either.
    largest = float(np.finfo(np.float32).max) if dtype.name == "bfloat16" else float(
        np.finfo(dtype).max)
    info = np.iinfo(source)
    return max(abs(int(info.min)), int(info.max)) < largest


def _finite_range(value: np.ndarray, dtype: np.dtype[Any]) -> tuple[int, int]:
    """The truncated min and max of a float array; an error for NaN or infinity."""
    low = high = 0
    first = True
    for chunk in _chunks(value):
        wide = chunk.astype(np.float64)
        if not np.isfinite(wide).all():
            raise InvalidArgumentError(
                f"cannot convert NaN or infinite values to {dtype.name}", port="dtype"
            )
        chunk_low, chunk_high = int(np.trunc(wide.min())), int(np.trunc(wide.max()))
        low, high = (chunk_low, chunk_high) if first else (min(low, chunk_low),
                                                           max(high, chunk_high))
        first = False
    return low, high


def _input_working_memory(ctx: InferContext, outputs: Mapping[str, TensorInfo]) -> int:
    out = outputs.get("output")
    out_bytes = 0 if out is None else out.nbytes or 0
    file_info, values = ctx.inputs.get("file"), ctx.inputs.get("initvalues")
    if values is None and file_info is not None and file_info.value is not None:
        header = read_header(str(file_info.value), ctx.base_dir)
        # The data, and the file object's buffers and parsed header (a few kilobytes).
        return _file_step_bytes(header, _as_dtype(_dtype_value(ctx))) + _READ_SLACK
    if values is not None and values.value is None:  # wired: maybe a cast
        return out_bytes + _CAST_SCRATCH
    if values is not None and out is not None and values.dtype == out.dtype:
        shape_info = ctx.inputs.get("shape")
        filled = shape_info is not None and values.shape == ()
        if not filled:
            return 0  # the output is the parsed literal itself (or a reshaped view of it)
    return out_bytes


def _dtype_value(ctx: InferContext) -> Any:
    info = ctx.inputs.get("dtype")
    return None if info is None else info.value


#: The most a kernel holds of its work at once, for outputs too small to be cut by item.
_KERNEL_PIECE = 4 << 20


def _piece_bytes(info: TensorInfo) -> int:
    """Bytes of the largest piece a kernel works on at once: one item, or 4 MiB of items."""
    nbytes = info.nbytes or 0
    if not nbytes or info.shape is None or not info.shape or not info.shape[0]:
        return nbytes
    item = nbytes // int(info.shape[0] or 1)
    return min(nbytes, max(item, _KERNEL_PIECE))


def _glimpse_working_memory(ctx: InferContext, outputs: Mapping[str, TensorInfo]) -> int:
    """The output, and per piece the noise arrays (measured up to 18.3 pieces for gaussian
    noise, uniform below it; a zero fill up to 0.7 of a piece)."""
    out = outputs.get("glimpse")
    if out is None or not out.nbytes:
        return 0
    factor = 1 if ctx.attrs.get("noise") == "zero" else 20
    return out.nbytes + factor * _piece_bytes(out)


def _patches_working_memory(ctx: InferContext, outputs: Mapping[str, TensorInfo]) -> int:
    """The output, an eighth of it in index tables and a piece of scratch (measured)."""
    del ctx
    out = outputs.get("patches")
    if out is None or not out.nbytes:
        return 0
    return out.nbytes + out.nbytes // 8 + 2 * _KERNEL_PIECE


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
    header = read_header(str(file_info.value), ctx.base_dir)
    _check_cast(header.dtype, dtype)
    _admit_file(header, dtype, ctx.memory_limit)
    file_shape = header.shape
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
        InputPort("initvalues", PortKind.TENSOR, "the values, e.g. {{1,2},{3,4}}", required=False,
                  batched=True),
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
    working_memory=_input_working_memory,
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
    InputPort("input", PortKind.TENSOR, "images [B,H,W,C] float32", dtype="float32",
              batched=True),
    InputPort("size", PortKind.TENSOR, "glimpse size (h, w), int32 [2]", dtype="int32"),
    InputPort(
        "offsets",
        PortKind.TENSOR,
        "window offsets (y, x) per image, float32 [B,2]",
        dtype="float32",
        batched=True,
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
        size_shape=None if size is None or size.value is not None else size.shape,
        **_glimpse_kwargs(ctx.attrs),
    )
    check_input_dtype(None if image is None else image.dtype)  # after the shapes, as run
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
            cancel=ctx.cancel,
            **_glimpse_kwargs(ctx.attrs),
        )
        return {"glimpse": out}

    return run


def _fill_name(attrs: Mapping[str, AttrValue]) -> str:
    noise = str(attrs.get("noise", "uniform"))
    if noise:
        return "zeros" if noise == "zero" else f"{noise} noise"
    return "uniform noise" if attrs.get("uniform_noise", True) else "gaussian noise"


def _glimpse_windows_rule(version: int) -> Any:
    """The results panel's windows over the input: the kernel's own window arithmetic."""

    def windows(image_shape: tuple[int, ...], inputs: Mapping[str, Any],
                attrs: Mapping[str, AttrValue]) -> Windows:
        centered = bool(attrs.get("centered", True))
        normalized = bool(attrs.get("normalized", True))
        mode = f"V{version}, centered={centered}, normalized={normalized}"
        missing = [name for name in ("size", "offsets") if name not in inputs]
        if missing:
            raise InvalidArgumentError(f"({mode}) the node's {', '.join(missing)} are not known")
        size = [int(v) for v in np.asarray(inputs["size"]).reshape(-1)]
        try:
            origins = glimpse_windows(image_shape, size, np.asarray(inputs["offsets"]),
                                      version=version, centered=centered,
                                      normalized=normalized)
        except TensorBlocksError as error:
            raise error.__class__(f"({mode}) {error.reason}") from None
        caption = f"{mode}; hatched: outside the image, filled with {_fill_name(attrs)}."
        return Windows((size[0], size[1]), origins, caption)

    return windows


def _glimpse_block(name: str, title: str, doc: str, kernel: Any, version: int) -> BlockSpec:
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
        working_memory=_glimpse_working_memory,
        color="#c0803a",
        tags=("crop", "window", "attention", "tf.image.extract_glimpse"),
        result_views=(
            ResultView(ResultViewKind.WINDOWS, "Glimpses", output="glimpse", source="input",
                       windows=_glimpse_windows_rule(version)),
        ),
    )


EXTRACT_GLIMPSE = _glimpse_block(
    "ExtractGlimpse",
    "Extract Glimpse",
    "Windows of size (h, w) cut from each image at its offset (V1: centred offsets are the "
    "window centre, unnormalized centred offsets are halved); outside the image: noise or zero.",
    extract_glimpse,
    1,
)

EXTRACT_GLIMPSE_V2 = _glimpse_block(
    "ExtractGlimpseV2",
    "Extract Glimpse V2",
    "As ExtractGlimpse, with V2 offsets (tf.image.extract_glimpse): uncentred offsets are "
    "the window's top-left corner.",
    extract_glimpse_v2,
    2,
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
        cancel=ctx.cancel,
    )
    return {"patches": out}


def _patch_grid(image_shape: tuple[int, ...], inputs: Mapping[str, Any]) -> PatchGrid:
    """The results panel's patch tiles and receptive field: the kernel's own geometry."""
    missing = [name for name in ("ksizes", "strides", "rates", "padding") if name not in inputs]
    if missing:
        raise InvalidArgumentError(f"the node's {', '.join(missing)} are not known")
    ksizes, strides, rates = (_int_list(inputs[name]) for name in ("ksizes", "strides", "rates"))
    padding = str(inputs["padding"])
    if not (len(ksizes) == len(strides) == len(rates) == 4):
        raise InvalidArgumentError("ksizes, strides and rates must have 4 entries each")
    kh, kw = ksizes[1], ksizes[2]
    extent = (kh + (kh - 1) * (rates[1] - 1), kw + (kw - 1) * (rates[2] - 1))
    caption = (f"dilated extent {extent[0]}x{extent[1]} · strides {strides[1]},{strides[2]}"
               f" · rates {rates[1]},{rates[2]} · {padding}")

    def taps(row: int, col: int) -> list[tuple[int, int]]:
        return receptive_field(image_shape, ksizes, strides, rates, padding, row, col)

    return PatchGrid((kh, kw), caption, taps)


EXTRACT_IMAGE_PATCHES = BlockSpec(
    name="ExtractImagePatches",
    title="Extract Image Patches",
    category="Image",
    doc="Every kh x kw patch (dilated by rates, stepped by strides) flattened into the depth "
    "dimension: [B,out_h,out_w,kh*kw*C], patch row then column then channel.",
    inputs=(
        InputPort("images", PortKind.TENSOR, "images [B,H,W,C]", batched=True),
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
    working_memory=_patches_working_memory,
    color="#8a5fbf",
    tags=("im2col", "patches", "tf.image.extract_patches", "conv"),
    result_views=(
        ResultView(ResultViewKind.PATCHES, "Patches", output="patches", source="images",
                   patches=_patch_grid),
    ),
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
