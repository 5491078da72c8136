"""A reader of the safetensors format in plain NumPy (and the standard library): no pickle, no extra package.

The format (https://huggingface.co/docs/safetensors, "Format"):

    [8 bytes]  N, the header's length, an unsigned 64-bit little-endian integer
    [N bytes]  the header: UTF-8 JSON, ``{name: {"dtype": "F32", "shape": [2, 3],
               "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}`` (may end in spaces)
    [rest]     the data buffer: every tensor's bytes, row-major, little-endian; ``begin``/``end`` count
               from the buffer's start, and the tensors tile the buffer exactly (no gap, no overlap)

``load_file(path)`` returns ``{name: np.ndarray}`` like ``safetensors.numpy.load_file``, with two
deliberate differences:

- bfloat16 (``BF16``) tensors are upcast to float32 (NumPy has no bfloat16; every bfloat16 value is
  exactly a float32, so nothing is lost). The real library's NumPy reader refuses them.
- every array owns its memory (``arr.flags.owndata``): changing one never changes another, nor the file.

A file that is truncated, has a bad header, an unknown dtype, or offsets that do not match the shapes or
the file's size raises ``ValueError`` naming the file and what is wrong. Nothing is executed or
unpickled: the header is JSON, the data raw numbers.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["DTYPES", "load_file", "load_metadata", "load_file_with_metadata"]

# safetensors dtype name -> the little-endian NumPy dtype its bytes are read as.
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # read as raw 16-bit words, then upcast to float32 (see _bfloat16_to_float32)
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("u1"),  # one byte per value, 0 or 1
    "C64": np.dtype("<c8"),
}

# The real library refuses headers above 100 MB; so do we (a corrupt length must not allocate gigabytes).
MAX_HEADER_BYTES = 100_000_000


def load_file(path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file, by name, as NumPy arrays that own their memory.

    BF16 tensors come back as float32 (exact upcast); every other dtype as itself, in native byte order.
    Raises FileNotFoundError for a missing file, ValueError (naming the file) for a corrupt one.
    """
    return load_file_with_metadata(path)[0]


def load_metadata(path) -> dict[str, str]:
    """The header's ``__metadata__`` table (free-form strings), ``{}`` when there is none."""
    path = Path(path)
    with open(path, "rb") as f:
        _, metadata, _ = _read_header(f, path)
    return metadata


def load_file_with_metadata(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)``: ``load_file`` and ``load_metadata`` in one read of the file."""
    path = Path(path)
    with open(path, "rb") as f:
        entries, metadata, data_start = _read_header(f, path)
        tensors = {}
        for name, (dtype_name, shape, begin, end) in entries.items():
            f.seek(data_start + begin)
            tensors[name] = _read_tensor(f, path, name, dtype_name, shape, end - begin)
    return tensors, metadata


def _corrupt(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: not a valid safetensors file: {what}")


def _reject_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"duplicate keys {duplicated}")
    return dict(pairs)


def _read_header(f, path: Path):
    """Parse and check the header; returns ``({name: (dtype, shape, begin, end)}, metadata, data_start)``."""
    file_size = os.fstat(f.fileno()).st_size
    prefix = f.read(8)
    if len(prefix) < 8:
        raise _corrupt(path, f"the file has {file_size} bytes, fewer than the 8 of the header length")
    header_len = int.from_bytes(prefix, "little")
    if header_len > MAX_HEADER_BYTES:
        raise _corrupt(path, f"header length {header_len} bytes exceeds the limit of {MAX_HEADER_BYTES}")
    if 8 + header_len > file_size:
        raise _corrupt(path, f"header length {header_len} bytes, but the file has only {file_size - 8} "
                             "bytes after the length (truncated?)")
    raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        raise _corrupt(path, f"the header is not UTF-8 JSON ({err})") from None
    if not isinstance(header, dict):
        raise _corrupt(path, f"the header must be a JSON object, got {type(header).__name__}")

    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _corrupt(path, "__metadata__ must map strings to strings")

    data_len = file_size - 8 - header_len
    entries = {}
    for name, info in header.items():
        entries[name] = _check_entry(path, name, info)

    # The tensors must tile the data buffer exactly, as the real library demands: no gap, no overlap,
    # no trailing bytes (a truncated or padded file is caught here).
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: (item[1][2], item[1][3])):
        if begin != position:
            what = "overlaps the previous tensor" if begin < position else "leaves a gap before it"
            raise _corrupt(path, f"tensor {name!r} starts at byte {begin} of the data, expected {position} "
                                 f"({what})")
        position = end
    if position != data_len:
        raise _corrupt(path, f"the tensors need {position} bytes of data, the file holds {data_len}"
                             + (" (truncated?)" if position > data_len else " (trailing bytes)"))
    return entries, metadata, 8 + header_len


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entry(path: Path, name: str, info) -> tuple[str, tuple[int, ...], int, int]:
    if not isinstance(info, dict):
        raise _corrupt(path, f"tensor {name!r}: expected an object with dtype, shape and data_offsets, "
                             f"got {info!r:.80}")
    missing = {"dtype", "shape", "data_offsets"} - set(info)
    if missing:
        raise _corrupt(path, f"tensor {name!r} lacks {sorted(missing)}")
    dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype_name not in DTYPES:
        raise _corrupt(path, f"tensor {name!r} has dtype {dtype_name!r}; this reader handles "
                             f"{sorted(DTYPES)}")
    if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
        raise _corrupt(path, f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r:.80}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise _corrupt(path, f"tensor {name!r}: data_offsets must be [begin, end] with 0 <= begin <= end, "
                             f"got {offsets!r:.80}")
    begin, end = offsets
    expected = math.prod(shape) * DTYPES[dtype_name].itemsize
    if end - begin != expected:
        raise _corrupt(path, f"tensor {name!r}: shape {tuple(shape)} of {dtype_name} needs {expected} bytes, "
                             f"data_offsets {offsets} give {end - begin}")
    return dtype_name, tuple(shape), begin, end


def _read_tensor(f, path: Path, name: str, dtype_name: str, shape: tuple[int, ...], nbytes: int) -> np.ndarray:
    # Read straight into a fresh array: it owns its memory, and the file is never held twice.
    array = np.empty(shape, dtype=DTYPES[dtype_name])
    got = f.readinto(array.reshape(-1).view(np.uint8)) if nbytes else 0
    if got != nbytes:
        raise _corrupt(path, f"tensor {name!r}: read {got} of {nbytes} bytes (file changed while reading?)")
    if dtype_name == "BOOL":
        if array.size and array.max() > 1:
            raise _corrupt(path, f"tensor {name!r} is BOOL but holds bytes other than 0 and 1")
        return array.astype(np.bool_)
    if dtype_name == "BF16":
        return _bfloat16_to_float32(array)
    if sys.byteorder == "big" and array.dtype.itemsize > 1:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _bfloat16_to_float32(words: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: shifting its 16 bits up gives the same value, exactly."""
    result = np.empty(words.shape, dtype=np.float32)
    bits = result.view(np.uint32)
    bits[...] = words
    bits <<= 16
    return result
