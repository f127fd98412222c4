"""Bulk channel: messages over a direct mutual-TLS stream beside gRPC.

gRPC's Python stack spends 5-7 ms of CPU per MB of a large message (both
ends together) on the 2-core reference machine; a TLS 1.3 socket of Python's
``ssl`` (OpenSSL, AES-GCM) 1.8-2.4 times less, and delivers 1.8-3.1 times
sooner (``benchmarks/transport.py``, two processes on loopback). Small
messages gain too: 0.87 ms a 10-byte message instead of 1.59 ms, 1.7 ms for
250 kB instead of 4.1. Where parties are CPU-bound and trade many messages --
SecureBoost's ``ss-dealer`` moves 24 MB of dealer corrections per tree at
workload (b), and a few small messages per depth -- that counts. So each
party also listens on a TLS socket (an ephemeral port on its ``listen``
host), and every message goes that way once the peer has answered over gRPC
and told where it listens (``Bulk`` call). gRPC stays the control channel:
the first message to a peer, failure notices and probes, and every message
whenever the bulk socket cannot be reached (a firewall, say) -- the sender
falls back to gRPC for that message, so the bulk socket only ever makes a
job faster.

Authentication is the gRPC transport's: TLS 1.3 with client certificates
required; each side trusts exactly the pinned certificates of the parties
file, the client checks the server's name against the certificate's DNS name,
and the server names the sender by the SHA-256 fingerprint of the certificate
the client presented -- never by a claim inside the message.

Framing, per message on a connection that stays open: the length of a JSON
header (4 bytes, little-endian), the header (as for gRPC ``Push``), the
payload. The receiver answers one byte ``0`` once the message is in its
mailbox, or ``1`` followed by the reason it refused it. Every read and write
is bounded by a timeout; a connection that breaks mid-message delivers
nothing.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_HEADER_MAX = 1 << 16
_HANDSHAKE_TIMEOUT = 10.0  # seconds for a TLS handshake, or between the parts of a message
_CONNECT_TIMEOUT = 3.0  # a bulk socket out of reach costs this once per peer
_IDLE_TIMEOUT = 3600.0  # an open connection may wait this long for its next message


def load_identity(ctx: ssl.SSLContext, key_pem: bytes, cert_pem: bytes) -> None:
    """Give ``ctx`` this party's key and certificate.

    ``ssl`` reads them from files only: a private folder, the key owner-only, gone at once.
    """
    with tempfile.TemporaryDirectory() as d:
        k, c = Path(d) / "k.pem", Path(d) / "c.pem"
        k.touch(mode=0o600)
        k.write_bytes(key_pem)
        c.write_bytes(cert_pem)
        ctx.load_cert_chain(str(c), str(k))


def _no_delay(sock: socket.socket) -> None:
    """Send each write at once (no Nagle): a message's last TLS record and the one-byte
    answer would otherwise wait for the peer's delayed acknowledgement, up to 40 ms."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _recv_exactly(sock: ssl.SSLSocket, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:], len(view) - got)
        if n == 0:
            raise ConnectionError("the peer closed the connection mid-message")
        got += n


