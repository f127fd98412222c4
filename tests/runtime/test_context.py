"""The runtime in-process: messaging, failure propagation, bounded waits, isolation."""

import threading
import time

import numpy as np
import pytest

from unseen.runtime.context import Context, RuntimeConfig, run_role
from unseen.runtime.errors import (
    InputError,
    JobCancelled,
    PeerError,
    ProtocolError,
    RemoteError,
    TrustError,
)
from unseen.runtime.local import Transcript, run_local
from unseen.transport.memory import MemoryNetwork

FAST = RuntimeConfig(connect_timeout=3.0, peer_timeout=1.0, heartbeat=0.1, recv_timeout=20)


def test_send_recv_arrays_bytes_and_objects():
    def alice(ctx):
        ctx.send("bob", "arr", np.arange(10, dtype=np.int64))
        ctx.send("bob", "raw", b"\x00\x01")
        return ctx.recv("bob", "reply")

    def bob(ctx):
        a = ctx.recv("alice", "arr")
        raw = ctx.recv("alice", "raw")
        ctx.send("alice", "reply", {"sum": int(a.sum()), "raw": raw.hex(), "peers": ctx.peers})
        return ctx.party

    out = run_local({"alice": alice, "bob": bob})
    assert out["alice"] == {"sum": 45, "raw": "0001", "peers": ["alice"]}
    assert out["bob"] == "bob"


def test_messages_may_arrive_in_any_order():
    def a(ctx):
        for i in range(5):
            ctx.send("b", f"m{i}", i)

    def b(ctx):
        return [ctx.recv("a", f"m{i}") for i in reversed(range(5))]

    assert run_local({"a": a, "b": b})["b"] == [4, 3, 2, 1, 0]


def test_root_cause_reaches_every_party():
    def broken(ctx):
        with ctx.step("load data"):
            raise ValueError("column 'age' is not numeric")

    def waiting(ctx):
        return ctx.recv("broken", "never")

    net = MemoryNetwork(["broken", "w1", "w2"])
    errors = {}

    def main(name, role):
        ctx = Context("job", name, ["broken", "w1", "w2"], net.transport(name), config=FAST)
        try:
            run_role(ctx, role)
        except Exception as e:
            errors[name] = e

    ts = [
        threading.Thread(target=main, args=(n, broken if n == "broken" else waiting))
        for n in ["broken", "w1", "w2"]
    ]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert time.monotonic() - t0 < 5
    assert isinstance(errors["broken"], ValueError)
    for w in ("w1", "w2"):
        e = errors[w]
        assert isinstance(e, RemoteError)
        assert e.party == "broken" and e.step == "load data"
        assert "column 'age' is not numeric" in str(e)


def test_ctrl_c_inside_a_compiled_loop_is_an_interrupt_here_and_at_the_peers():
    """Numba hands a KeyboardInterrupt raised in a compiled loop back as a SystemError
    caused by it: the party ends with the interrupt, and its peers are told of one."""

    def interrupted(ctx):
        with ctx.step("tree 3 depth 1: histograms"):
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as e:
                raise SystemError(
                    "CPUDispatcher(...) returned a result with an exception set"
                ) from e

    def waiting(ctx):
        return ctx.recv("guest", "never")

    net = MemoryNetwork(["guest", "host"])
    errors: dict[str, BaseException] = {}

    def main(name, role):
        ctx = Context("job", name, ["guest", "host"], net.transport(name), config=FAST)
        try:
            run_role(ctx, role)
        except BaseException as e:  # noqa: BLE001 - checked below
            errors[name] = e

    ts = [
        threading.Thread(target=main, args=(n, r))
        for n, r in [("guest", interrupted), ("host", waiting)]
    ]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert isinstance(errors["guest"], KeyboardInterrupt)
    remote = errors["host"]
    assert isinstance(remote, RemoteError) and remote.step == "tree 3 depth 1: histograms"
    assert "KeyboardInterrupt: interrupted (Ctrl-C or SIGINT)" in str(remote)
    assert "CPUDispatcher" not in str(remote)


