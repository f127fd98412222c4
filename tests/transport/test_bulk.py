"""The bulk socket beside gRPC: every message once connected, pinned certificates, refusals,
fallback."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from unseen.runtime.errors import ProtocolError
from unseen.runtime.mailbox import MISSING
from unseen.transport.bulk import BulkClient
from unseen.transport.codec import encode
from unseen.transport.grpc import GrpcTransport
from unseen.transport.identity import keygen, load_parties, load_private_key


def _pair(parties_file: Path, telecom_bulk: bool = True) -> tuple[GrpcTransport, GrpcTransport]:
    parties = load_parties(parties_file)
    d = parties_file.parent
    bank = GrpcTransport(parties, "bank", load_private_key(d / "bank.key"))
    tel = GrpcTransport(parties, "telecom", load_private_key(d / "telecom.key"), bulk=telecom_bulk)
    return bank, tel


def _bank_client(parties_file: Path, tel: GrpcTransport) -> BulkClient:
    """A bulk connection from bank straight to telecom's bulk socket."""
    assert tel._bulk_server is not None
    parties = load_parties(parties_file)
    return BulkClient(
        "127.0.0.1",
        tel._bulk_server.port,
        "telecom",
        parties["telecom"].cert_pem,
        load_private_key(parties_file.parent / "bank.key"),
        parties["bank"].cert_pem,
    )


def _send(t: GrpcTransport, key: str, value: object) -> None:
    t.deliver("job", "telecom", key, encode(value), wait=10.0)


def test_messages_take_the_bulk_socket_once_connected_and_arrive_whole(parties_file):
    bank, tel = _pair(parties_file)
    try:
        _send(bank, "hello", b"x")  # the first message goes over gRPC: the peer is up
        assert bank.bytes_via_bulk == 0
        big = np.arange(3 << 17, dtype=np.int64)  # 3 MiB
        _send(bank, "big", big)
        _send(bank, "big2", big[::-1].copy())
        _send(bank, "small", {"op": "tree"})
        got = tel.mailbox.take("job", "bank", "big", timeout=5.0)
        assert np.array_equal(got, big)
        assert np.array_equal(tel.mailbox.take("job", "bank", "big2", timeout=5.0), big[::-1])
        assert tel.mailbox.take("job", "bank", "small", timeout=5.0) == {"op": "tree"}
        small = len(b'{"op":"tree"}')
        assert bank.bytes_via_bulk == 2 * big.nbytes + small
        assert len(bank._bulk_idle["telecom"]) == 1  # one connection, three messages
        # a refusal at the receiver (a key used twice) reaches the sender as over gRPC
        with pytest.raises(ProtocolError, match="refused message 'big'"):
            _send(bank, "big", big)
    finally:
        bank.close()
        tel.close()


def test_a_peer_without_a_bulk_socket_gets_large_messages_over_grpc(parties_file):
    bank, tel = _pair(parties_file, telecom_bulk=False)
    try:
        _send(bank, "hello", b"x")
        big = np.ones(1 << 20, dtype=np.uint8)
        _send(bank, "big", big)
        assert np.array_equal(tel.mailbox.take("job", "bank", "big", timeout=5.0), big)
        assert bank.bytes_via_bulk == 0
    finally:
        bank.close()
        tel.close()


def test_the_bulk_socket_refuses_a_certificate_that_is_not_pinned(parties_file, tmp_path):
    bank, tel = _pair(parties_file)
    try:
        assert tel._bulk_server is not None
        port = tel._bulk_server.port
        stranger = tmp_path / "stranger"
        key, cert, _ = keygen("bank", "127.0.0.1:1", stranger)  # bank's name, another key
        client = BulkClient(
            "127.0.0.1",
            port,
            "telecom",
            load_parties(parties_file)["telecom"].cert_pem,
            key.read_bytes(),
            cert.read_bytes(),
        )
        # TLS 1.3 reports the rejected client certificate on the first read
        with pytest.raises((ssl.SSLError, OSError)):
            client.send(
                b'{"job": "job", "key": "k", "kind": "bytes", "nbytes": 1}', memoryview(b"z"), 5.0
            )
        client.close()
        assert tel.mailbox.take("job", "bank", "k", timeout=0.2) is MISSING
    finally:
        bank.close()
        tel.close()


