"""gRPC over mutual TLS between parties (separate processes or hosts).

Each party runs one gRPC server at its ``listen`` address and opens one channel
per peer; messages take a TLS socket beside it when the peer offers one
(``Bulk`` below). Service ``unseen.Transport`` carries raw bytes only (no
protobuf, no pickle):

``Put`` (unary)
    One message of at most :data:`CHUNK` payload bytes: the length of a JSON
    header (4 bytes, little-endian), the header
    ``{"job", "key", "kind", "nbytes", "dtype"?, "shape"?}``, the payload. One
    call, so a small message costs one round trip and no streaming thread.
``Push`` (client stream -> unary)
    One larger message. The first frame is the JSON header; the payload follows
    in frames of at most :data:`CHUNK` bytes, so messages of any size (2 GB and
    more) pass under gRPC's per-message limit. The receiver writes the frames
    into one preallocated buffer, then puts the decoded value in its mailbox.
``Bulk`` (unary)
    ``{}`` -> ``{"port"}``: where this party's bulk socket listens (on its
    ``listen`` host), ``null`` if it has none. Once a peer has answered, every
    message to it goes there (:mod:`unseen.transport.bulk`: a TLS stream with
    the same pinned certificates, at half gRPC's time for small messages and
    about half its CPU per byte for large ones); when it cannot be reached,
    they go over ``Put`` and ``Push``.
``Fail`` (unary)
    ``{"job", "failure": {...}}``: the job failed at some party, with the root cause.
``Probe`` (unary)
    ``{"job"}`` -> ``{"state", "failure"}``: liveness, job state and, if the job
    failed here, its root cause -- so a peer that missed ``Fail`` still learns it.

Authentication: TLS 1.2+/1.3 with client certificates required. The server
trusts exactly the pinned certificates of the parties file, and every handler
maps the presented certificate's SHA-256 fingerprint back to a party name, so
the sender of a message is the TLS identity, never a claim inside the message.
The client trusts only the pinned certificate of the peer it dials and checks
the peer's name against the certificate's DNS name.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import numpy as np

# gRPC's C core logs every refused handshake; Unseen reports errors itself.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
os.environ.setdefault("GRPC_TRACE", "")

import grpc  # noqa: E402

from unseen.runtime.errors import ConfigError, ProtocolError, TrustError
from unseen.runtime.mailbox import Failure, Mailbox
from unseen.transport.base import PeerUnreachable, Transport
from unseen.transport.bulk import BulkClient, BulkRefused, BulkServer, load_identity
from unseen.transport.codec import Encoded, ReceiveBuffers, decode
from unseen.transport.identity import Parties, cert_fingerprint, check_key_matches

SERVICE = "unseen.Transport"
CHUNK = 4 * 1024 * 1024
_MAX_FRAME = CHUNK + 64 * 1024

_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
_SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_FRAME),
    ("grpc.max_send_message_length", _MAX_FRAME),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.so_reuseport", 0),
    *_KEEPALIVE,
]


def _ident(b: bytes) -> bytes:
    return b


def _unary(ch: grpc.Channel, name: str) -> Any:
    """A raw-bytes unary call of the service on ``ch``."""
    return ch.unary_unary(
        f"/{SERVICE}/{name}", request_serializer=_ident, response_deserializer=_ident
    )


class GrpcTransport(Transport):
    """This party's server and its channels to every peer in the parties file."""

    def __init__(self, parties: Parties, party: str, key_pem: bytes, *, bulk: bool = True) -> None:
        self.party = party
        self.parties = parties
        self.mailbox = Mailbox()
        self._buffers = ReceiveBuffers()  # large payloads' memory, reused once free
        me = parties[party]
        check_key_matches(key_pem, me)
        self._key_pem = key_pem
        self._me = me
        self._by_fingerprint = {p.fingerprint: name for name, p in parties.parties.items()}
        self._fp_cache: dict[bytes, str | None] = {}
        self._channels: dict[str, grpc.Channel] = {}
        # peers whose last push went through: the next one goes without a probe first
        self._connected: set[str] = set()
        self._lock = threading.Lock()
        self._server = self._start_server()
        self._bulk_server = self._start_bulk_server() if bulk else None
        # per peer: where its bulk socket listens (None: it offers none, or it is out of
        # reach), and its open connections not in use: one per thread sending at once, so
        # a small message does not wait behind a large one
        self._bulk_port: dict[str, int | None] = {}
        self._bulk_idle: dict[str, list[BulkClient]] = {}
        self._bulk_lock = threading.Lock()
        self.bytes_via_bulk = 0  # payload bytes sent over bulk connections

    # -- server ---------------------------------------------------------------
    def _start_server(self) -> grpc.Server:
        roots = b"".join(p.cert_pem for p in self.parties.parties.values())
        creds = grpc.ssl_server_credentials(
            [(self._key_pem, self._me.cert_pem)],
            root_certificates=roots,
            require_client_auth=True,
        )
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix=f"{self.party}-rpc"),
            options=_SERVER_OPTIONS,
        )
        handlers = {
            "Push": grpc.stream_unary_rpc_method_handler(
                self._on_push, request_deserializer=_ident, response_serializer=_ident
            ),
            "Put": grpc.unary_unary_rpc_method_handler(
                self._on_put, request_deserializer=_ident, response_serializer=_ident
            ),
            "Bulk": grpc.unary_unary_rpc_method_handler(
                self._on_bulk, request_deserializer=_ident, response_serializer=_ident
            ),
            "Fail": grpc.unary_unary_rpc_method_handler(
                self._on_fail, request_deserializer=_ident, response_serializer=_ident
            ),
            "Probe": grpc.unary_unary_rpc_method_handler(
                self._on_probe, request_deserializer=_ident, response_serializer=_ident
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        try:
            port = server.add_secure_port(self._me.listen, creds)
        except RuntimeError as e:
            raise ConfigError(f"cannot listen on {self._me.listen} for {self.party!r}: {e}") from e
        if port == 0:
            raise ConfigError(
                f"cannot listen on {self._me.listen} for {self.party!r} "
                "(address in use, or not an address of this host)"
            )
        server.start()
        return server

    def _start_bulk_server(self) -> BulkServer | None:
        host = self._me.listen.rpartition(":")[0].strip("[]")
        try:
            return BulkServer(
                host,
                self._key_pem,
                self._me.cert_pem,
                [p.cert_pem for p in self.parties.parties.values()],
                self._by_fingerprint.get,
                self._buffers.allocate,
                self._deliver_bulk,
            )
        except OSError:  # no bulk socket: gRPC carries everything
            return None

    def _deliver_bulk(self, sender: str, header: dict[str, Any], buf: np.ndarray) -> str | None:
        try:
            value = decode(header, buf)
            self.mailbox.put(str(header["job"]), sender, str(header["key"]), value, nbytes=len(buf))
        except (ProtocolError, ValueError, KeyError) as e:
            return f"{type(e).__name__}: {e}"
        return None

    def _on_bulk(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self._sender(context)
        port = self._bulk_server.port if self._bulk_server is not None else None
        return json.dumps({"port": port}).encode()

    def _sender(self, context: grpc.ServicerContext) -> str:
        """The party behind the TLS client certificate of this call."""
        pems = context.auth_context().get("x509_pem_cert") or []
        pem = pems[0] if pems else b""
        with self._lock:
            name = self._fp_cache.get(pem, "?")
            if name == "?":
                try:
                    name = self._by_fingerprint.get(cert_fingerprint(pem))
                except ValueError:
                    name = None
                self._fp_cache[pem] = name
        if name is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "certificate is not pinned here")
        return name  # type: ignore[return-value]

    def _receive(self, context: grpc.ServicerContext, header: bytes, frames: Any) -> bytes:
        """Write ``frames`` into a buffer that ``header`` sizes; the value to the mailbox."""
        sender = self._sender(context)
        try:
            head = json.loads(header)
            buf = self._buffers.allocate(head)
            view = buf.data  # a memoryview of the array
            at = 0
            for frame in frames:
                end = at + len(frame)
                if end > len(buf):
                    raise ProtocolError("payload longer than announced")
                view[at:end] = frame
                at = end
            if at != len(buf):
                raise ProtocolError(f"payload cut short: {at} of {len(buf)} bytes")
            value = decode(head, buf)
            self.mailbox.put(str(head["job"]), sender, str(head["key"]), value, nbytes=at)
        except (ProtocolError, ValueError, KeyError, StopIteration) as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{type(e).__name__}: {e}")
        return b""

    def _on_push(self, frames: Any, context: grpc.ServicerContext) -> bytes:
        try:
            header = next(frames)
        except StopIteration:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty message")
        return self._receive(context, header, frames)

    def _on_put(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        size = int.from_bytes(request[:4], "little")
        body = memoryview(request)
        return self._receive(context, request[4 : 4 + size], [body[4 + size :]])

    def _on_fail(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        sender = self._sender(context)
        msg = json.loads(request)
        self.mailbox.put_failure(str(msg["job"]), Failure.from_json(msg["failure"]), sender)
        return b""

    def _on_probe(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self._sender(context)
        job = str(json.loads(request)["job"])
        state, failure = self.mailbox.status(job)
        reply = {"state": state, "failure": failure.to_json() if failure else None}
        return json.dumps(reply).encode()

    # -- client ---------------------------------------------------------------
    def _channel(self, peer: str) -> grpc.Channel:
        with self._lock:
            ch = self._channels.get(peer)
            if ch is None:
                target = self.parties[peer]
                creds = grpc.ssl_channel_credentials(
                    root_certificates=target.cert_pem,
                    private_key=self._key_pem,
                    certificate_chain=self._me.cert_pem,
                )
                ch = grpc.secure_channel(
                    target.address,
                    creds,
                    options=[
                        ("grpc.ssl_target_name_override", peer),
                        ("grpc.default_authority", peer),
                        ("grpc.max_send_message_length", _MAX_FRAME),
                        ("grpc.max_receive_message_length", _MAX_FRAME),
                        ("grpc.initial_reconnect_backoff_ms", 200),
                        ("grpc.max_reconnect_backoff_ms", 1000),
                        *_KEEPALIVE,
                    ],
                )
                self._channels[peer] = ch
            return ch

    def _ready(
        self, peer: str, wait: float, stop: Callable[[], bool] | None = None
    ) -> grpc.Channel:
        """The channel to ``peer`` once connected; a clear error if TLS refuses it.

        Gives up after ``wait`` seconds, or as soon as ``stop()`` is true.
        """
        ch = self._channel(peer)
        # A probe that waits for the connection: unlike channel_ready_future it
        # leaves no gRPC polling thread behind to outlive the channel.
        probe = _unary(ch, "Probe")
        deadline = time.monotonic() + wait
        while True:
            try:
                probe(b'{"job": ""}', wait_for_ready=True, timeout=min(1.0, max(0.05, wait)))
                return ch
            except grpc.RpcError:
                pass
            # Not connected: find out why, so a certificate problem is not
            # mistaken for a peer that has not started yet.
            reason = tls_preflight(self.parties[peer], self._key_pem, self._me.cert_pem)
            if reason.startswith("tls:"):
                raise TrustError(peer, reason[4:].strip())
            if time.monotonic() >= deadline:
                raise PeerUnreachable(f"{self.parties[peer].address}: {reason}")
            if stop is not None and stop():
                raise PeerUnreachable(f"{self.parties[peer].address}: {reason} (job stopped)")

    def deliver(
        self,
        job: str,
        peer: str,
        key: str,
        message: Encoded,
        *,
        wait: float,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        header = json.dumps({"job": job, "key": key, **message.header()}).encode()
        payload = message.payload
        # a call (bulk or gRPC) may take the peer's budget and a second a megabyte (1 MB/s
        # at the least; one TLS write of a large payload may be bounded as a whole): a
        # frozen peer fails a small send in about peer_timeout, as a gone one does
        call_timeout = max(1.0, wait) + payload.nbytes / 1e6

        def frames() -> Any:
            yield header
            for i in range(0, payload.nbytes, CHUNK):
                yield bytes(payload[i : i + CHUNK])

        if peer in self._connected:  # it answered over gRPC: the bulk socket, if offered
            client = self._bulk_client(peer)
            if client is not None:
                try:
                    client.send(header, payload, timeout=call_timeout)
                except BulkRefused as e:
                    client.close()  # a refusal may have ended the connection: a new one next
                    raise ProtocolError(f"peer {peer!r} refused message {key!r}: {e}") from None
                except (OSError, ValueError):
                    # gRPC below: it also tells a peer that is slow from one that is gone
                    client.close()
                    self._drop_bulk(peer)
                else:
                    self._bulk_done(peer, client)
                    self.bytes_via_bulk += payload.nbytes
                    return len(header) + payload.nbytes
        deadline = time.monotonic() + wait
        while True:
            if peer in self._connected:  # it answered just now: skip the probe's round trip
                ch = self._channel(peer)
            else:
                ch = self._ready(peer, max(0.0, deadline - time.monotonic()), stop)
            try:
                # Connected: do not wait for a peer that goes away meanwhile (it
                # would hold this party until the deadline); fail fast and retry.
                timeout = call_timeout
                if payload.nbytes <= CHUNK:  # one call: no streaming thread, one round trip
                    _unary(ch, "Put")(
                        len(header).to_bytes(4, "little") + header + bytes(payload),
                        wait_for_ready=False,
                        timeout=timeout,
                    )
                else:
                    push = ch.stream_unary(
                        f"/{SERVICE}/Push", request_serializer=_ident, response_deserializer=_ident
                    )
                    push(frames(), wait_for_ready=False, timeout=timeout)
                self._connected.add(peer)
                return len(header) + payload.nbytes
            except grpc.RpcError as e:
                self._connected.discard(peer)
                code = e.code()
                if code == grpc.StatusCode.CANCELLED:
                    # The peer's server stopped mid-message: it went away.
                    raise PeerUnreachable(f"{code.name}: {e.details()}") from None
                if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise ProtocolError(
                        f"peer {peer!r} refused message {key!r}: {e.details()}"
                    ) from None
                if (
                    code == grpc.StatusCode.DEADLINE_EXCEEDED
                    or time.monotonic() >= deadline
                    or (stop is not None and stop())
                ):
                    raise PeerUnreachable(f"{code.name}: {e.details()}") from None
                time.sleep(0.2)

    def _bulk_client(self, peer: str) -> BulkClient | None:
        """An open bulk connection to ``peer`` for this send; ``None`` if it has none.

        An idle one if there is one, else a new one (the first asks the peer, over
        gRPC, where it listens). Hand it back with :meth:`_bulk_done`.
        """
        with self._bulk_lock:
            idle = self._bulk_idle.setdefault(peer, [])
            if idle:
                return idle.pop()
            if peer in self._bulk_port and self._bulk_port[peer] is None:
                return None
        try:
            port = self._bulk_port.get(peer)
            if port is None:
                answer = json.loads(_unary(self._channel(peer), "Bulk")(b"{}", timeout=5.0))
                port = answer.get("port")
                if not (isinstance(port, int) and 0 < port < 65536):
                    port = None
            client = None
            if port is not None:
                host = self.parties[peer].address.rpartition(":")[0]
                client = BulkClient(
                    host, port, peer, self.parties[peer].cert_pem, self._key_pem, self._me.cert_pem
                )
        except (grpc.RpcError, OSError, ValueError):
            port, client = None, None  # an older peer, or its socket is out of reach: gRPC it is
        with self._bulk_lock:
            self._bulk_port[peer] = port
        return client

    def _bulk_done(self, peer: str, client: BulkClient) -> None:
        """``client`` is free for the next message to ``peer``."""
        with self._bulk_lock:
            if self._bulk_port.get(peer) is not None:
                self._bulk_idle.setdefault(peer, []).append(client)
                return
        client.close()  # the peer's socket failed meanwhile

    def _drop_bulk(self, peer: str) -> None:
        """A bulk connection to ``peer`` failed: close the idle ones, ask again next time."""
        with self._bulk_lock:
            self._bulk_port.pop(peer, None)
            idle = self._bulk_idle.pop(peer, [])
        for client in idle:
            client.close()

    def notify_failure(self, job: str, peer: str, failure: Failure, *, wait: float) -> None:
        ch = self._ready(peer, wait)
        call = _unary(ch, "Fail")
        body = json.dumps({"job": job, "failure": failure.to_json()}).encode()
        try:
            call(body, timeout=5.0, wait_for_ready=True)
        except grpc.RpcError as e:
            raise PeerUnreachable(str(e.details())) from None

    def probe(self, peer: str, job: str) -> tuple[str, Failure | None]:
        ch = self._channel(peer)
        call = _unary(ch, "Probe")
        try:
            reply = call(json.dumps({"job": job}).encode(), timeout=3.0)
        except grpc.RpcError as e:
            details = str(e.details())
            if "andshake" in details or "CERTIFICATE" in details:
                reason = tls_preflight(self.parties[peer], self._key_pem, self._me.cert_pem)
                if reason.startswith("tls:"):
                    raise TrustError(peer, reason[4:].strip()) from None
            raise PeerUnreachable(f"{e.code().name}: {details}") from None
        answer = json.loads(reply)
        failure = answer.get("failure")
        return str(answer["state"]), Failure.from_json(failure) if failure else None

    def close(self, grace: float = 1.0) -> None:
        if self._bulk_server is not None:
            self._bulk_server.close(grace)
        with self._bulk_lock:
            clients = [c for idle in self._bulk_idle.values() for c in idle]
            self._bulk_idle, self._bulk_port = {}, {p: None for p in self._bulk_port}
        for client in clients:
            client.close()
        self._server.stop(grace).wait()
        with self._lock:
            for ch in self._channels.values():
                ch.close()
            self._channels.clear()
            self._connected.clear()


def tls_preflight(peer: Any, key_pem: bytes, cert_pem: bytes, timeout: float = 2.0) -> str:
    """Why a connection to ``peer`` fails: ``"tls: ..."`` for certificate problems.

    Dials the peer with Python's ``ssl`` using the same pinned trust, and reads
    the server's first bytes so that a rejection of *our* certificate (which
    TLS 1.3 reports only after the handshake) shows too.
    """
    host, _, port = peer.address.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=peer.cert_pem.decode())
    ctx.set_alpn_protocols(["h2"])
    load_identity(ctx, key_pem, cert_pem)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=peer.name) as s:
                s.settimeout(timeout)
                # HTTP/2 client preface; a live gRPC server answers with SETTINGS
                s.sendall(
                    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                )
                if not s.recv(1):
                    return (
                        f"tls: {peer.name!r} at {peer.address} closed the connection after the "
                        "handshake: it does not pin this party's certificate"
                    )
        return "reachable"
    except ssl.SSLCertVerificationError as e:
        return (
            f"tls: the certificate presented at {peer.address} is not the one pinned for "
            f"{peer.name!r} in the parties file ({e.verify_message})"
        )
    except ssl.SSLError as e:
        if "CERTIFICATE" in str(e).upper() or "UNKNOWN_CA" in str(e).upper():
            return (
                f"tls: {peer.name!r} at {peer.address} refused this party's certificate "
                f"(it does not pin it): {e.reason}"
            )
        return f"TLS error: {e}"
    except (ConnectionRefusedError, TimeoutError) as e:
        return f"not answering ({type(e).__name__})"
    except OSError as e:
        return f"not reachable ({e})"
