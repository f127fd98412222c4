"""The gRPC transport over mutual TLS, with both parties' transports in this process."""

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from unseen.runtime.context import Context, RuntimeConfig, run_role
from unseen.runtime.errors import ConfigError, PeerError, RemoteError
from unseen.runtime.launch import make_parties
from unseen.transport import grpc as tgrpc
from unseen.transport.codec import encode
from unseen.transport.grpc import GrpcTransport
from unseen.transport.identity import keygen, load_parties, load_private_key

CFG = RuntimeConfig(connect_timeout=8.0, peer_timeout=2.0, heartbeat=0.2, recv_timeout=120)


def transports(parties_file: Path):
    parties = load_parties(parties_file)
    d = parties_file.parent
    return {
        n: GrpcTransport(parties, n, load_private_key(d / f"{n}.key")) for n in ("bank", "telecom")
    }


def run_pair(ts, bank_role, telecom_role, cfg=CFG):
    results, errors = {}, {}

    def main(name, role):
        ctx = Context("job", name, ["bank", "telecom"], ts[name], config=cfg)
        try:
            results[name] = run_role(ctx, role)
        except Exception as e:
            errors[name] = e

    threads = [
        threading.Thread(target=main, args=("bank", bank_role)),
        threading.Thread(target=main, args=("telecom", telecom_role)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results, errors


def test_large_array_is_chunked_and_streamed(parties_file, monkeypatch):
    # small chunks so that a modest array still crosses in many frames
    monkeypatch.setattr(tgrpc, "CHUNK", 64 * 1024)
    ts = transports(parties_file)
    data = np.arange(3_000_000, dtype=np.int64)  # 24 MB, 366 frames

    def bank(ctx):
        ctx.send("telecom", "big", data)
        return ctx.recv("telecom", "digest")

    def telecom(ctx):
        got = ctx.recv("bank", "big")
        ctx.send("bank", "digest", {"sum": int(got.sum()), "n": int(got.size)})
        return ctx.bytes_received

    try:
        results, errors = run_pair(ts, bank, telecom)
    finally:
        for t in ts.values():
            t.close()
    assert not errors, errors
    assert results["bank"] == {"sum": int(data.sum()), "n": data.size}
    assert results["telecom"] == data.nbytes


def test_a_put_whose_payload_differs_from_its_header_is_refused(parties_file):
    """A small message crosses in one ``Put`` call; the receiver checks it against its header."""
    import json

    import grpc

    ts = transports(parties_file)
    try:
        ts["bank"].deliver("job", "telecom", "ok", encode(np.arange(4)), wait=5.0)
        assert ts["telecom"].mailbox.take("job", "bank", "ok", timeout=1.0).tolist() == [0, 1, 2, 3]
        put = tgrpc._unary(ts["bank"]._channel("telecom"), "Put")
        header = json.dumps({"job": "job", "key": "bad", "kind": "bytes", "nbytes": 5}).encode()
        with pytest.raises(grpc.RpcError) as info:
            put(len(header).to_bytes(4, "little") + header + b"abc", timeout=5.0)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "cut short: 3 of 5 bytes" in str(info.value.details())
    finally:
        for t in ts.values():
            t.close()


@pytest.mark.slow
def test_two_gigabyte_array(parties_file):
    ts = transports(parties_file)
    n = (2 * 1024**3) // 8 + 1  # just over 2 GiB: beyond any protobuf/gRPC message cap

    def bank(ctx):
        ctx.send("telecom", "huge", np.ones(n, dtype=np.float64))

    def telecom(ctx):
        got = ctx.recv("bank", "huge")
        return got.shape, float(got[-1])

    try:
        results, errors = run_pair(ts, bank, telecom)
    finally:
        for t in ts.values():
            t.close()
    assert not errors, errors
    assert results["telecom"] == ((n,), 1.0)


def test_error_at_one_party_reaches_the_other(parties_file):
    ts = transports(parties_file)

    def bank(ctx):
        with ctx.step("read input"):
            raise ValueError("bank.csv: column 'age' not found")

    def telecom(ctx):
        return ctx.recv("bank", "never")

    try:
        t0 = time.monotonic()
        _, errors = run_pair(ts, bank, telecom)
        elapsed = time.monotonic() - t0
    finally:
        for t in ts.values():
            t.close()
    assert isinstance(errors["telecom"], RemoteError)
    assert "column 'age' not found" in str(errors["telecom"])
    assert errors["telecom"].step == "read input"
    assert elapsed < 5


def test_stopped_peer_fails_the_waiting_party(parties_file):
    ts = transports(parties_file)
    ctx = Context("job", "bank", ["bank", "telecom"], ts["bank"], config=CFG)
    # telecom answers once, then its process "dies"
    assert ts["bank"].probe("telecom", "job") == ("unknown", None)
    ctx._seen["telecom"] = time.monotonic()
    ts["telecom"].close(grace=0)
    t0 = time.monotonic()
    try:
        with pytest.raises(PeerError, match="'telecom'"):
            ctx.recv("telecom", "x")
    finally:
        ts["bank"].close()
    assert time.monotonic() - t0 < CFG.peer_timeout + 4


def test_a_send_to_a_frozen_peer_fails_within_twice_its_budget(parties_file):
    """A peer that takes the bytes and never answers (a stopped process, a hung machine:
    its kernel still accepts data) fails a send in about peer_timeout over the bulk
    socket, then as long again over gRPC; not after the minute a slow link might need."""
    ts = transports(parties_file)
    frozen, thawed = threading.Event(), threading.Event()
    put = ts["telecom"].mailbox.put

    def hang_when_frozen(*args, **kwargs):
        if frozen.is_set():
            # never answers while the test runs; let go at its end, or the interpreter's
            # exit would wait for this server thread (up to two minutes after the suite)
            thawed.wait(120)
        return put(*args, **kwargs)

    ts["telecom"].mailbox.put = hang_when_frozen  # type: ignore[method-assign]
    ctx = Context("job", "bank", ["bank", "telecom"], ts["bank"], config=CFG)
    try:
        ctx.send("telecom", "first", b"hello")  # over gRPC: from now on the bulk socket
        ctx.send("telecom", "second", np.arange(1000))
        assert ts["bank"].bytes_via_bulk > 0
        frozen.set()
        t0 = time.monotonic()
        with pytest.raises(PeerError, match="'telecom'"):
            ctx.send("telecom", "third", np.arange(1000))
        assert time.monotonic() - t0 < 2 * CFG.peer_timeout + 3
    finally:
        thawed.set()
        for t in ts.values():
            t.close(grace=0)


def _impostor(parties_file: Path, tmp_path: Path) -> Path:
    """A copy of the setup where 'telecom' has a different key than the one bank pins."""
    d2 = tmp_path / "impostor"
    d2.mkdir()
    shutil.copy(parties_file, d2 / "parties.toml")
    shutil.copy(parties_file.parent / "bank.crt", d2 / "bank.crt")
    address = load_parties(parties_file)["telecom"].address
    keygen("telecom", address, d2, force=True)
    return d2 / "parties.toml"


def test_wrong_certificate_is_refused_on_both_sides(parties_file, tmp_path):
    fake = _impostor(parties_file, tmp_path)
    bank = GrpcTransport(
        load_parties(parties_file), "bank", load_private_key(parties_file.parent / "bank.key")
    )
    telecom = GrpcTransport(
        load_parties(fake), "telecom", load_private_key(fake.parent / "telecom.key")
    )
    ts = {"bank": bank, "telecom": telecom}
    try:
        t0 = time.monotonic()
        _, errors = run_pair(
            ts, lambda ctx: ctx.recv("telecom", "x"), lambda ctx: ctx.send("bank", "x", b"hi")
        )
        elapsed = time.monotonic() - t0
    finally:
        bank.close()
        telecom.close()
    # the bank sees a certificate that is not the pinned one; the impostor is refused
    assert isinstance(errors["bank"], ConfigError | RemoteError), errors
    assert isinstance(errors["telecom"], ConfigError | RemoteError), errors
    text = f"{errors['bank']} {errors['telecom']}"
    assert "pinned" in text or "does not pin" in text
    assert elapsed < CFG.connect_timeout


def test_server_identifies_sender_by_certificate(parties_file):
    ts = transports(parties_file)

    def bank(ctx):
        ctx.send("telecom", "hello", "from bank")

    def telecom(ctx):
        return ctx.recv("bank", "hello")

    try:
        results, errors = run_pair(ts, bank, telecom)
    finally:
        for t in ts.values():
            t.close()
    assert results["telecom"] == "from bank"


def test_private_key_must_match_certificate(parties_file):
    parties = load_parties(parties_file)
    with pytest.raises(ConfigError, match="does not match"):
        GrpcTransport(parties, "bank", load_private_key(parties_file.parent / "telecom.key"))


def test_failure_reaches_a_peer_that_starts_late(parties_file):
    """A party that fails before its peer is up still gives it the root cause.

    The bank gives up notifying after its connect timeout (1 s); the telecom starts
    later and learns the root cause from its probe of the bank.
    """
    parties = load_parties(parties_file)
    d = parties_file.parent
    bank = GrpcTransport(parties, "bank", load_private_key(d / "bank.key"))

    def failing_bank():
        quick = RuntimeConfig(connect_timeout=1.0, peer_timeout=1.0, heartbeat=0.2)
        ctx = Context("job", "bank", ["bank", "telecom"], bank, config=quick)
        try:
            with ctx, ctx.step("read input"):
                raise ValueError("bank.csv, row 3, column 'age': not a number")
        except ValueError:
            pass

    t = threading.Thread(target=failing_bank)
    t.start()
    time.sleep(2.5)  # the telecom starts after the bank has given up telling it
    telecom = GrpcTransport(parties, "telecom", load_private_key(d / "telecom.key"))
    try:
        ctx = Context("job", "telecom", ["bank", "telecom"], telecom, config=CFG)
        with pytest.raises(RemoteError, match="row 3, column 'age'") as info:
            ctx.recv("bank", "hello")
        assert info.value.party == "bank" and info.value.step == "read input"
        t.join(10)
        assert not t.is_alive()
    finally:
        bank.close()
        telecom.close()


def test_a_send_waiting_for_a_missing_peer_stops_when_the_job_fails(tmp_path):
    """The bank waits to send to a telecom that never starts; the dealer's failure ends it."""
    parties_file = make_parties(tmp_path / "keys", ["bank", "dealer", "telecom"])
    parties = load_parties(parties_file)
    d = parties_file.parent
    names = ["bank", "dealer", "telecom"]
    slow = RuntimeConfig(connect_timeout=60.0, peer_timeout=2.0, heartbeat=0.2)
    bank = GrpcTransport(parties, "bank", load_private_key(d / "bank.key"))
    dealer = GrpcTransport(parties, "dealer", load_private_key(d / "dealer.key"))
    try:
        ctx = Context("job", "bank", names, bank, config=slow)

        def failing_dealer():
            time.sleep(1.0)
            dctx = Context("job", "dealer", names, dealer, config=slow)
            try:
                with dctx, dctx.step("deal"):
                    raise RuntimeError("out of randomness")
            except RuntimeError:
                pass

        threading.Thread(target=failing_dealer, daemon=True).start()
        t0 = time.monotonic()
        with pytest.raises(RemoteError, match="out of randomness"):
            ctx.send("telecom", "x", b"never delivered")
        assert time.monotonic() - t0 < 10  # not the 60 s connect timeout
    finally:
        bank.close()
        dealer.close()