def test_a_system_error_of_another_cause_stays_itself():
    def broken(ctx):
        raise SystemError("something else")

    with pytest.raises(SystemError, match="something else"):
        run_local({"a": broken, "b": lambda ctx: ctx.recv("a", "never")}, config=FAST)


def test_a_bad_cell_is_shown_here_and_never_sent_to_peers():
    """An input error names file, row and column everywhere; the cell itself (this
    party's data) only in the party that read it."""
    secret = "Zhang San, 13800000000"
    seen = {}

    def broken(ctx):
        with ctx.step("load data"):
            try:
                raise InputError(
                    "not a number", file="t.csv", row=3, column="age", value=repr(secret)
                )
            except InputError as e:
                seen["broken"] = str(e)
                raise

    def waiting(ctx):
        try:
            ctx.recv("broken", "never")
        except RemoteError as e:
            seen["waiting"] = str(e)
            raise

    with pytest.raises(InputError):
        run_local({"broken": broken, "waiting": waiting}, config=FAST)
    assert seen["broken"] == f"t.csv, row 3, column 'age': not a number: {secret!r}"
    assert "t.csv, row 3, column 'age': not a number" in seen["waiting"]
    assert "Zhang" not in seen["waiting"] and "1380" not in seen["waiting"]


def test_run_local_raises_the_root_cause_not_the_echo():
    def broken(ctx):
        raise KeyError("root")

    def waiting(ctx):
        ctx.recv("broken", "x")

    with pytest.raises(KeyError, match="root"):
        run_local({"broken": broken, "waiting": waiting}, config=FAST)


def test_dead_peer_fails_the_waiting_party_within_the_timeout():
    net = MemoryNetwork(["a", "b"])
    ctx = Context("job", "a", ["a", "b"], net.transport("a"), config=FAST)
    ctx._seen["b"] = time.monotonic()  # b was alive, then crashed
    net.take_down("b")
    t0 = time.monotonic()
    with pytest.raises(PeerError, match="'b'.*stopped answering") as info:
        with ctx.step("psi/doubles"):
            ctx.recv("b", "x")
    assert info.value.step == "psi/doubles"
    assert time.monotonic() - t0 < FAST.peer_timeout + 1.5


def test_a_send_cut_off_by_a_failing_peer_reports_the_peers_root_cause():
    """A failing peer tells us why, then closes its server mid-message (CI saw this race)."""
    from unseen.runtime.mailbox import Failure

    net = MemoryNetwork(["a", "b"])
    transport = net.transport("a")

    def cut_off(job, peer, key, message, *, wait, stop=None):
        transport.mailbox.put_failure(job, Failure("b", "load data", "ValueError", "rows differ"))
        raise ProtocolError(f"peer {peer!r} refused message {key!r}: CANCELLED")

    transport.deliver = cut_off  # type: ignore[method-assign]
    ctx = Context("job", "a", ["a", "b"], transport, config=FAST)
    with pytest.raises(RemoteError, match="rows differ"):
        ctx.send("b", "seed", b"x")


def _told(transport):
    """Record whom ``transport`` tells of a failure (and still tell them)."""
    told = []
    notify = transport.notify_failure

    def record(job, peer, failure, *, wait):
        told.append(peer)
        notify(job, peer, failure, wait=wait)

    transport.notify_failure = record  # type: ignore[method-assign]
    return told


def test_a_peer_that_told_us_it_failed_is_not_told_back():
    """b fails and tells a and c; a then fails on its own: it tells c only. (A peer
    that failed may have exited: telling it would wait its whole budget for nothing.)"""
    net = MemoryNetwork(["a", "b", "c"])
    ctxs = {p: Context("job", p, ["a", "b", "c"], net.transport(p), config=FAST) for p in "abc"}
    told = {p: _told(ctxs[p].transport) for p in "abc"}
    ctxs["b"].fail(InputError("b.csv, row 3: bad"))
    assert sorted(told["b"]) == ["a", "c"]
    net.take_down("b")  # b exits
    ctxs["a"].fail(InputError("a.csv, row 1: bad too"))
    assert told["a"] == ["c"]
    assert ctxs["a"].transport.mailbox.failed_peers("job") == {"b"}


def test_a_peer_whose_tls_link_was_refused_is_waited_for_briefly_not_told(monkeypatch):
    import unseen.runtime.context as context

    monkeypatch.setattr(context, "TRUST_LINGER_S", 0.3)
    net = MemoryNetwork(["a", "b", "c"])
    ctx = Context("job", "a", ["a", "b", "c"], net.transport("a"), config=FAST)
    told = _told(ctx.transport)
    t0 = time.monotonic()
    ctx.fail(TrustError("b", "the certificate presented is not the one pinned for 'b'"))
    assert told == ["c"]  # nothing can cross the refused link
    assert 0.3 <= time.monotonic() - t0 < 2  # up a moment, for b to find the refusal


def test_peer_that_never_starts_fails_after_connect_timeout():
    net = MemoryNetwork(["a", "b"])
    net.take_down("b")
    cfg = RuntimeConfig(connect_timeout=1.0, peer_timeout=0.5, heartbeat=0.1)
    ctx = Context("job", "a", ["a", "b"], net.transport("a"), config=cfg)
    with pytest.raises(PeerError, match="never came up"):
        ctx.recv("b", "x")


def test_peer_finishing_without_sending_is_detected():
    def a(ctx):
        return ctx.recv("b", "missing")

    def b(ctx):
        return None

    with pytest.raises(PeerError, match="finished the job without sending 'missing'"):
        run_local({"a": a, "b": b}, config=FAST)


def test_recv_timeout_is_bounded():
    def a(ctx):
        return ctx.recv("b", "slow", timeout=0.5)

    def b(ctx):
        time.sleep(2)

    with pytest.raises(PeerError, match="no message 'slow'"):
        run_local({"a": a, "b": b}, config=FAST)


def test_key_reuse_is_refused():
    def a(ctx):
        ctx.send("b", "k", 1)
        ctx.send("b", "k", 2)

    def b(ctx):
        ctx.recv("b" if False else "a", "k")

    with pytest.raises(ProtocolError, match="twice"):
        run_local({"a": a, "b": b}, config=FAST)


def test_cancellation_stops_a_waiting_party():
    net = MemoryNetwork(["a", "b"])
    ctx = Context("job", "a", ["a", "b"], net.transport("a"), config=FAST)
    threading.Timer(0.3, ctx.cancel).start()
    with pytest.raises(JobCancelled):
        ctx.recv("b", "x")


def test_concurrent_jobs_share_a_transport_without_mixing():
    net = MemoryNetwork(["a", "b"])
    results = {}

    def job(jid, value):
        ca = Context(jid, "a", ["a", "b"], net.transport("a"), config=FAST)
        cb = Context(jid, "b", ["a", "b"], net.transport("b"), config=FAST)
        t = threading.Thread(target=lambda: ca.send("b", "x", value))
        t.start()
        results[jid] = cb.recv("a", "x")
        t.join()

    threads = [threading.Thread(target=job, args=(f"j{i}", i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {f"j{i}": i for i in range(8)}


def test_transcript_records_bytes_and_stats():
    transcript = Transcript()

    def a(ctx):
        ctx.send("b", "x", np.full(1000, 7, dtype=np.uint8))
        return ctx.stats.bytes_sent

    def b(ctx):
        ctx.recv("a", "x")
        return ctx.bytes_received

    out = run_local({"a": a, "b": b}, transcript=transcript)
    assert out["b"] == 1000 and out["a"] >= 1000
    assert transcript.bytes_sent_by("a") == b"\x07" * 1000


def test_rng_is_per_context_and_uniform():
    net = MemoryNetwork(["a", "b"])
    c1 = Context("j1", "a", ["a", "b"], net.transport("a"))
    c2 = Context("j2", "a", ["a", "b"], net.transport("a"))
    assert c1.rng.bytes(32) != c2.rng.bytes(32)
    perm = c1.rng.permutation(1000)
    assert sorted(perm.tolist()) == list(range(1000))
    bits = np.unpackbits(np.frombuffer(c1.rng.bytes(100_000), dtype=np.uint8))
    assert abs(bits.mean() - 0.5) < 0.01


def test_ended_turns_true_when_the_job_finishes_is_cancelled_or_fails():
    net = MemoryNetwork(["a", "b"])
    done = Context("j1", "a", ["a", "b"], net.transport("a"), config=FAST)
    assert not done.ended
    done.finish()
    assert done.ended
    cancelled = Context("j2", "a", ["a", "b"], net.transport("a"), config=FAST)
    cancelled.cancel()
    assert cancelled.ended
    failed = Context("j3", "a", ["a", "b"], net.transport("a"), config=FAST)
    Context("j3", "b", ["a", "b"], net.transport("b"), config=FAST).fail(ValueError("boom"))
    deadline = time.monotonic() + 10
    while not failed.ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert failed.ended  # a peer's failure reached this party


def test_scopes_keep_a_protocol_run_several_times_apart():
    """The same keys in several scopes of one job are different messages (a scope's
    keys carry its prefix, scopes nest, and a block left by an error restores the
    outer scope); outside every scope a key is itself again."""
    transcript = Transcript()

    def alice(ctx):
        for k in range(3):
            with ctx.scope(f"run{k}/"):
                ctx.send("bob", "x", k)
                with ctx.scope("inner/"):
                    ctx.send("bob", "x", 10 + k)
        with pytest.raises(RuntimeError), ctx.scope("broken/"):
            raise RuntimeError("left by an error")
        ctx.send("bob", "x", -1)

    def bob(ctx):
        got = []
        for k in range(3):
            with ctx.scope(f"run{k}/"):
                got += [ctx.recv("alice", "x"), ctx.recv("alice", "inner/x")]
        return got, ctx.recv("alice", "x")

    out = run_local({"alice": alice, "bob": bob}, transcript=transcript)
    assert out["bob"] == ([0, 10, 1, 11, 2, 12], -1)
    keys = [m[2] for m in transcript.messages]
    assert keys == ["run0/x", "run0/inner/x", "run1/x", "run1/inner/x", "run2/x"] + [
        "run2/inner/x",
        "x",
    ]


def test_the_ledger_names_kinds_of_messages_never_contents():
    """Keys with their numbers as *, values by kind, dtype, size and shape."""
    import numpy as np

    from unseen.runtime.context import TrafficStats, describe, key_pattern

    assert key_pattern("sbt/3/12/left") == "sbt/*/*/left"
    assert key_pattern("sbt-cv/1/sbt/0/begin") == "sbt-cv/*/sbt/*/begin"
    assert key_pattern("sbt-predict-2/rows") == "sbt-predict-2/rows"
    assert describe(np.zeros((3, 4), dtype=np.uint64)) == ("array uint64", 96, (3, 4))
    assert describe(b"abc") == ("bytes", 3, None)
    assert describe({"op": "stop"}) == ("json", None, None)
    stats = TrafficStats()
    stats.note("received", "g", "sbt/0/1/m", "array uint64", 80, (10,))
    stats.note("received", "g", "sbt/1/1/m", "array uint64", 160, (20,))
    stats.note("received", "g", "sbt/1/begin", "json", None, None)
    stats.note("sent", "g", "sbt/1/1/left", "array uint8", 3, (3,))
    rows = stats.ledger_rows()
    assert [r["direction"] for r in rows] == ["sent", "received", "received"]
    m = next(r for r in rows if r["message"] == "sbt/*/*/m")
    assert (m["messages"], m["bytes"], m["largest_shape"]) == (2, 240, "20")
    assert next(r for r in rows if r["kind"] == "json")["bytes"] == ""