class BulkServer:
    """This party's bulk socket: each message read goes to ``deliver(sender, header, buffer)``.

    ``sender_of`` maps a certificate's fingerprint to a party name (``None``:
    not a party here); ``allocate`` gives the buffer a header announces;
    ``deliver`` returns ``None`` once the message is in the mailbox, or the
    reason it refuses it.
    """

    def __init__(
        self,
        host: str,
        key_pem: bytes,
        cert_pem: bytes,
        trusted: list[bytes],
        sender_of: Callable[[str], str | None],
        allocate: Callable[[dict[str, Any]], np.ndarray],
        deliver: Callable[[str, dict[str, Any], np.ndarray], str | None],
    ) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata="".join(pem.decode() for pem in trusted))
        load_identity(ctx, key_pem, cert_pem)
        self._ctx = ctx
        self._sender_of, self._allocate, self._deliver = sender_of, allocate, deliver
        self._sock = socket.create_server((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self._closed = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._busy = 0  # connections between a message's first byte and its answer
        self._idle = threading.Condition(self._lock)
        threading.Thread(target=self._accept, name="bulk-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                raw, _ = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(raw,), name="bulk-conn", daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        conn: socket.socket = raw  # what close() shuts down: the TLS socket once wrapped
        with self._lock:
            self._conns.add(conn)
        try:
            _no_delay(raw)
            raw.settimeout(_HANDSHAKE_TIMEOUT)
            with self._ctx.wrap_socket(raw, server_side=True) as s:
                with self._lock:  # wrapping took over raw's descriptor
                    self._conns.discard(conn)
                    conn = s
                    self._conns.add(conn)
                der = s.getpeercert(binary_form=True) or b""
                sender = self._sender_of(hashlib.sha256(der).hexdigest())
                if sender is None:
                    return
                while self._serve_one(s, sender):
                    pass
        except (OSError, ValueError):
            return  # broken or refused: the sender sees it and falls back to gRPC
        finally:
            with self._lock:
                self._conns.discard(conn)

    def _serve_one(self, s: ssl.SSLSocket, sender: str) -> bool:
        """Read, deliver and answer one message; ``False`` when the connection is done."""
        s.settimeout(_IDLE_TIMEOUT)
        size_bytes = bytearray(4)
        try:
            _recv_exactly(s, memoryview(size_bytes))
        except ConnectionError:
            return False  # closed between messages: the normal end
        with self._lock:
            self._busy += 1
        try:
            return self._read_and_answer(s, sender, size_bytes)
        finally:
            with self._lock:
                self._busy -= 1
                self._idle.notify_all()

    def _read_and_answer(self, s: ssl.SSLSocket, sender: str, size_bytes: bytearray) -> bool:
        s.settimeout(_HANDSHAKE_TIMEOUT)
        size = int.from_bytes(size_bytes, "little")
        if size > _HEADER_MAX:
            s.sendall(b"\x01header too long")
            return False
        head = bytearray(size)
        _recv_exactly(s, memoryview(head))
        try:
            header = json.loads(head)
            buf = self._allocate(header)
        except Exception as e:  # noqa: BLE001 - the refusal names it
            s.sendall(b"\x01" + f"{type(e).__name__}: {e}".encode())
            return False
        _recv_exactly(s, buf.data)
        refused = self._deliver(sender, header, buf)
        s.sendall(b"\x00" if refused is None else b"\x01" + refused.encode())
        return True

    def close(self, grace: float = 1.0) -> None:
        """Stop listening, let messages being read get their answer (up to ``grace``
        seconds: a sender whose message was delivered must not see the connection
        break and send it again), then shut every connection down."""
        self._closed.set()
        self._sock.close()
        with self._lock:
            self._idle.wait_for(lambda: self._busy == 0, timeout=grace)
            for c in list(self._conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class BulkRefused(Exception):
    """The receiver read the message and refused it; the reason is the message."""


class BulkClient:
    """An open bulk connection to ``peer``, checked against its pinned certificate."""

    def __init__(
        self,
        host: str,
        port: int,
        peer: str,
        peer_cert_pem: bytes,
        key_pem: bytes,
        cert_pem: bytes,
    ) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks the name against the cert
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(cadata=peer_cert_pem.decode())
        load_identity(ctx, key_pem, cert_pem)
        raw = socket.create_connection((host.strip("[]"), port), timeout=_CONNECT_TIMEOUT)
        try:
            _no_delay(raw)
            raw.settimeout(_HANDSHAKE_TIMEOUT)
            self._sock = ctx.wrap_socket(raw, server_hostname=peer)
        except BaseException:
            raw.close()
            raise
        self._lock = threading.Lock()

    def send(self, header: bytes, payload: memoryview, timeout: float) -> None:
        """Send one message; returns once the peer holds it.

        Raises ``OSError`` if the connection fails (nothing was delivered, or
        the peer is gone) and :class:`BulkRefused` if the peer refused it.
        """
        with self._lock:
            self._sock.settimeout(timeout)
            self._sock.sendall(len(header).to_bytes(4, "little") + header)
            self._sock.sendall(payload)
            answer = self._sock.recv(1 + _HEADER_MAX)
            if not answer:
                raise ConnectionError("the peer closed the bulk connection")
            if answer[:1] != b"\x00":
                raise BulkRefused(answer[1:].decode(errors="replace"))

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass
