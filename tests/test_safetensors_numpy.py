"""helpers.safetensors_numpy against the real `safetensors` library (a test dependency, not a helpers one).

Same arrays (values, dtype, shape) and metadata on every committed fixture and on random files the real
library writes; corrupt files are refused with a ValueError naming the file; BF16 is upcast to float32.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.reference import REFERENCE_DIR
from helpers.safetensors_numpy import load_file, load_file_with_metadata, load_metadata

safetensors = pytest.importorskip("safetensors", reason="the test extra installs safetensors")
from safetensors import safe_open, serialize_file  # noqa: E402
from safetensors.numpy import load_file as real_load_file  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

FIXTURES = sorted(REFERENCE_DIR.glob("*.safetensors"))
NUMPY_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                np.uint64, np.uint32, np.uint16, np.uint8, np.bool_, np.complex64]


def assert_same(ours: dict, theirs: dict) -> None:
    assert sorted(ours) == sorted(theirs)
    for name, expected in theirs.items():
        got = ours[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        # Bitwise, so NaN payloads and signed zeros count too.
        assert got.tobytes() == expected.tobytes(), name


def real_metadata(path) -> dict:
    with safe_open(path, framework="numpy") as f:
        return f.metadata() or {}


def test_fixtures_exist():
    assert len(FIXTURES) >= 10


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_every_committed_fixture_matches_the_real_library(path):
    tensors, metadata = load_file_with_metadata(path)
    assert_same(tensors, real_load_file(path))
    assert metadata == real_metadata(path) == load_metadata(path)


def random_array(rng, dtype, shape):
    return np.asarray(_random_values(rng, dtype, shape), dtype=dtype)


def _random_values(rng, dtype, shape):
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    if dtype == np.complex64:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    values = rng.standard_normal(shape) * 10.0 ** rng.integers(-5, 5, size=shape)
    return values.astype(dtype)


@pytest.mark.parametrize("seed", range(6))
def test_random_files_of_every_dtype_match_the_real_library(tmp_path, seed):
    rng = np.random.default_rng(seed)
    tensors = {}
    for i, dtype in enumerate(NUMPY_DTYPES):
        for j, shape in enumerate([(), (0,), (3, 0, 2), tuple(rng.integers(1, 6, size=rng.integers(1, 4)))]):
            tensors[f"t{i}.{j}.{np.dtype(dtype).name}"] = random_array(rng, dtype, shape)
    path = tmp_path / "random.safetensors"
    save_file(tensors, path, metadata={"seed": str(seed), "note": "ünïcode"})
    ours, metadata = load_file_with_metadata(path)
    assert_same(ours, real_load_file(path))
    assert_same(ours, tensors)
    assert metadata == {"seed": str(seed), "note": "ünïcode"}


def test_arrays_own_their_memory_and_are_writable():
    tensors = load_file(FIXTURES[0])
    assert tensors
    for array in tensors.values():
        assert array.flags.owndata and array.flags.writeable and array.dtype.isnative


def test_bfloat16_is_upcast_to_float32_exactly(tmp_path):
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**16, size=(4, 5), dtype=np.uint16)
    words[0, :3] = [0x3F80, 0xC000, 0x0000]  # 1.0, -2.0, 0.0 in bfloat16
    path = tmp_path / "bf16.safetensors"
    if hasattr(safetensors, "TensorSpec"):  # safetensors >= 0.7 takes specs, older versions dicts
        spec = safetensors.TensorSpec(dtype="bfloat16", shape=words.shape, data_ptr=words.ctypes.data,
                                      data_len=words.nbytes)
    else:
        spec = {"dtype": "bfloat16", "shape": list(words.shape), "data": words.tobytes()}
    serialize_file({"w": spec}, str(path))
    got = load_file(path)["w"]
    assert got.dtype == np.float32 and got.shape == (4, 5) and got.flags.owndata
    np.testing.assert_array_equal(got.view(np.uint32), words.astype(np.uint32) << 16)
    assert got[0, :3].tolist() == [1.0, -2.0, 0.0]


def test_bfloat16_agrees_with_torch(tmp_path):
    torch = pytest.importorskip("torch", reason="make reference installs torch")
    from safetensors.torch import save_file as torch_save_file

    values = torch.randn(3, 7, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    path = tmp_path / "bf16_torch.safetensors"
    torch_save_file({"v": values}, str(path))
    np.testing.assert_array_equal(load_file(path)["v"], values.float().numpy())


# --- corrupt files -------------------------------------------------------------------------------

def write_raw(path, header: dict | bytes, data: bytes = b"", header_len: int | None = None) -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    length = len(raw) if header_len is None else header_len
    path.write_bytes(struct.pack("<Q", length) + raw + data)


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


CORRUPT = {
    "empty file": (b"", None, b""),
    "header length beyond the file": ({"a": entry()}, 10_000, b"\0" * 8),
    "huge header length": ({"a": entry()}, 2**63, b"\0" * 8),
    "header not utf-8": (b'{"\xff": 1}', None, b""),
    "header not json": (b"{not json", None, b""),
    "header a list": (b"[1, 2]", None, b""),
    "entry not an object": ({"a": 3}, None, b""),
    "entry without dtype": ({"a": {"shape": [1], "data_offsets": [0, 4]}}, None, b"\0" * 4),
    "unknown dtype": ({"a": entry(dtype="F8_E4M3", shape=(2,), offsets=(0, 2))}, None, b"\0" * 2),
    "negative shape": ({"a": entry(shape=(-2,))}, None, b"\0" * 8),
    "float shape": ({"a": entry(shape=(2.0,))}, None, b"\0" * 8),
    "offsets past the data": ({"a": entry(offsets=(0, 8))}, None, b"\0" * 4),
    "offsets not matching the shape": ({"a": entry(shape=(3,), offsets=(0, 8))}, None, b"\0" * 8),
    "begin after end": ({"a": entry(offsets=(8, 0))}, None, b"\0" * 8),
    "one offset": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8]}}, None, b"\0" * 8),
    "overlapping tensors": ({"a": entry(), "b": entry()}, None, b"\0" * 8),
    "gap between tensors": ({"a": entry(), "b": entry(offsets=(12, 20))}, None, b"\0" * 20),
    "trailing bytes": ({"a": entry()}, None, b"\0" * 12),
    "metadata not strings": ({"__metadata__": {"k": 1}}, None, b""),
    "duplicate names": (b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
                        b'"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', None, b"\0"),
    "bool byte other than 0 and 1": ({"a": entry(dtype="BOOL", shape=(2,), offsets=(0, 2))}, None, b"\x00\x07"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_files_raise_a_value_error_naming_the_file(tmp_path, case):
    header, header_len, data = CORRUPT[case]
    path = tmp_path / "broken_model.safetensors"
    if header == b"" and header_len is None:
        path.write_bytes(b"\x05\x00")
    else:
        write_raw(path, header, data, header_len)
    with pytest.raises(ValueError, match="broken_model.safetensors"):
        load_file(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        load_file(tmp_path / "nowhere.safetensors")


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory):
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("valid") / "valid.safetensors"
    save_file({"a": random_array(rng, np.float32, (3, 4)), "b": random_array(rng, np.int8, (5,)),
               "c": random_array(rng, np.bool_, (2, 2))}, path, metadata={"k": "v"})
    return path.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_files_are_refused_or_read_exactly_as_the_real_library_reads_them(tmp_path, valid_bytes, data):
    """Truncate the file, or overwrite one of its bytes: we raise our ValueError naming the file, or we
    return what the real library returns; whenever the real library refuses the file, so do we."""
    raw = bytearray(valid_bytes)
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="keep")]
    else:
        position = data.draw(st.integers(0, len(raw) - 1), label="position")
        raw[position] = data.draw(st.integers(0, 255), label="byte")
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(bytes(raw))
    try:
        theirs = real_load_file(path)
    except Exception:  # the real library raises its own SafetensorError, or a JSON/dtype error
        theirs = None
    try:
        ours = load_file(path)
    except ValueError as err:
        assert "damaged.safetensors" in str(err)
        return
    assert theirs is not None, "the real library refuses this file, we accepted it"
    assert_same(ours, theirs)


def test_helpers_read_every_file_without_the_safetensors_package():
    """helpers depends on NumPy only: with `safetensors` unimportable, the fixtures and MiniLM's reference
    answers still load."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['safetensors'] = None\n"
        "from helpers.reference import load_reference, reference_names\n"
        "from helpers.pretrained import load_minilm_reference\n"
        "assert all(load_reference(name) for name in reference_names())\n"
        "arrays, texts = load_minilm_reference('tokens'); assert arrays['ids'].size and texts\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr
