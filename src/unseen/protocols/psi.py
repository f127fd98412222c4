"""ECDH-PSI: private set intersection from commutative Diffie-Hellman blinding.

Two parties, A and B, each hold a set of identifiers. With H a hash onto the
X25519 group and secret scalars a (A's) and b (B's), the protocol is the
classic one of Meadows (1986) and Huberman-Franklin-Hogg (1999), as in the
PPCA ECDH-PSI standard, FATE and SecretFlow:

1. *Hello*: the parties check they agree on the options (group, who learns,
   normalisation, number of ID columns) and tell each other their set sizes.
2. *Singles*: each party blinds its own items, ``H(x)^a``, in a fresh secret
   random order, and streams them to the peer in batches.
3. *Doubles*: each party blinds the peer's singles with its own scalar,
   ``(H(y)^b)^a``, keeps them, and -- if the peer is to learn the result --
   streams them back in the order received (shuffled first in cardinality mode).
4. *Match*: a learning party now holds the doubles of its own items (linked to
   its rows through its own random order) and the doubles of the peer's items.
   The equal ones are the intersection.

Output order: both parties list the intersection sorted by the double-blinded
value, which they both know and which is a pseudo-random order unrelated to
either input; so row *i* of A's output and row *i* of B's output are the same
identifier -- the alignment vertical learning needs.

Modes (``PsiOptions``):

- ``reveal_to=None``: both parties learn the intersection.
- ``reveal_to="<party>"``: only that party learns it; the other learns only the
  learner's set size.
- ``cardinality_only=True``: the learning party or parties learn only the size
  of the intersection (returned doubles are shuffled, so they cannot be linked
  to rows).

Security (semi-honest; no third party):

- Assumptions: DDH in the X25519 groups, SHA-256 as a random oracle (see
  :mod:`unseen.crypto.ecdh`); scalars are fresh per job, from ``os.urandom``.
- A party that learns the intersection learns exactly: the intersection (its
  own rows in it), the peer's set size (number of distinct IDs). Nothing about
  the peer's other IDs: their doubles are pseudo-random.
- A party that does not learn the intersection learns the peer's set size only.
- In cardinality mode, learners learn the intersection size and both set sizes.
- Not protected: the set sizes (padding is not offered yet); a malicious party
  (it can use other inputs than its true set, as in every PSI, or send malformed
  points -- small-order points are rejected, other deviations are not detected).
- On the wire: only blinded points (32 bytes) and truncated doubles (16 bytes);
  no ID and no plain hash of an ID is ever sent.

Duplicates: rows with the same (normalised) key are one identifier; the first
row with that key is the one used and output; the others are counted and
reported as duplicates.

Memory: per party, about 48 bytes per own row plus 16 per peer row in numpy
arrays, plus the input table in Arrow and one batch of Python strings at a time
(see ``docs/psi.md`` for measured peaks).
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unseen.crypto.ecdh import HASH_DOMAIN, POINT_BYTES, Blinder, hash_to_points
from unseen.runtime.context import Context, megabytes
from unseen.runtime.errors import InputError, ProtocolError

PROTOCOL = "ecdh-psi"
VERSION = 1
GROUP = "x25519-sha256"
DOUBLE_BYTES = 16  # doubles are compared on 128 bits: false match probability < n^2 / 2^128
NORMALIZATIONS = ("trim", "casefold", "nfkc")


@dataclass(frozen=True)
class PsiOptions:
    reveal_to: str | None = None
    """None: both parties learn the intersection; else only this party does."""
    cardinality_only: bool = False
    """Learners learn only the intersection size."""
    normalize: tuple[str, ...] = ()
    """Applied to every ID component before hashing: 'trim', 'casefold', 'nfkc'."""
    batch_size: int = 65536
    """Points per message and per worker task."""
    workers: int | None = None
    """Processes for the blinding (default: all cores; 1 computes in-process)."""

    def __post_init__(self) -> None:
        bad = [n for n in self.normalize if n not in NORMALIZATIONS]
        if bad:
            raise ValueError(f"unknown normalisation {bad[0]!r}; choose from {NORMALIZATIONS}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be positive")


@dataclass
class PsiResult:
    """What one party learned."""

    own_size: int
    peer_size: int
    intersection_size: int | None
    """None where this party learns nothing about the intersection."""
    indices: np.ndarray | None = None
    """Positions in this party's key list of the intersection, in the agreed order."""


