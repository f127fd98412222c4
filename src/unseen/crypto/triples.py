"""Where Beaver triples and other correlated randomness come from.

Secret-shared multiplication (:mod:`unseen.crypto.sharing`) consumes
*correlated randomness*: values that are uniformly random and secret-shared
among the computing parties, with a known relation between them. Protocols ask
one :class:`TripleProvider` for it and never care where it comes from (the
split CrypTen makes between its ``TrustedThirdParty`` and ``HomomorphicProvider``).

What a provider hands out, all additively shared over Z_2^64:

========================  ==========================================================
method                    what the parties hold
========================  ==========================================================
``elementwise(shape)``    ``[a], [b], [c]`` with ``c = a * b`` (Beaver 1991)
``matmul(sa, sb)``        ``[A], [B], [C]`` with ``C = A @ B`` (SecureML, section 4.2)
``truncation_pair``       ``[r], [r']`` with ``r' = r >> f`` (arithmetic shift), for
                          truncation among more than two parties (ABY3, section 5.1)
``plain_mask(owner, s)``  ``A`` in the clear at ``owner`` only: the one-time mask of a
                          matrix ``M`` that ``owner`` holds in plaintext
``plain_matmul(mask, s)`` ``[B]`` among the parties other than the owner (the owner's
                          share of ``B`` is zero), ``[C]`` with ``C = A @ B``
                          (or ``A.T @ B``): one use of a plaintext matrix's mask
========================  ==========================================================

Providers:

- :class:`DealerProvider` (``ss-dealer`` mode): a semi-honest third party, the
  *dealer*, who must not collude with any computing party, generates everything
  and runs :func:`serve_dealer`. Traffic is cut with PRG seeds: the dealer
  sends each computing party one 16-byte seed at the start; every random share
  is expanded locally from it, and only the *last* computing party receives
  explicit values, the corrections that make the relation hold (``c_last =
  a*b - sum of the others' c``). An elementwise triple of ``N`` entries thus
  costs ``8N`` bytes from the dealer to one party, and nothing to the others.
- :class:`PaillierProvider` (``he`` mode): two parties, no third party; the
  cross terms are computed under Paillier encryption with statistical masking
  (Gilboa 1999; SecureML section 4.2).
- :class:`InsecureLocalProvider`: every party derives the same triples from a
  public seed. For unit tests only; it refuses to start outside pytest.

Keeping the dealer in sync. Every computing party makes the same sequence of
requests, because every party runs the same protocol code (shapes are public).
Parties other than the last never talk to the dealer until the end: they
expand their shares from their seed in request order, and the dealer expands
the same streams in the same order. Only the last party sends requests (and
waits for the corrections), so the dealer serves them in that party's order.
At :meth:`TripleProvider.close` every party sends the dealer a count and a
SHA-256 digest of its request sequence and waits for the dealer's verdict; the
dealer checks that they all match its own and otherwise fails the job with
:class:`ProtocolError`, so every party's ``close`` raises. A desync
therefore cannot go unnoticed, and it cannot leak either: each share of each
stream is used once, so a mismatched triple only yields a wrong result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from unseen.crypto.prg import SEED_BYTES, AesCtrPrg
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError

Shape = tuple[int, ...]
_U64 = np.uint64

log = logging.getLogger(__name__)


# -- what a provider hands out ------------------------------------------------
@dataclass(frozen=True)
class Triple:
    """This party's shares of ``a``, ``b`` and ``c = a * b`` (or ``A @ B``)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray


@dataclass(frozen=True)
class TruncationPair:
    """This party's shares of ``r`` and ``r >> frac_bits`` (``r`` read as signed)."""

    r: np.ndarray
    r_shift: np.ndarray
    frac_bits: int


@dataclass(frozen=True)
class PlainMask:
    """The one-time mask ``A`` of a plaintext matrix held by ``owner``.

    ``a`` is the mask itself at the owner and ``None`` elsewhere. ``id`` numbers
    the masks of one provider in the order they were made (the same at every party).
    """

    id: int
    owner: str
    shape: Shape
    a: np.ndarray | None


@dataclass(frozen=True)
class PlainTriple:
    """One use of a :class:`PlainMask`: shares of ``B`` (``None`` at the owner) and ``C``."""

    b: np.ndarray | None
    c: np.ndarray


