"""Typed wire format for the values parties exchange.

A message is a small JSON *header* followed by a raw *payload*. The header says
what the payload is, so the receiver rebuilds the value without ever running
code chosen by the sender (no pickle):

=========  ======================================  ==============================
kind       Python value                            payload
=========  ======================================  ==============================
``bytes``  ``bytes`` / ``bytearray`` / memoryview  the bytes
``array``  ``numpy.ndarray`` (no object dtype)     C-order buffer; header: dtype, shape
``json``   ``None``, bool, int, float, str,        UTF-8 JSON (arbitrary-size ints)
           list, tuple, dict with str keys
=========  ======================================  ==============================

The payload of a large array is streamed in chunks by the transport; nothing
here caps its size.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from unseen.runtime.errors import ProtocolError

Value = Any


@dataclass(frozen=True)
class Encoded:
    """A value ready for the wire: its header fields and payload buffer."""

    kind: str
    payload: memoryview
    dtype: str | None = None
    shape: tuple[int, ...] | None = None

    @property
    def nbytes(self) -> int:
        return self.payload.nbytes

    def header(self) -> dict[str, Any]:
        h: dict[str, Any] = {"kind": self.kind, "nbytes": self.nbytes}
        if self.kind == "array":
            h["dtype"] = self.dtype
            h["shape"] = list(self.shape or ())
        return h


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"cannot send a value of type {type(obj).__name__}")


def encode(value: Value) -> Encoded:
    """Encode ``value`` for the wire; raises ``TypeError`` for unsupported types."""
    if isinstance(value, bytes | bytearray | memoryview):
        return Encoded("bytes", memoryview(value).cast("B"))
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("cannot send a numpy array of dtype object")
        arr = value if value.flags.c_contiguous else value.copy(order="C")
        # reshape(-1) keeps zero-size and 0-d arrays representable as a flat byte view
        return Encoded(
            "array",
            memoryview(arr.reshape(-1).view(np.uint8)),  # type: ignore[arg-type]  # numpy stub
            dtype=arr.dtype.str,
            shape=tuple(arr.shape),
        )
    data = json.dumps(value, default=_json_default, separators=(",", ":"), allow_nan=True)
    return Encoded("json", memoryview(data.encode("utf-8")))


def _payload_size(header: dict[str, Any]) -> int:
    nbytes = int(header["nbytes"])
    if nbytes < 0:
        raise ProtocolError(f"negative payload size {nbytes}")
    return nbytes


class ReceiveBuffers:
    """The buffers (uint8) a transport's receiver fills with the payloads headers
    announce, reusing the memory of large payloads.

    Not zeroed: the transports write every byte before they decode it (a payload
    cut short is never decoded), and zeroing first would touch each page twice --
    a third of the receiving CPU of a 24 MB message.

    A buffer of ``min_bytes`` or more is kept after use, and hands its memory to
    a later payload of the same size once nothing else refers to it: the value
    decoded from it (an array over the buffer) and everything derived from that
    are gone (CPython's reference count says so). SecureBoost's ``ss-dealer``
    host receives the dealer's 24 MB of corrections every tree; fresh memory each
    time costs page faults and zeroing while a process's memory grows (the first
    trees of a run took up to twice as long). Buffers past ``max_bytes`` in all,
    oldest first, are let go (those still in use simply stay with their holders).
    """

    #: references to a free buffer while :meth:`_free` counts: the list, the loop
    #: variable and :func:`sys.getrefcount`'s argument
    _FREE_REFS = 3

    def __init__(self, min_bytes: int = 1 << 20, max_bytes: int = 256 << 20) -> None:
        self.min_bytes, self.max_bytes = min_bytes, max_bytes
        self._buffers: list[np.ndarray] = []
        self._lock = threading.Lock()

    def allocate(self, header: dict[str, Any]) -> np.ndarray:
        nbytes = _payload_size(header)
        if nbytes < self.min_bytes:
            return np.empty(nbytes, dtype=np.uint8)
        with self._lock:
            reused = self._free(nbytes)
            if reused is not None:
                return reused
            buf = np.empty(nbytes, dtype=np.uint8)
            self._buffers.append(buf)
            while sum(b.nbytes for b in self._buffers) > self.max_bytes:
                self._buffers.pop(0)
            return buf

    def _free(self, nbytes: int) -> np.ndarray | None:
        """A kept buffer of ``nbytes`` that nothing else refers to, or ``None``."""
        for b in self._buffers:
            if b.nbytes == nbytes and sys.getrefcount(b) <= self._FREE_REFS:
                return b
        return None


def decode(header: dict[str, Any], payload: np.ndarray | bytearray | bytes) -> Value:
    """Rebuild the value described by ``header`` from its ``payload``."""
    kind = header.get("kind")
    if len(payload) != header.get("nbytes"):
        raise ProtocolError(f"payload has {len(payload)} bytes, header says {header.get('nbytes')}")
    if kind == "bytes":
        return bytes(payload)
    if kind == "array":
        dtype = np.dtype(header["dtype"])
        if dtype.hasobject:
            raise ProtocolError("refusing an array of dtype object")
        shape = tuple(int(s) for s in header["shape"])
        arr = np.frombuffer(payload, dtype=dtype)
        return arr.reshape(shape)
    if kind == "json":
        return json.loads(bytes(payload).decode("utf-8"))
    raise ProtocolError(f"unknown message kind {kind!r}")