def test_a_message_cut_short_is_not_delivered(parties_file):
    bank, tel = _pair(parties_file)
    try:
        client = _bank_client(parties_file, tel)
        header = b'{"job": "job", "key": "cut", "kind": "bytes", "nbytes": 100}'
        client._sock.sendall(len(header).to_bytes(4, "little") + header + b"only forty bytes" * 2)
        client.close()  # the connection breaks mid-payload
        assert tel.mailbox.take("job", "bank", "cut", timeout=0.5) is MISSING
    finally:
        bank.close()
        tel.close()


def test_both_ends_send_without_waiting_for_acknowledgements(parties_file):
    """TCP_NODELAY: otherwise a message's last record and its one-byte answer can each
    wait for the peer's delayed acknowledgement (up to 40 ms on Linux) before leaving."""
    bank, tel = _pair(parties_file)
    try:
        client = _bank_client(parties_file, tel)
        header = b'{"job": "job", "key": "small", "kind": "bytes", "nbytes": 5}'
        client.send(header, memoryview(b"hello"), timeout=5.0)
        assert tel.mailbox.take("job", "bank", "small", timeout=5.0) == b"hello"
        assert client._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert tel._bulk_server is not None
        served = list(tel._bulk_server._conns)
        assert served and all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in served)
        client.close()
    finally:
        bank.close()
        tel.close()


def test_a_small_message_does_not_wait_behind_a_large_one_to_the_same_peer(parties_file):
    """Each thread sending at once gets its own connection, and gives it back after."""
    bank, tel = _pair(parties_file)
    try:
        _send(bank, "hello", b"x")
        big = np.ones(64 << 20, dtype=np.uint8)
        sent_big = threading.Thread(target=_send, args=(bank, "big", big))
        sent_big.start()
        while not bank.bytes_via_bulk and not bank._bulk_port.get("telecom"):
            time.sleep(0.001)  # the large one has its connection
        _send(bank, "small", b"s")
        small_done = sent_big.is_alive()  # the small one was not queued behind the large one
        sent_big.join(timeout=30)
        assert tel.mailbox.take("job", "bank", "small", timeout=5.0) == b"s"
        assert np.array_equal(tel.mailbox.take("job", "bank", "big", timeout=5.0), big)
        assert small_done
        assert len(bank._bulk_idle["telecom"]) == 2
    finally:
        bank.close()
        tel.close()


def test_a_receiver_that_closes_right_after_a_delivery_still_answers_it(parties_file):
    """The receiver's job may end as soon as the message is in its mailbox; the sender
    must still get its answer, not a broken connection (it would send the message
    again over gRPC, to a server already gone)."""
    bank, tel = _pair(parties_file)
    try:
        server = tel._bulk_server
        assert server is not None
        real, closing = server._deliver, []

        def deliver_then_close(sender: str, header: dict, buf: np.ndarray) -> str | None:
            refused = real(sender, header, buf)
            closing.append(threading.Thread(target=server.close))  # grace: 1 s
            closing[0].start()
            time.sleep(0.3)  # the job ends, and closes, before the answer is written
            return refused

        server._deliver = deliver_then_close
        client = _bank_client(parties_file, tel)
        header = b'{"job": "job", "key": "last", "kind": "bytes", "nbytes": 4}'
        client.send(header, memoryview(b"done"), timeout=5.0)  # answered: no error
        assert tel.mailbox.take("job", "bank", "last", timeout=1.0) == b"done"
        closing[0].join(timeout=5.0)
        assert not closing[0].is_alive()
        client.close()
    finally:
        bank.close()
        tel.close()
