import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from unseen.runtime.errors import ProtocolError
from unseen.transport.codec import decode, encode


def roundtrip(value):
    enc = encode(value)
    return decode(enc.header(), bytearray(enc.payload))


@given(st.binary())
def test_bytes_roundtrip(b):
    assert roundtrip(b) == b


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int64, np.uint64, np.float64, np.float32, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    )
)
def test_array_roundtrip(a):
    b = roundtrip(a)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_non_contiguous_array():
    a = np.arange(20).reshape(4, 5)[:, ::2]
    np.testing.assert_array_equal(roundtrip(a), a)


def test_json_values_keep_big_ints():
    v = {"n": 2**2048 + 1, "x": [1.5, None, True, "中文"], "s": "é"}
    assert roundtrip(v) == v


def test_object_arrays_and_unknown_types_refused():
    with pytest.raises(TypeError):
        encode(np.array([object()]))
    with pytest.raises(TypeError):
        encode({"f": object()})


def test_payload_size_mismatch_is_a_protocol_error():
    enc = encode(np.arange(4))
    with pytest.raises(ProtocolError):
        decode(enc.header(), bytearray(bytes(enc.payload)[:-1]))


def test_object_dtype_in_header_refused():
    enc = encode(np.arange(2))
    h = enc.header() | {"dtype": "O"}
    with pytest.raises(ProtocolError):
        decode(h, bytearray(enc.payload))


def test_receive_buffers_reuse_large_payloads_only_once_nothing_refers_to_them():
    from unseen.transport.codec import ReceiveBuffers

    pool = ReceiveBuffers(min_bytes=1 << 12, max_bytes=1 << 16)
    big = {"nbytes": 1 << 13}
    first = pool.allocate(big)
    value = decode({"kind": "array", "dtype": "<u8", "shape": [1024], **big}, first)
    first_id = id(first)
    del first
    # the decoded array still refers to the buffer: a new one
    second = pool.allocate(big)
    assert id(second) != first_id and not np.shares_memory(second, value)
    del value
    third = pool.allocate(big)  # the first buffer again, nothing refers to it now
    assert id(third) == first_id
    # small payloads are never kept; other sizes get their own buffer
    assert pool.allocate({"nbytes": 100}).size == 100
    assert pool.allocate({"nbytes": 1 << 14}).size == 1 << 14
    # past max_bytes the oldest buffers are let go (those in use stay with their holders)
    held = [pool.allocate(big) for _ in range(12)]  # 96 kB in use
    assert len({id(b) for b in held}) == 12
    assert sum(b.nbytes for b in pool._buffers) <= 1 << 16
    with pytest.raises(ProtocolError, match="negative"):
        pool.allocate({"nbytes": -1})