@dataclass(frozen=True)
class Request:
    """One unit of correlated randomness; parties and dealer agree on the sequence."""

    kind: str
    shapes: tuple[Shape, ...]
    frac_bits: int = 0
    owner: str | None = None
    mask: int | None = None
    transpose: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "shapes": [list(s) for s in self.shapes],
            "frac_bits": self.frac_bits,
            "owner": self.owner,
            "mask": self.mask,
            "transpose": self.transpose,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Request:
        kind = str(d["kind"])
        if kind not in _KINDS:
            raise ProtocolError(f"unknown correlated-randomness request {kind!r}")
        return cls(
            kind=kind,
            shapes=tuple(_shape(s) for s in d["shapes"]),
            frac_bits=int(d["frac_bits"]),
            owner=d["owner"],
            mask=None if d["mask"] is None else int(d["mask"]),
            transpose=bool(d["transpose"]),
        )

    def digest_bytes(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def c_shape(self) -> Shape:
        """The shape of the product share ``c`` (for product kinds)."""
        if self.kind == "elementwise":
            return self.shapes[0]
        if self.kind == "matmul":
            return matmul_shape(self.shapes[0], self.shapes[1])
        if self.kind == "plain_matmul":
            sa = self.shapes[0][::-1] if self.transpose else self.shapes[0]
            return matmul_shape(sa, self.shapes[1])
        raise ValueError(f"{self.kind} has no product")

    def correction_shapes(self) -> list[tuple[str, Shape]]:
        """What the dealer sends the last party explicitly, in order."""
        if self.kind in ("elementwise", "matmul", "plain_matmul"):
            return [("c", self.c_shape)]
        if self.kind == "truncation":
            return [("r_shift", self.shapes[0])]
        return []


_KINDS = ("elementwise", "matmul", "truncation", "plain_mask", "plain_matmul")


def _shape(s: Sequence[int] | int) -> Shape:
    t = (int(s),) if isinstance(s, int | np.integer) else tuple(int(d) for d in s)
    if any(d < 0 for d in t):
        raise ValueError(f"negative dimension in shape {t}")
    return t


def matmul_shape(sa: Shape, sb: Shape) -> Shape:
    """The shape of ``A @ B`` for 1-d or 2-d operands (numpy's rules)."""
    if not (1 <= len(sa) <= 2 and 1 <= len(sb) <= 2):
        raise ValueError(f"matmul supports 1-d and 2-d operands, got {sa} and {sb}")
    inner_a = sa[-1]
    inner_b = sb[0]
    if inner_a != inner_b:
        raise ValueError(f"matmul shapes {sa} and {sb} do not match")
    return sa[:-1] + sb[1:]


def ring_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` modulo 2^64 for 1-d or 2-d ``uint64`` operands (views and transposes too).

    numpy's ``matmul`` has no BLAS for integers, and its fallback loop walks a
    transposed operand with a stride: ``M.T @ v`` for a tall ``M`` is about 20
    times slower than one pass over memory. ``einsum``'s sum-of-products loops
    run at memory speed for matrix-vector products, and wrap modulo 2^64 like
    ``matmul`` (unsigned C arithmetic), so the results are identical.
    """
    a = np.asarray(a, dtype=_U64)
    b = np.asarray(b, dtype=_U64)
    with np.errstate(over="ignore"):
        if a.ndim == 2 and b.ndim == 1:
            return np.asarray(np.einsum("ij,j->i", a, b), dtype=_U64)
        if a.ndim == 1 and b.ndim == 2:
            return np.asarray(np.einsum("i,ij->j", a, b), dtype=_U64)
        if a.ndim == 2 and b.ndim == 2 and 1 <= b.shape[1] <= 8:
            cols = [np.einsum("ij,j->i", a, b[:, k]) for k in range(b.shape[1])]
            return np.asarray(np.stack(cols, axis=1).reshape(a.shape[0], b.shape[1]), dtype=_U64)
        if a.ndim == 2 and b.ndim == 2 and 1 <= a.shape[0] <= 8:
            rows = [np.einsum("i,ij->j", a[k], b) for k in range(a.shape[0])]
            return np.asarray(np.stack(rows).reshape(a.shape[0], b.shape[1]), dtype=_U64)
        return np.asarray(np.matmul(a, b), dtype=_U64)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ring_matmul(a, b)


# -- the dealer's computation ---------------------------------------------------
def _draw(req: Request, prg: AesCtrPrg, *, last: bool, owner: bool) -> dict[str, np.ndarray]:
    """What one party's stream yields for ``req``, in a fixed order.

    The dealer and the party both call this on their copies of the stream.
    ``last``: the party is the last computing party (its product shares come
    as explicit corrections instead). ``owner``: it owns the plaintext matrix
    of a ``plain_*`` request.
    """
    out: dict[str, np.ndarray] = {}
    if req.kind in ("elementwise", "matmul"):
        out["a"] = prg.uint64(req.shapes[0])
        out["b"] = prg.uint64(req.shapes[1 if req.kind == "matmul" else 0])
        if not last:
            out["c"] = prg.uint64(req.c_shape)
    elif req.kind == "truncation":
        out["r"] = prg.uint64(req.shapes[0])
        if not last:
            out["r_shift"] = prg.uint64(req.shapes[0])
    elif req.kind == "plain_mask":
        if owner:
            out["a"] = prg.uint64(req.shapes[0])
    elif req.kind == "plain_matmul":
        if not owner:
            out["b"] = prg.uint64(req.shapes[1])
        if not last:
            out["c"] = prg.uint64(req.c_shape)
    else:  # pragma: no cover - Request.from_json rejects unknown kinds
        raise ProtocolError(f"unknown request kind {req.kind!r}")
    return out


def _total(arrays: Sequence[np.ndarray], shape: Shape) -> np.ndarray:
    total = np.zeros(shape, dtype=_U64)
    for x in arrays:
        total += x
    return total


class _Dealing:
    """The dealer's side: one PRG stream per computing party, and the masks made so far."""

    def __init__(self, parties: Sequence[str], streams: dict[str, AesCtrPrg]) -> None:
        self.parties = tuple(parties)
        self.last = self.parties[-1]
        self.streams = streams
        self.masks: list[tuple[str, np.ndarray]] = []  # (owner, A)

    def deal(self, req: Request) -> dict[str, dict[str, np.ndarray]]:
        """Every party's shares for ``req`` (the last party's include its corrections)."""
        if req.kind.startswith("plain_") and req.owner not in self.parties:
            raise ProtocolError(f"plaintext owner {req.owner!r} is not a computing party")
        draws = {
            p: _draw(req, self.streams[p], last=p == self.last, owner=p == req.owner)
            for p in self.parties
        }
        others = [draws[p] for p in self.parties if p != self.last]
        if req.kind in ("elementwise", "matmul"):
            a = _total([d["a"] for d in draws.values()], req.shapes[0])
            b = _total([d["b"] for d in draws.values()], req.shapes[-1])
            with np.errstate(over="ignore"):
                c = a * b if req.kind == "elementwise" else _matmul(a, b)
            draws[self.last]["c"] = c - _total([d["c"] for d in others], req.c_shape)
        elif req.kind == "truncation":
            r = _total([d["r"] for d in draws.values()], req.shapes[0])
            r_shift = (r.view(np.int64) >> req.frac_bits).view(_U64)
            draws[self.last]["r_shift"] = r_shift - _total(
                [d["r_shift"] for d in others], req.shapes[0]
            )
        elif req.kind == "plain_mask":
            if req.mask != len(self.masks):
                raise ProtocolError(f"mask {req.mask} requested, {len(self.masks)} expected")
            assert req.owner is not None
            self.masks.append((req.owner, draws[req.owner]["a"]))
        elif req.kind == "plain_matmul":
            if req.mask is None or not 0 <= req.mask < len(self.masks):
                raise ProtocolError(f"unknown plaintext mask {req.mask}")
            owner, a = self.masks[req.mask]
            if owner != req.owner or a.shape != req.shapes[0]:
                raise ProtocolError(f"mask {req.mask} is not {req.owner}'s {req.shapes[0]}")
            b = _total([d["b"] for p, d in draws.items() if p != owner], req.shapes[1])
            c = _matmul(a.T if req.transpose else a, b)
            draws[self.last]["c"] = c - _total([d["c"] for d in others], req.c_shape)
        return draws


# -- the interface --------------------------------------------------------------
class TripleProvider(ABC):
    """Correlated randomness for the computing ``parties``; this party is ``party``.

    Every computing party must make the same calls in the same order (shapes
    are public). Use as a context manager, or call :meth:`close` at the end.
    """

    parties: tuple[str, ...]
    party: str

    def __init__(self, party: str, parties: Sequence[str]) -> None:
        self.party = party
        self.parties = tuple(parties)
        if len(self.parties) < 2:
            raise ConfigError("secret sharing needs at least two computing parties")
        if len(set(self.parties)) != len(self.parties):
            raise ConfigError(f"computing parties repeat: {list(self.parties)}")
        if party not in self.parties:
            raise ConfigError(f"{party!r} is not among the computing parties {self.parties}")
        self._n_masks = 0

    # The one hook a provider implements: this party's arrays for one request.
    @abstractmethod
    def _fetch(self, req: Request) -> dict[str, np.ndarray]: ...

    def elementwise(self, shape: Shape | int) -> Triple:
        """A Beaver triple ``c = a * b`` (elementwise, mod 2^64) of the given shape."""
        s = _shape(shape)
        d = self._fetch(Request("elementwise", (s,)))
        return Triple(d["a"], d["b"], d["c"])

    def matmul(self, shape_a: Shape, shape_b: Shape) -> Triple:
        """A matrix triple ``C = A @ B`` (1-d or 2-d ``A`` and ``B``)."""
        sa, sb = _shape(shape_a), _shape(shape_b)
        matmul_shape(sa, sb)
        d = self._fetch(Request("matmul", (sa, sb)))
        return Triple(d["a"], d["b"], d["c"])

    def truncation_pair(self, shape: Shape | int, frac_bits: int) -> TruncationPair:
        """Shares of a uniform ``r`` and of ``r >> frac_bits`` (``r`` read as signed)."""
        if not 0 < frac_bits < 64:
            raise ValueError("frac_bits must lie in (0, 64)")
        s = _shape(shape)
        d = self._fetch(Request("truncation", (s,), frac_bits=frac_bits))
        return TruncationPair(d["r"], d["r_shift"], frac_bits)

    def plain_mask(self, owner: str, shape: Shape) -> PlainMask:
        """A one-time mask for a matrix that ``owner`` holds in plaintext."""
        if owner not in self.parties:
            raise ConfigError(f"{owner!r} is not a computing party")
        s = _shape(shape)
        mask_id = self._n_masks
        self._n_masks += 1
        d = self._fetch(Request("plain_mask", (s,), owner=owner, mask=mask_id))
        return PlainMask(mask_id, owner, s, d.get("a"))

    def plain_matmul(self, mask: PlainMask, shape_b: Shape, transpose: bool = False) -> PlainTriple:
        """Fresh ``[B]`` (not at the owner) and ``[C] = [A @ B]`` (``A.T`` if ``transpose``)."""
        sb = _shape(shape_b)
        req = Request(
            "plain_matmul", (mask.shape, sb), owner=mask.owner, mask=mask.id, transpose=transpose
        )
        req.c_shape  # noqa: B018 - validates the shapes before anything is sent
        d = self._fetch(req)
        return PlainTriple(d.get("b"), d["c"])

    def prefetch(  # noqa: B027 - optional hook
        self, requests: Sequence[Request], *, wait: bool = True
    ) -> None:
        """Ask for ``requests`` ahead of use (one round trip); a hint, may do nothing.

        ``wait=False`` sends the request and returns at once, so that the
        provider prepares the randomness while the caller computes.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """End of use: providers that talk to a dealer check the session with it here."""

    def __enter__(self) -> TripleProvider:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.close()


# -- (a) a semi-honest dealer -----------------------------------------------------
class DealerProvider(TripleProvider):
    """Correlated randomness from ``dealer``, a job party that runs :func:`serve_dealer`.

    Security: semi-honest; the dealer knows every triple, so it must not collude
    with any computing party (the trust FATE places in its arbiter). The
    dealer never sees any data or any share of it.
    """

    def __init__(
        self,
        ctx: Context,
        dealer: str,
        parties: Sequence[str] | None = None,
        *,
        namespace: str = "triples",
    ) -> None:
        if parties is None:
            parties = [p for p in ctx.parties if p != dealer]
        if dealer in parties:
            raise ConfigError(f"the dealer {dealer!r} cannot also be a computing party")
        if dealer not in ctx.peers:
            raise ConfigError(f"the dealer {dealer!r} is not a party of this job")
        super().__init__(ctx.party, parties)
        self.ctx = ctx
        self.dealer = dealer
        self.namespace = namespace
        self.last = self.party == self.parties[-1]
        self._prg: AesCtrPrg | None = None
        self._digest = hashlib.sha256()
        self._count = 0
        self._round = 0  # requests sent (last party only)
        self._pending: deque[tuple[Request, dict[str, np.ndarray]]] = deque()
        self._deferred: deque[tuple[str, list[Request]]] = deque()  # asked, not yet answered
        self._closed = False

    def _stream(self) -> AesCtrPrg:
        if self._prg is None:
            seed = self.ctx.recv(self.dealer, f"{self.namespace}/seed")
            if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
                raise ProtocolError("the dealer sent a malformed seed")
            self._prg = AesCtrPrg(seed)
        return self._prg

    def _ask(self, reqs: Sequence[Request]) -> list[dict[str, np.ndarray]]:
        """One round trip to the dealer: the corrections for ``reqs`` (last party only)."""
        return self._answer(self._request(reqs), reqs)

    def _request(self, reqs: Sequence[Request]) -> str:
        """Send the dealer a request for ``reqs``; returns the round's key."""
        key = f"{self.namespace}/{self._round}"
        self._round += 1
        self.ctx.send(
            self.dealer, f"{key}/req", {"op": "deal", "items": [r.to_json() for r in reqs]}
        )
        return key

    def _answer(self, key: str, reqs: Sequence[Request]) -> list[dict[str, np.ndarray]]:
        """Wait for the dealer's corrections to the request sent under ``key``."""
        flat = self.ctx.recv(self.dealer, f"{key}/resp")
        sizes = [(name, s) for r in reqs for name, s in r.correction_shapes()]
        expected = sum(int(np.prod(s)) for _, s in sizes)
        if not isinstance(flat, np.ndarray) or flat.dtype != _U64 or flat.shape != (expected,):
            raise ProtocolError("the dealer's corrections do not match the requests")
        out: list[dict[str, np.ndarray]] = []
        pos = 0
        for r in reqs:
            item: dict[str, np.ndarray] = {}
            for name, s in r.correction_shapes():
                n = int(np.prod(s))
                item[name] = flat[pos : pos + n].reshape(s).copy()
                pos += n
            out.append(item)
        return out

    def prefetch(self, requests: Sequence[Request], *, wait: bool = True) -> None:
        """At the last party, fetch the corrections for ``requests`` in one round trip.

        Harmless elsewhere. The requests must then be used in exactly this order,
        after any requests prefetched before. ``wait=False`` only sends the
        request: the dealer computes while this party works, and the answer is
        taken when the first of these requests is used.
        """
        if self.last and requests:
            self._deferred.append((self._request(requests), list(requests)))
            if wait:
                while self._deferred:
                    self._take_deferred()

    def _take_deferred(self) -> None:
        key, reqs = self._deferred.popleft()
        for req, corr in zip(reqs, self._answer(key, reqs), strict=True):
            self._pending.append((req, corr))

    def _fetch(self, req: Request) -> dict[str, np.ndarray]:
        if self._closed:
            raise ProtocolError("the triple provider is closed")
        self._digest.update(req.digest_bytes())
        self._count += 1
        own = _draw(req, self._stream(), last=self.last, owner=self.party == req.owner)
        if self.last:
            if not self._pending and self._deferred:
                self._take_deferred()
            if self._pending:
                ahead, corr = self._pending.popleft()
                if ahead != req:
                    raise ProtocolError(f"prefetched {ahead.kind} {ahead.shapes}, used {req}")
            else:
                (corr,) = self._ask([req])
            own.update(corr)
        return own

    def close(self) -> None:
        """Tell the dealer this party is done, and wait for its verdict.

        The dealer checks that every party asked for the same sequence; if not,
        it fails the job, and every party's ``close`` raises.
        """
        if self._closed:
            return
        self._closed = True
        summary = {"count": self._count, "digest": self._digest.hexdigest()}
        unused = len(self._pending) + sum(len(reqs) for _, reqs in self._deferred)
        if unused:
            raise ProtocolError(f"{unused} prefetched requests were never used")
        if self.last:
            key = f"{self.namespace}/{self._round}"
            self.ctx.send(self.dealer, f"{key}/req", {"op": "close", **summary})
            answer = self.ctx.recv(self.dealer, f"{key}/resp")
        else:
            self.ctx.send(self.dealer, f"{self.namespace}/close", summary)
            answer = self.ctx.recv(self.dealer, f"{self.namespace}/verdict")
        if answer != "ok":
            raise ProtocolError(f"the dealer did not confirm the session: {answer!r}")


@dataclass
class DealerStats:
    """What :func:`serve_dealer` did."""

    rounds: int = 0
    requests: int = 0
    correction_bytes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


def serve_dealer(
    ctx: Context,
    parties: Sequence[str] | None = None,
    *,
    namespace: str = "triples",
) -> DealerStats:
    """The dealer's role: deal correlated randomness until the parties close the session.

    ``parties``: the computing parties, in the same order as their
    :class:`DealerProvider` (default: every other party of the job, in job order).
    """
    if parties is None:
        parties = [p for p in ctx.parties if p != ctx.party]
    parties = tuple(parties)
    if ctx.party in parties or len(parties) < 2:
        raise ConfigError("the dealer serves two or more other parties")
    seeds = {p: ctx.rng.token(SEED_BYTES) for p in parties}
    for p in parties:
        ctx.send(p, f"{namespace}/seed", seeds[p])
    dealing = _Dealing(parties, {p: AesCtrPrg(seeds[p]) for p in parties})
    last = parties[-1]
    digest = hashlib.sha256()
    stats = DealerStats()
    with ctx.step("dealer"):
        while True:
            key = f"{namespace}/{stats.rounds}"
            msg = ctx.recv(last, f"{key}/req")
            if not isinstance(msg, dict) or msg.get("op") not in ("deal", "close"):
                raise ProtocolError(f"the dealer got a malformed request from {last!r}")
            if msg["op"] == "close":
                mine = {"count": stats.requests, "digest": digest.hexdigest()}
                told = {p: ctx.recv(p, f"{namespace}/close") for p in parties[:-1]}
                told[last] = {"count": msg.get("count"), "digest": msg.get("digest")}
                wrong = sorted(p for p, s in told.items() if s != mine)
                if wrong:
                    raise ProtocolError(
                        f"parties {wrong} asked for different correlated randomness than "
                        f"{last!r} ({mine['count']} requests served): the protocol is out of sync"
                    )
                for p in parties[:-1]:
                    ctx.send(p, f"{namespace}/verdict", "ok")
                ctx.send(last, f"{key}/resp", "ok")
                return stats
            reqs = [Request.from_json(item) for item in msg["items"]]
            out: list[np.ndarray] = []
            for req in reqs:
                digest.update(req.digest_bytes())
                shares = dealing.deal(req)[last]
                out.extend(shares[name].ravel() for name, _ in req.correction_shapes())
                stats.requests += 1
                stats.kinds[req.kind] = stats.kinds.get(req.kind, 0) + 1
            flat = np.concatenate(out) if out else np.zeros(0, dtype=_U64)
            ctx.send(last, f"{key}/resp", flat)
            stats.correction_bytes += flat.nbytes
            stats.rounds += 1


# -- (b) two parties, Paillier ----------------------------------------------------------
STAT_SECURITY = 80
"""Statistical security parameter (bits) of the masks in :class:`PaillierProvider`."""

_MASK64 = (1 << 64) - 1


def _as_2d(shape: Shape, side: str) -> Shape:
    """A 1-d matmul operand as a matrix: a row on the left, a column on the right."""
    if len(shape) == 2:
        return shape
    return (1, shape[0]) if side == "left" else (shape[0], 1)


def _ring_of(values: np.ndarray) -> np.ndarray:
    """Python ints (an object array from decryption) reduced mod 2^64, as ``uint64``."""
    arr = np.asarray(values, dtype=object)  # a 0-d result may come back as a bare int
    flat = [int(v) & _MASK64 for v in arr.ravel().tolist()]
    return np.array(flat, dtype=_U64).reshape(arr.shape)


class PaillierProvider(TripleProvider):
    """Correlated randomness for exactly two parties from Paillier encryption (``he`` mode).

    No third party. Each party draws its own shares (``a_i``, ``b_i``) from its
    secret PRG; the cross terms of ``c = (a_0 + a_1)(b_0 + b_1)`` are computed
    under encryption, as in Gilboa's multiplication of additive shares and
    SecureML's HE-based triple generation (section 4.2):

    1. the first party ``P0`` (the key holder) sends ``Enc(a_0)``, ``Enc(b_0)``;
    2. ``P1`` returns ``Enc(a_0 b_1 + a_1 b_0 + rho)``: homomorphic products
       with its own (uint64) shares, plus a FRESH encryption of a mask ``rho``
       uniform in ``[0, 2^(l + sigma))``, where ``a_0 b_1 + a_1 b_0 < 2^l``
       over the integers; the fresh encryption re-randomises the result;
    3. ``P0`` decrypts and keeps ``(. mod 2^64)``; ``P1`` keeps ``-rho mod 2^64``;
       each adds ``a_i b_i``.

    Security, semi-honest: ``P1`` sees only ciphertexts (IND-CPA under DCR);
    ``P0`` sees ``v + rho``, within statistical distance ``2^-sigma`` of a
    value independent of ``v`` (``sigma`` = :data:`STAT_SECURITY` = 80 bits,
    per value). ``v + rho < 2^(l + sigma + 1)`` stays far below ``n``, so
    nothing wraps modulo ``n``. Keys are 2048 bits or more (112-bit security,
    NIST SP 800-57); each party generates its own key pair on first need.

    Matrix triples use the same idea with ``Enc(A_0)``, ``Enc(B_0)`` and
    plaintext-matrix products (``l`` grows by ``log2`` of the inner dimension).
    For a plaintext matrix at one party (``plain_mask`` / ``plain_matmul``) the
    owner holds the mask ``A``; the other party ``J`` draws ``B``, sends
    ``Enc_J(B)`` under its OWN key, and the owner returns
    ``Enc_J(A @ B + R)``; ``J`` decrypts. ``truncation_pair`` is not offered:
    two parties truncate locally (``Mpc.truncate``'s default).

    Cost, per element of ``c``: two encryptions and one decryption at ``P0``,
    two exponentiations with 64-bit exponents and one encryption at ``P1``;
    ``8 * 512`` bytes each way for 2048-bit keys. A ``plain_matmul`` costs
    ``p * m * k`` 64-bit exponentiations at the owner (for ``A`` of ``p x m``),
    so it suits small plaintext matrices; slot packing is not used yet.
    """

    def __init__(
        self,
        ctx: Context,
        parties: Sequence[str] | None = None,
        *,
        key_bits: int = 2048,
        namespace: str = "he-triples",
        n_jobs: int | None = None,
    ) -> None:
        super().__init__(ctx.party, parties if parties is not None else ctx.parties)
        if len(self.parties) != 2:
            raise ConfigError("PaillierProvider serves exactly two parties")
        if key_bits < 2048:
            raise ConfigError("Paillier keys must have at least 2048 bits")
        self.ctx = ctx
        self.other = next(p for p in self.parties if p != ctx.party)
        self.key_holder = self.parties[0]
        self.key_bits = key_bits
        self.namespace = namespace
        self.n_jobs = n_jobs
        self._key: Any = None  # our PaillierPrivateKey, made on first need
        self._peer_key: Any = None  # the other party's PaillierPublicKey
        self._round = 0
        self._plain_masks: dict[int, np.ndarray] = {}  # masks this party owns, by id

    # -- keys and messages ----------------------------------------------------------------
    def _own_key(self) -> Any:
        if self._key is None:
            from unseen.crypto.paillier import generate_keypair

            self._key = generate_keypair(self.key_bits)
            self.ctx.send(
                self.other, f"{self.namespace}/public-key", self._key.public_key.to_dict()
            )
        return self._key

    def _other_key(self) -> Any:
        if self._peer_key is None:
            from unseen.crypto.paillier import PaillierPublicKey

            d = self.ctx.recv(self.other, f"{self.namespace}/public-key")
            try:
                self._peer_key = PaillierPublicKey.from_dict(d)
            except (KeyError, TypeError, ValueError) as e:
                raise ProtocolError(f"{self.other!r} sent a bad Paillier public key: {e}") from None
            if self._peer_key.modulus_bits < 2048:
                raise ProtocolError(f"{self.other!r}'s Paillier key is below 2048 bits")
        return self._peer_key

    def _send_ct(self, key: str, pk: Any, ct: np.ndarray) -> None:
        self.ctx.send(self.other, key, pk.to_bytes(ct))

    def _recv_ct(self, key: str, pk: Any, shape: Shape) -> np.ndarray:
        raw = self.ctx.recv(self.other, key)
        try:
            ct = pk.from_bytes(raw)
        except ValueError as e:
            raise ProtocolError(f"{self.other!r} sent bad ciphertexts under {key!r}: {e}") from None
        if ct.shape != shape:
            raise ProtocolError(f"{self.other!r} sent ciphertexts {ct.shape}, expected {shape}")
        return np.asarray(ct)

    def _masks(self, shape: Shape, value_bits: int) -> np.ndarray:
        """Masks uniform in ``[0, 2^(value_bits + sigma))`` (Python ints), from ``secrets``."""
        bits = value_bits + STAT_SECURITY
        count = int(np.prod(shape))
        flat = [secrets.randbits(bits) for _ in range(count)]
        out = np.empty(count, dtype=object)
        out[:] = flat
        return out.reshape(shape)

    def _check_room(self, pk: Any, value_bits: int) -> None:
        if value_bits + STAT_SECURITY + 2 >= pk.modulus_bits:
            raise ConfigError("the Paillier key is too small for these masked products")

    # -- the one-round cross-term protocol ------------------------------------------------------
    def _cross(
        self,
        shapes: Sequence[Shape],
        operands: Sequence[np.ndarray] | None,
        compute: Callable[[Any, list[np.ndarray]], np.ndarray],
        out_shape: Shape,
        value_bits: int,
        decrypting: str,
    ) -> np.ndarray:
        """This party's share of a cross term ``v < 2^value_bits``, in one round trip.

        ``decrypting`` holds the key: it sends its ``operands`` (of ``shapes``)
        encrypted, and decrypts ``v + rho``; the other party evaluates
        ``compute(public key, ciphertexts) + Enc(rho)`` and keeps ``-rho``.
        """
        key = f"{self.namespace}/{self._round}"
        self._round += 1
        if self.party == decrypting:
            sk = self._own_key()
            pk = sk.public_key
            self._check_room(pk, value_bits)
            assert operands is not None
            for i, m in enumerate(operands):
                self._send_ct(f"{key}/enc{i}", pk, sk.encrypt_raw(m, n_jobs=self.n_jobs))
            masked = self._recv_ct(f"{key}/masked", pk, out_shape)
            return _ring_of(sk.decrypt_raw(masked, n_jobs=self.n_jobs))
        pk = self._other_key()
        self._check_room(pk, value_bits)
        received = [self._recv_ct(f"{key}/enc{i}", pk, s) for i, s in enumerate(shapes)]
        rho = self._masks(out_shape, value_bits)
        result = pk.add(compute(pk, received), pk.encrypt_raw(rho, n_jobs=self.n_jobs))
        self._send_ct(f"{key}/masked", pk, np.asarray(result, dtype=object).reshape(out_shape))
        return _ring_of(-rho)

    def _fetch(self, req: Request) -> dict[str, np.ndarray]:
        rng = self.ctx.rng
        p0 = self.party == self.key_holder
        n_jobs = self.n_jobs
        if req.kind == "elementwise":
            (shape,) = req.shapes
            a, b = rng.uint64(shape), rng.uint64(shape)

            def elementwise(pk: Any, ct: list[np.ndarray]) -> np.ndarray:
                # Enc(a0)^b1 * Enc(b0)^a1 = Enc(a0 b1 + a1 b0)
                return np.asarray(
                    pk.add(
                        pk.mul_plain(ct[0], b, n_jobs=n_jobs),
                        pk.mul_plain(ct[1], a, n_jobs=n_jobs),
                    )
                )

            cross = self._cross(
                [shape, shape], [a, b] if p0 else None, elementwise, shape, 129, self.key_holder
            )
            with np.errstate(over="ignore"):
                return {"a": a, "b": b, "c": np.asarray(a * b + cross, dtype=_U64)}
        if req.kind == "matmul":
            sa, sb = req.shapes
            a, b = rng.uint64(sa), rng.uint64(sb)
            a2, b2 = a.reshape(_as_2d(sa, "left")), b.reshape(_as_2d(sb, "right"))
            out2 = (a2.shape[0], b2.shape[1])

            def matmul(pk: Any, ct: list[np.ndarray]) -> np.ndarray:
                ea0, eb0 = ct[0].reshape(a2.shape), ct[1].reshape(b2.shape)
                # Enc(A0 @ B1): row i is Enc(A0[i, :])^T B1; Enc(A1 @ B0): column j is A1 Enc(B0[:, j])
                left = np.stack([pk.vecmat(ea0[i], b2, n_jobs=n_jobs) for i in range(out2[0])])
                right = np.stack(
                    [pk.matvec(a2, eb0[:, j], n_jobs=n_jobs) for j in range(out2[1])], axis=1
                )
                return np.asarray(pk.add(left.reshape(out2), right.reshape(out2)))

            inner = max(1, sa[-1])
            cross = self._cross(
                [sa, sb],
                [a, b] if p0 else None,
                matmul,
                out2,
                129 + inner.bit_length(),
                self.key_holder,
            )
            with np.errstate(over="ignore"):
                c = np.asarray(np.matmul(a2, b2) + cross, dtype=_U64)
            return {"a": a, "b": b, "c": c.reshape(req.c_shape)}
        if req.kind == "truncation":
            raise NotImplementedError(
                "PaillierProvider deals no truncation pairs: with two parties, use local "
                "truncation (Mpc.truncate's default, method='local')"
            )
        if req.kind == "plain_mask":
            if self.party != req.owner:
                return {}
            assert req.mask is not None
            self._plain_masks[req.mask] = rng.uint64(req.shapes[0])
            return {"a": self._plain_masks[req.mask]}
        if req.kind == "plain_matmul":
            return self._plain_matmul(req)
        raise ProtocolError(f"unknown request kind {req.kind!r}")  # pragma: no cover

    def _plain_matmul(self, req: Request) -> dict[str, np.ndarray]:
        """``[A' @ B]`` with ``A'`` (``A`` or ``A.T``) at the owner, ``B`` at the other party.

        The other party ``J`` encrypts ``B`` under its own key; the owner
        returns ``Enc_J(A' @ B + R)``; ``J`` decrypts and the owner keeps ``-R``.
        """
        sa, sb = req.shapes
        sa_used = sa[::-1] if req.transpose else sa
        b2_shape = _as_2d(sb, "right")
        out2 = (sa_used[0], b2_shape[1])
        inner = max(1, sa_used[1])
        value_bits = 128 + inner.bit_length()
        owner = self.party == req.owner
        b = None if owner else self.ctx.rng.uint64(sb)
        mask = self._mask_value(req) if owner else None
        n_jobs = self.n_jobs

        def product(pk: Any, ct: list[np.ndarray]) -> np.ndarray:
            assert mask is not None
            a_used = mask.T if req.transpose else mask
            eb = ct[0].reshape(b2_shape)
            cols = [pk.matvec(a_used, eb[:, j], n_jobs=n_jobs) for j in range(out2[1])]
            return np.stack(cols, axis=1).reshape(out2)

        decrypting = self.other if owner else self.party
        cross = self._cross([sb], None if b is None else [b], product, out2, value_bits, decrypting)
        c = cross.reshape(req.c_shape)
        return {"c": c} if owner else {"b": b, "c": c}  # type: ignore[dict-item]

    def _mask_value(self, req: Request) -> np.ndarray:
        mask = self._plain_masks.get(req.mask if req.mask is not None else -1)
        if mask is None or mask.shape != req.shapes[0]:
            raise ProtocolError(f"unknown plaintext mask {req.mask}")
        return mask


# -- (c) insecure, for tests ---------------------------------------------------------
INSECURE_ENV = "UNSEEN_ALLOW_INSECURE"


class InsecureProviderError(ConfigError):
    """The insecure test provider was asked for outside a test."""


class InsecureLocalProvider(TripleProvider):
    """INSECURE: every party derives the triples from one public seed. Tests only.

    Anyone who knows the seed knows every triple, hence every opened value
    unmasks the secrets. It refuses to start unless running under pytest
    (``PYTEST_CURRENT_TEST`` is set) or ``UNSEEN_ALLOW_INSECURE=1``.
    """

    def __init__(
        self,
        ctx: Context,
        parties: Sequence[str] | None = None,
        *,
        seed: bytes = b"unseen-insecure!",
    ) -> None:
        if "PYTEST_CURRENT_TEST" not in os.environ and os.environ.get(INSECURE_ENV) != "1":
            raise InsecureProviderError(
                "InsecureLocalProvider derives every Beaver triple from a PUBLIC seed, so it "
                "protects nothing; it runs only under pytest or with "
                f"{INSECURE_ENV}=1. Use DealerProvider or PaillierProvider."
            )
        super().__init__(ctx.party, parties if parties is not None else ctx.parties)
        ctx.log.warning("INSECURE triple provider in use: for tests only, protects nothing")
        streams = {
            p: AesCtrPrg(hashlib.sha256(b"unseen/insecure/" + seed + p.encode()).digest()[:16])
            for p in self.parties
        }
        self._dealing = _Dealing(self.parties, streams)

    def _fetch(self, req: Request) -> dict[str, np.ndarray]:
        return self._dealing.deal(req)[self.party]


__all__ = [
    "DealerProvider",
    "DealerStats",
    "INSECURE_ENV",
    "InsecureLocalProvider",
    "InsecureProviderError",
    "PaillierProvider",
    "PlainMask",
    "PlainTriple",
    "Request",
    "STAT_SECURITY",
    "Triple",
    "TripleProvider",
    "TruncationPair",
    "matmul_shape",
    "ring_matmul",
    "serve_dealer",
]