@dataclass
class KeySet:
    """A party's identifiers, hashed, deduplicated, with the row of each."""

    points: np.ndarray  # (n, 32) uint8 hashed points, one per distinct key
    rows: np.ndarray  # (n,) int64: the input row (first occurrence) of each key
    total_rows: int
    duplicate_rows: int = 0
    duplicate_keys: int = 0
    examples: list[str] = field(default_factory=list)  # a few duplicated keys, for the report


# --------------------------------------------------------------------------
# Preparing identifiers
# --------------------------------------------------------------------------


def _normalizer(steps: Sequence[str]):  # type: ignore[no-untyped-def]
    def norm(s: str) -> str:
        for step in steps:
            if step == "trim":
                s = s.strip()
            elif step == "casefold":
                s = s.casefold()
            elif step == "nfkc":
                s = unicodedata.normalize("NFKC", s)
        return s

    return norm


def _encode_keys(columns: list[list[str]]) -> list[bytes]:
    """Unambiguous bytes of each (composite) key: length-prefixed UTF-8 components."""
    if len(columns) == 1:
        return [s.encode("utf-8") for s in columns[0]]
    out = []
    for parts in zip(*columns, strict=True):
        enc = [p.encode("utf-8") for p in parts]
        out.append(b"".join(len(b).to_bytes(4, "big") + b for b in enc))
    return out


def key_columns_as_text(table: pa.Table, id_columns: Sequence[str], file: str) -> list[pa.Array]:
    """The ID columns as text; missing or empty values are errors naming row and column."""
    cols = []
    for name in id_columns:
        col = table.column(name).combine_chunks()
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            try:
                col = pc.cast(col, pa.string())
            except pa.ArrowInvalid as e:
                raise InputError(
                    "cannot read the IDs as text", file=file, column=name, value=str(e)
                ) from None
        bad = pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_length(col), 0))
        bad = pc.fill_null(bad, True)
        if pc.any(bad).as_py():
            row = int(pc.index(bad, True).as_py())
            raise InputError("empty ID", file=file, row=row + 1, column=name)
        cols.append(col)
    return cols


def prepare_keys(
    table: pa.Table,
    id_columns: Sequence[str],
    normalize: Sequence[str] = (),
    *,
    file: str = "<input>",
    chunk_rows: int = 262144,
) -> KeySet:
    """Hash every row's key to a point (chunk by chunk) and drop duplicate keys."""
    if not id_columns:
        raise InputError("no ID column given", file=file)
    cols = key_columns_as_text(table, id_columns, file)
    norm = _normalizer(normalize)
    n = table.num_rows
    domain = HASH_DOMAIN + bytes([len(id_columns)])
    points = np.empty((n, POINT_BYTES), dtype=np.uint8)
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        parts = [c.slice(start, stop - start).to_pylist() for c in cols]
        if normalize:
            parts = [[norm(s) for s in p] for p in parts]
            for name, p in zip(id_columns, parts, strict=True):
                for i, s in enumerate(p):
                    if not s:
                        raise InputError(
                            "ID is empty after normalisation",
                            file=file,
                            row=start + i + 1,
                            column=name,
                        )
        points[start:stop] = hash_to_points(_encode_keys(parts), domain)
    # Equal keys have equal hashes; distinct keys collide with probability ~n^2/2^256.
    flat = points.view(f"S{POINT_BYTES}").ravel()
    _, first, counts = np.unique(flat, return_index=True, return_counts=True)
    first.sort()  # keep the input order of first occurrences
    dup_keys = int(np.count_nonzero(counts > 1))
    examples: list[str] = []
    if dup_keys:
        is_first = np.zeros(n, dtype=bool)
        is_first[first] = True
        for r in np.nonzero(~is_first)[0][:3]:
            examples.append("|".join(str(c[int(r)].as_py()) for c in cols))
    return KeySet(
        points=points[first],
        rows=first.astype(np.int64),
        total_rows=n,
        duplicate_rows=n - len(first),
        duplicate_keys=dup_keys,
        examples=examples,
    )


# --------------------------------------------------------------------------
# The protocol, one function for either party
# --------------------------------------------------------------------------


def _batches(
    points: np.ndarray, size: int, order: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """``points`` (or ``points[order]``) in batches, without copying the whole array."""
    n = len(points) if order is None else len(order)
    for i in range(0, n, size):
        yield points[i : i + size] if order is None else points[order[i : i + size]]


def _hello(ctx: Context, peer: str, n: int, opts: PsiOptions, id_count: int) -> dict[str, Any]:
    mine = {
        "protocol": PROTOCOL,
        "version": VERSION,
        "group": GROUP,
        "reveal_to": opts.reveal_to,
        "cardinality_only": opts.cardinality_only,
        "normalize": list(opts.normalize),
        "id_columns": id_count,
        "size": n,
        "batch": opts.batch_size,
    }
    ctx.send(peer, "psi/hello", mine)
    theirs = ctx.recv(peer, "psi/hello")
    if not isinstance(theirs, dict):
        raise ProtocolError(f"{peer!r} sent a malformed hello")
    for k in (
        "protocol",
        "version",
        "group",
        "reveal_to",
        "cardinality_only",
        "normalize",
        "id_columns",
    ):
        if theirs.get(k) != mine[k]:
            raise ProtocolError(
                f"the parties disagree on {k!r}: {mine[k]!r} at {ctx.party!r}, "
                f"{theirs.get(k)!r} at {peer!r}"
            )
    for k in ("size", "batch"):
        if not isinstance(theirs.get(k), int) or theirs[k] < (0 if k == "size" else 1):
            raise ProtocolError(f"{peer!r} sent a malformed hello ({k})")
    return theirs


def psi(ctx: Context, points: np.ndarray, options: PsiOptions, id_count: int = 1) -> PsiResult:
    """Run this party's side of ECDH-PSI on its hashed, distinct keys.

    ``points`` are the party's keys hashed to the group (:func:`prepare_keys`).
    Returns what this party learns; ``indices`` point into ``points``.
    """
    if len(ctx.peers) != 1:
        raise ProtocolError(f"ECDH-PSI runs between two parties, this job has {len(ctx.parties)}")
    peer = ctx.peers[0]
    opts = options
    if opts.reveal_to is not None and opts.reveal_to not in ctx.parties:
        raise ValueError(f"reveal_to={opts.reveal_to!r} is not a party of this job")
    n = len(points)
    with ctx.step("psi/hello"):
        hello = _hello(ctx, peer, n, opts, id_count)
    n_peer, peer_batch = hello["size"], hello["batch"]
    i_learn = opts.reveal_to in (None, ctx.party)
    peer_learns = opts.reveal_to in (None, peer)

    with Blinder(workers=opts.workers if n + n_peer > 4 * opts.batch_size else 1) as blinder:
        # 2. Singles: own items blinded, in a secret random order.
        with ctx.step("psi/singles"), ctx.progress("blind own ids", total=n, unit="id") as bar:
            order = ctx.rng.permutation(n)
            for i, single in enumerate(
                blinder.blind_stream(_batches(points, opts.batch_size, order))
            ):
                ctx.send(peer, f"psi/singles/{i}", single)
                bar.update(len(single))

        # 3. Doubles of the peer's items.
        peer_doubles = np.empty((n_peer, DOUBLE_BYTES), dtype=np.uint8)
        stream_back = peer_learns and not opts.cardinality_only
        with (
            ctx.step("psi/doubles"),
            ctx.progress("blind peer ids", total=n_peer, unit="id") as bar,
        ):
            incoming = (
                _checked(ctx.recv(peer, f"psi/singles/{i}"), peer)
                for i in range(math.ceil(n_peer / peer_batch))
            )
            at = 0
            for i, double in enumerate(blinder.blind_stream(incoming)):
                d = double[:, :DOUBLE_BYTES]
                peer_doubles[at : at + len(d)] = d
                at += len(d)
                if stream_back:
                    ctx.send(peer, f"psi/doubles/{i}", d)
                bar.update(len(d))
            if at != n_peer:
                raise ProtocolError(f"{peer!r} announced {n_peer} ids but sent {at}")
            if peer_learns and opts.cardinality_only:
                # unlinkable: the peer may count matches but not locate them
                shuffle = ctx.rng.permutation(n_peer)
                for i, d in enumerate(_batches(peer_doubles, peer_batch, shuffle)):
                    ctx.send(peer, f"psi/doubles/{i}", d)

    if not i_learn:
        return PsiResult(own_size=n, peer_size=n_peer, intersection_size=None)

    # 4. Match own doubles (from the peer) against the peer's doubles.
    with ctx.step("psi/match"):
        own_doubles = np.empty((n, DOUBLE_BYTES), dtype=np.uint8)
        at = 0
        for i in range(math.ceil(n / opts.batch_size)):
            d = ctx.recv(peer, f"psi/doubles/{i}")
            if not isinstance(d, np.ndarray) or d.ndim != 2 or d.shape[1] != DOUBLE_BYTES:
                raise ProtocolError(f"{peer!r} sent malformed doubles")
            own_doubles[at : at + len(d)] = d
            at += len(d)
        if at != n:
            raise ProtocolError(f"{peer!r} returned {at} doubles for {n} ids")
        mine = own_doubles.view(f"S{DOUBLE_BYTES}").ravel()
        theirs = peer_doubles.view(f"S{DOUBLE_BYTES}").ravel()
        if opts.cardinality_only:
            size = int(np.count_nonzero(np.isin(mine, theirs, assume_unique=True)))
            return PsiResult(own_size=n, peer_size=n_peer, intersection_size=size)
        # sorted by the double: the same order at both parties
        _, pos_in_sent, _ = np.intersect1d(mine, theirs, assume_unique=True, return_indices=True)
        indices = order[pos_in_sent]
    if opts.reveal_to is None:
        with ctx.step("psi/confirm"):
            ctx.send(peer, "psi/size", len(indices))
            other = ctx.recv(peer, "psi/size")
            if other != len(indices):
                raise ProtocolError(
                    f"intersection sizes differ: {len(indices)} here, {other} at {peer!r}"
                )
    return PsiResult(own_size=n, peer_size=n_peer, intersection_size=len(indices), indices=indices)


def _checked(batch: object, peer: str) -> np.ndarray:
    if (
        not isinstance(batch, np.ndarray)
        or batch.dtype != np.uint8
        or batch.ndim != 2
        or batch.shape[1] != POINT_BYTES
    ):
        raise ProtocolError(f"{peer!r} sent a malformed batch of points")
    return batch


# --------------------------------------------------------------------------
# Tables in, tables out
# --------------------------------------------------------------------------


@dataclass
class PsiTableResult:
    table: pa.Table | None
    """This party's rows of the intersection, in the agreed order (None if it learns none)."""
    result: PsiResult
    keys: KeySet
    seconds: float
    bytes_sent: int
    bytes_received: int

    def summary(self, party: str) -> str:
        r, k = self.result, self.keys
        inter = (
            "not revealed to this party"
            if r.intersection_size is None
            else f"{r.intersection_size}"
        )
        dup = f", {k.duplicate_rows} duplicate rows dropped" if k.duplicate_rows else ""
        return (
            f"[{party}] PSI done: {k.total_rows} rows, {r.own_size} distinct ids{dup}; "
            f"peer {r.peer_size} ids; intersection {inter}; {self.seconds:.1f} s; "
            f"sent {megabytes(self.bytes_sent)}, received {megabytes(self.bytes_received)}"
        )


def psi_table(
    ctx: Context,
    table: pa.Table,
    id_columns: Sequence[str],
    options: PsiOptions | None = None,
    *,
    file: str = "<input>",
) -> PsiTableResult:
    """PSI on a table: returns this party's rows of the intersection, aligned with the peer's."""
    opts = options or PsiOptions()
    start = time.perf_counter()
    with ctx.step("psi/read ids"):
        from unseen.data.io import require_columns

        require_columns(table, id_columns, file)
        keys = prepare_keys(table, id_columns, opts.normalize, file=file)
    if keys.duplicate_rows:
        ctx.log.warning(
            "%s: %d rows repeat an ID already seen (%d distinct IDs repeated); the first row of "
            "each ID is kept",
            file,
            keys.duplicate_rows,
            keys.duplicate_keys,
        )
    result = psi(ctx, keys.points, opts, id_count=len(id_columns))
    out = None
    if result.indices is not None:
        out = table.take(pa.array(keys.rows[result.indices]))
    return PsiTableResult(
        table=out,
        result=result,
        keys=keys,
        seconds=time.perf_counter() - start,
        bytes_sent=ctx.stats.bytes_sent,
        bytes_received=ctx.bytes_received,
    )
