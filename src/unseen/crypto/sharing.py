"""Additive secret sharing over Z_2^64 among two or more parties.

A value ``x`` (a ``uint64`` array; reals in fixed point, see
:class:`~unseen.crypto.fixedpoint.RingFixedPoint`) is held as shares ``x_i``
with ``x = sum_i x_i mod 2^64``, one per computing party. Protocol code reads
like the paper::

    mpc = Mpc(ctx, DealerProvider(ctx, dealer="arbiter"))
    x = mpc.share(x_plain if ctx.party == "guest" else None, owner="guest")
    y = mpc.share(y_plain if ctx.party == "host" else None, owner="host")
    z = mpc.truncate(x * y)            # Beaver multiplication, then fixed-point truncation
    result = mpc.reveal(z, to="guest")

Operations (``[x]`` is a :class:`Shared`):

- ``share``: the owner draws a fresh 16-byte seed for every other party and
  sends it (with the shape); that party's share is the AES-CTR expansion of
  the seed, and the owner keeps ``x - sum of the others``. Sharing costs
  ``16 + small`` bytes per other party, whatever the size of ``x``.
- ``reveal``: every party sends its share to everyone (or to one named party).
- ``[x] + [y]``, ``[x] - [y]``, ``[x] + c``, ``c * [x]``, ``C @ [x]`` for a
  public integer ``c`` or matrix ``C``: local, no communication.
- ``[x] * [y]``, ``[X] @ [Y]``: Beaver multiplication (Beaver, "Efficient
  multiparty protocols using circuit randomization", CRYPTO 1991) with an
  elementwise or a matrix triple (Mohassel & Zhang, "SecureML", IEEE S&P 2017,
  section 4.2): open ``e = x - a`` and ``f = y - b``, then
  ``[z] = [c] + e*[b] + [a]*f + e*f`` (``e*f`` added by the first party). One
  round; each party sends ``|x| + |y|`` ring elements to every other.
- ``M @ [y]``, ``M.T @ [y]``, ``[y] @ M`` for a matrix ``M`` that ONE party
  holds in plaintext (a :class:`PlainMatrix`): Beaver's product with the
  mask of ``M`` reused across products, as SecureML reuses the masked data
  matrix across iterations. ``E = M - A`` is sent once to the other parties;
  each product then costs only ``|y|`` ring elements from each other party to
  the owner (``[y] - [B]``), and the owner multiplies ``M`` in plaintext.
- ``truncate``: fixed-point truncation by ``f`` bits, probabilistic; see below.

Threat model: semi-honest (honest-but-curious) parties; with
:class:`~unseen.crypto.triples.DealerProvider`, a semi-honest dealer that
colludes with no computing party. Any proper subset of the computing parties
learns nothing beyond the outputs revealed to it: every share it holds is
uniform on its own, and every value opened is masked by a uniform, fresh
mask (``e = x - a``, ``f = y - b``, ``F = y - B``, ``c = x - r``) or by a
mask used only against one fixed plaintext matrix (``E = M - A``). Sizes
(shapes) are public. Not protected: a party that deviates from the protocol
(no MACs), and values that wrap modulo 2^64 (choose fixed-point parameters so
results stay in range).

Truncation (``[x]`` with ``2f`` fractional bits back to ``f``) has two forms:

- two parties, ``"local"`` (SecureML, Theorem 1): the first party computes
  ``x_0 >> f``, the second ``-((-x_1) >> f)``, with no communication. If
  ``|x| < 2^l_x`` the result is ``floor(x / 2^f)`` or that plus 1 (off by at
  most one unit in the last place), except with probability at most
  ``2^(l_x + 1 - 64)`` per element, in which case it is wildly wrong. It needs
  uniformly random shares, which every operation here keeps.
- any number of parties, ``"pair"`` (a truncation pair ``[r], [r >> f]``
  from the provider, as in ABY3 section 5.1.1): open ``c = x - r``, then
  ``[x'] = (c >> f) + [r >> f]``. The result is ``floor(x / 2^f)`` or that
  minus 1, except with probability at most ``2^(l_x - 64)`` per element.

With ``f = 16`` and products of reals below ``2^10`` (``l_x = 52``), a wild
error has probability about ``2^-11`` per element for ``"local"``: keep
``l_x`` small, e.g. ``f = 16`` with values below ``2^4`` gives ``2^-27``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from unseen.crypto.fixedpoint import RingFixedPoint
from unseen.crypto.prg import SEED_BYTES, AesCtrPrg
from unseen.crypto.triples import PlainMask, TripleProvider, matmul_shape, ring_matmul
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError

_U64 = np.uint64
Shape = tuple[int, ...]
Public = int | np.integer | np.ndarray
TruncMethod = Literal["auto", "local", "pair"]


def ring(value: Public) -> np.ndarray:
    """A public integer (array) as ring elements: ``uint64``, negatives in two's complement."""
    if isinstance(value, int):
        return np.asarray(value % (1 << 64), dtype=_U64)
    arr = np.asarray(value)
    if arr.dtype == _U64:
        return arr
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64).view(_U64)
    raise TypeError(
        f"public operands must be integers (ring elements), not {arr.dtype}; "
        "encode reals with RingFixedPoint, or use Mpc.mul_public_fixed"
    )


def _u64(x: Any) -> np.ndarray:
    """Keep results as arrays (0-d included): numpy scalars would warn on wrap-around."""
    return np.asarray(x, dtype=_U64)


class Mpc:
    """Secret-sharing engine of one party for one job.

    ``parties``: the computing parties, in the same order everywhere (default:
    the provider's). ``triples``: where Beaver triples come from; only needed for
    products and truncation pairs. ``fxp``: the fixed-point encoding (its
    ``frac_bits`` is the default truncation). ``namespace`` keeps the message
    keys of several engines in one job apart.

    Every computing party must call the same operations in the same order.
    """

    def __init__(
        self,
        ctx: Context,
        triples: TripleProvider | None = None,
        *,
        parties: Sequence[str] | None = None,
        fxp: RingFixedPoint | None = None,
        namespace: str = "ss",
    ) -> None:
        if parties is None:
            parties = triples.parties if triples is not None else ctx.parties
        self.parties: tuple[str, ...] = tuple(parties)
        if len(self.parties) < 2 or len(set(self.parties)) != len(self.parties):
            raise ConfigError(f"need two or more distinct computing parties, got {parties}")
        if ctx.party not in self.parties:
            raise ConfigError(f"{ctx.party!r} is not a computing party ({self.parties})")
        if triples is not None and triples.parties != self.parties:
            raise ConfigError(f"the triple provider serves {triples.parties}, not {self.parties}")
        self.ctx = ctx
        self.party = ctx.party
        self.others: tuple[str, ...] = tuple(p for p in self.parties if p != ctx.party)
        self.first = self.party == self.parties[0]
        self.triples = triples
        self.fxp = fxp or RingFixedPoint()
        self.namespace = namespace
        self._counter = 0

    # -- bookkeeping -------------------------------------------------------------
    def _key(self, what: str) -> str:
        self._counter += 1
        return f"{self.namespace}/{self._counter}/{what}"

    def _provider(self) -> TripleProvider:
        if self.triples is None:
            raise ConfigError("this operation needs a triple provider (Mpc(ctx, triples=...))")
        return self.triples

    def _wrap(self, share: np.ndarray) -> Shared:
        return Shared(self, _u64(share))

    def _recv_array(self, peer: str, key: str, shape: Shape) -> np.ndarray:
        got = self.ctx.recv(peer, key)
        if not isinstance(got, np.ndarray) or got.dtype != _U64 or got.shape != shape:
            desc = f"{got.dtype}{got.shape}" if isinstance(got, np.ndarray) else type(got).__name__
            raise ProtocolError(f"{peer!r} sent {desc} under {key!r}, expected uint64{shape}")
        return got

    def __enter__(self) -> Mpc:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None and self.triples is not None:
            self.triples.close()

    # -- input and output -------------------------------------------------------------
    def share(self, value: Public | None, owner: str) -> Shared:
        """Secret-share ``owner``'s ``value`` (ring elements); other parties pass ``None``."""
        if owner not in self.parties:
            raise ConfigError(f"owner {owner!r} is not a computing party")
        key = self._key("share")
        if self.party == owner:
            if value is None:
                raise ValueError("the owner must pass the value to share")
            x = ring(value)
            mine = x.copy()
            for p in self.others:
                seed = self.ctx.rng.token(SEED_BYTES)
                self.ctx.send(p, key, {"seed": seed.hex(), "shape": list(x.shape)})
                mine -= AesCtrPrg(seed).uint64(x.shape)
            return self._wrap(mine)
        if value is not None:
            raise ValueError(f"only the owner {owner!r} passes a value")
        msg = self.ctx.recv(owner, key)
        try:
            seed = bytes.fromhex(msg["seed"])
            shape = tuple(int(d) for d in msg["shape"])
            return self._wrap(AesCtrPrg(seed).uint64(shape))
        except (TypeError, KeyError, ValueError) as e:
            raise ProtocolError(f"malformed share from {owner!r}: {e}") from None

    def share_fixed(self, reals: Any, owner: str) -> Shared:
        """Encode ``owner``'s reals with :attr:`fxp` and share them."""
        return self.share(self.fxp.encode(reals) if self.party == owner else None, owner)

    def reveal(self, x: Shared, to: str | None = None) -> np.ndarray | None:
        """Open ``x`` to every party (``to=None``), or to ``to`` only (``None`` elsewhere)."""
        if to is None:
            (value,) = self._open([x.share])
            return value
        if to not in self.parties:
            raise ConfigError(f"{to!r} is not a computing party")
        key = self._key("reveal")
        if self.party != to:
            self.ctx.send(to, key, x.share)
            return None
        total = x.share.copy()
        for p in self.others:
            total += self._recv_array(p, key, x.shape)
        return total

    def reveal_fixed(self, x: Shared, to: str | None = None, scale: int = 1) -> np.ndarray | None:
        """Open and decode (``scale * frac_bits`` fractional bits)."""
        value = self.reveal(x, to)
        return None if value is None else self.fxp.decode(value, scale=scale)

    def _open(self, shares: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Open several shared arrays to every party in one message per pair."""
        key = self._key("open")
        flat = np.concatenate([_u64(s).ravel() for s in shares])
        for p in self.others:
            self.ctx.send(p, key, flat)
        total = flat.copy()
        for p in self.others:
            total += self._recv_array(p, key, flat.shape)
        out, pos = [], 0
        for s in shares:
            out.append(total[pos : pos + s.size].reshape(s.shape))
            pos += s.size
        return out

    # -- local operations --------------------------------------------------------------
    def add_public(self, x: Shared, c: Public) -> Shared:
        """``[x] + c`` for a public ``c`` (the first party adds it)."""
        if self.first:
            with np.errstate(over="ignore"):
                return self._wrap(x.share + ring(c))
        return self._wrap(
            np.array(np.broadcast_to(x.share, np.broadcast_shapes(x.shape, np.shape(c))))
        )

    def mul_public(self, x: Shared, c: Public) -> Shared:
        """``c * [x]`` for a public integer (array) ``c``; no truncation."""
        with np.errstate(over="ignore"):
            return self._wrap(x.share * ring(c))

    def mul_public_fixed(self, x: Shared, c: Any, method: TruncMethod = "auto") -> Shared:
        """``c * [x]`` for public reals ``c``, encoded with :attr:`fxp`, then truncated."""
        return self.truncate(self.mul_public(x, self.fxp.encode(c)), method=method)

    # -- truncation ----------------------------------------------------------------------
    def truncate(
        self, x: Shared, frac_bits: int | None = None, method: TruncMethod = "auto"
    ) -> Shared:
        """Divide by ``2^frac_bits`` (default :attr:`fxp`'s), probabilistically (module doc).

        ``method``: ``"local"`` (two parties, no communication), ``"pair"``
        (any number of parties, a truncation pair and one opening), ``"auto"``
        (``"local"`` for two parties, else ``"pair"``).
        """
        f = self.fxp.frac_bits if frac_bits is None else frac_bits
        if not 0 <= f < 64:
            raise ValueError("frac_bits must lie in [0, 64)")
        if f == 0:
            return x
        if method == "auto":
            method = "local" if len(self.parties) == 2 else "pair"
        if method == "local":
            if len(self.parties) != 2:
                raise ConfigError("local truncation is for two parties; use method='pair'")
            if self.first:
                return self._wrap(x.share >> _U64(f))
            return self._wrap(-((-x.share) >> _U64(f)))
        if method == "pair":
            pair = self._provider().truncation_pair(x.shape, f)
            (c,) = self._open([x.share - pair.r])
            if self.first:
                return self._wrap(pair.r_shift + (c.view(np.int64) >> f).view(_U64))
            return self._wrap(pair.r_shift)
        raise ValueError(f"unknown truncation method {method!r}")

    # -- products -------------------------------------------------------------------------
    def mul(self, x: Shared, y: Shared) -> Shared:
        """``[x * y]`` elementwise, by Beaver's protocol (same shapes; no truncation)."""
        (z,) = self.mul_many([(x, y)])
        return z

    def mul_many(self, pairs: Sequence[tuple[Shared, Shared]]) -> list[Shared]:
        """Several elementwise products in one round."""
        if not pairs:
            return []
        provider = self._provider()
        triples, masked = [], []
        for x, y in pairs:
            if x.shape != y.shape:
                raise ValueError(f"shapes differ: {x.shape} and {y.shape} (broadcast first)")
            t = provider.elementwise(x.shape)
            triples.append(t)
            masked += [x.share - t.a, y.share - t.b]
        opened = self._open(masked)
        out = []
        with np.errstate(over="ignore"):
            for i, t in enumerate(triples):
                e, f = opened[2 * i], opened[2 * i + 1]
                z = t.c + e * t.b + f * t.a
                if self.first:
                    z = z + e * f
                out.append(self._wrap(z))
        return out

    def matmul(self, x: Shared, y: Shared) -> Shared:
        """``[x @ y]`` for 1-d or 2-d shared operands, with a matrix triple (no truncation)."""
        t = self._provider().matmul(x.shape, y.shape)
        e, f = self._open([x.share - t.a, y.share - t.b])
        with np.errstate(over="ignore"):
            z = t.c + ring_matmul(e, t.b) + ring_matmul(t.a, f)
            if self.first:
                z = z + ring_matmul(e, f)
        return self._wrap(z)

    def mul_fixed(self, x: Shared, y: Shared, method: TruncMethod = "auto") -> Shared:
        """Fixed-point ``[x * y]``: Beaver product, then truncation by ``frac_bits``."""
        return self.truncate(self.mul(x, y), method=method)

    def matmul_fixed(self, x: Shared, y: Shared, method: TruncMethod = "auto") -> Shared:
        """Fixed-point ``[x @ y]``: matrix Beaver product, then truncation by ``frac_bits``."""
        return self.truncate(self.matmul(x, y), method=method)

    # -- a plaintext matrix at one party times shared values ------------------------------
    def plain_matrix(
        self, matrix: Public | None, owner: str, shape: Sequence[int] | None = None
    ) -> PlainMatrix:
        """Prepare ``owner``'s plaintext matrix (ring elements) for products with shared values.

        The owner passes ``matrix``; the others pass ``None`` and its public
        ``shape``. The owner sends ``E = M - A`` (uniform) to the others once;
        every later product ``M @ [y]``, ``M.T @ [y]`` or ``[y] @ M`` reuses it.
        """
        if owner not in self.parties:
            raise ConfigError(f"owner {owner!r} is not a computing party")
        m = None
        if self.party == owner:
            if matrix is None:
                raise ValueError("the owner must pass the matrix")
            m = ring(matrix)
            if shape is not None and tuple(shape) != m.shape:
                raise ValueError(f"matrix is {m.shape}, shape says {tuple(shape)}")
            shape = m.shape
        elif matrix is not None:
            raise ValueError(f"only the owner {owner!r} passes the matrix")
        if shape is None:
            raise ValueError("parties other than the owner must pass the matrix's shape")
        s = tuple(int(d) for d in shape)
        if len(s) != 2:
            raise ValueError(f"a plaintext matrix must be 2-d, got shape {s}")
        mask = self._provider().plain_mask(owner, s)
        key = self._key("masked-matrix")
        if m is not None:
            assert mask.a is not None
            masked = m - mask.a
            for p in self.others:
                self.ctx.send(p, key, masked)
            return PlainMatrix(self, mask, value=m, masked=None)
        return PlainMatrix(self, mask, value=None, masked=self._recv_array(owner, key, s))

    def _plain_matmul(self, pm: PlainMatrix, y: Shared, transpose: bool) -> Shared:
        """``[M @ y]`` (``M.T`` if ``transpose``); see :meth:`plain_matrix`."""
        t = self._provider().plain_matmul(pm.mask, y.shape, transpose)
        key = self._key("plain-matmul")
        owner = pm.mask.owner
        if self.party == owner:
            assert pm.value is not None
            f = y.share.copy()
            for p in self.others:
                f += self._recv_array(p, key, y.shape)  # y_p - B_p
            m = pm.value.T if transpose else pm.value
            with np.errstate(over="ignore"):
                return self._wrap(t.c + ring_matmul(m, f))
        assert pm.masked is not None and t.b is not None
        self.ctx.send(owner, key, y.share - t.b)
        e = pm.masked.T if transpose else pm.masked
        with np.errstate(over="ignore"):
            return self._wrap(t.c + ring_matmul(e, t.b))


@dataclass(frozen=True, eq=False)
class PlainMatrix:
    """A matrix ``M`` held in plaintext by ``mask.owner``, ready for ``M @ [y]`` and ``[y] @ M``.

    ``value`` is ``M`` at the owner; ``masked`` is ``E = M - A`` at the others.
    ``.T`` is the transpose, sharing the same mask (no new opening).
    """

    mpc: Mpc
    mask: PlainMask
    value: np.ndarray | None
    masked: np.ndarray | None
    transposed: bool = False

    __array_ufunc__ = None

    @property
    def owner(self) -> str:
        return self.mask.owner

    @property
    def shape(self) -> Shape:
        return self.mask.shape[::-1] if self.transposed else self.mask.shape

    @property
    def T(self) -> PlainMatrix:  # noqa: N802 - numpy's name
        return PlainMatrix(self.mpc, self.mask, self.value, self.masked, not self.transposed)

    def __matmul__(self, y: Shared) -> Shared:
        if not isinstance(y, Shared):
            return NotImplemented
        matmul_shape(self.shape, y.shape)
        return self.mpc._plain_matmul(self, y, self.transposed)


@dataclass(frozen=True, eq=False)
class Shared:
    """This party's share of a secret-shared ``uint64`` array.

    Arithmetic with other :class:`Shared` values and with public integers is
    written with operators: ``+ - *`` and ``@`` (products of two shared values
    communicate; the rest is local). Shapes are public.
    """

    mpc: Mpc
    share: np.ndarray

    __array_ufunc__ = None  # ``ndarray + Shared`` defers to Shared's operators

    @property
    def shape(self) -> Shape:
        return tuple(self.share.shape)

    @property
    def size(self) -> int:
        return int(self.share.size)

    @property
    def ndim(self) -> int:
        return int(self.share.ndim)

    def __len__(self) -> int:
        return len(self.share)

    def __repr__(self) -> str:
        return f"Shared(party={self.mpc.party!r}, shape={self.shape})"

    # local reshaping: every party applies the same to its share
    @property
    def T(self) -> Shared:  # noqa: N802 - numpy's name
        return Shared(self.mpc, self.share.T)

    def reshape(self, *shape: Any) -> Shared:
        return Shared(self.mpc, self.share.reshape(*shape))

    def __getitem__(self, index: Any) -> Shared:
        return Shared(self.mpc, _u64(self.share[index]))

    def sum(self, axis: int | None = None) -> Shared:
        return Shared(self.mpc, _u64(self.share.sum(axis=axis, dtype=_U64)))

    # arithmetic
    def _check(self, other: Shared) -> None:
        if other.mpc is not self.mpc:
            raise ValueError("operands belong to different Mpc engines")

    def __add__(self, other: Shared | Public) -> Shared:
        if isinstance(other, Shared):
            self._check(other)
            return Shared(self.mpc, _u64(self.share + other.share))
        return self.mpc.add_public(self, other)

    __radd__ = __add__

    def __neg__(self) -> Shared:
        return Shared(self.mpc, _u64(-self.share))

    def __sub__(self, other: Shared | Public) -> Shared:
        if isinstance(other, Shared):
            self._check(other)
            return Shared(self.mpc, _u64(self.share - other.share))
        return self.mpc.add_public(self, -ring(other))

    def __rsub__(self, other: Public) -> Shared:
        return self.mpc.add_public(-self, other)

    def __mul__(self, other: Shared | Public) -> Shared:
        if isinstance(other, Shared):
            self._check(other)
            return self.mpc.mul(self, other)
        return self.mpc.mul_public(self, other)

    __rmul__ = __mul__

    def __matmul__(self, other: Shared | PlainMatrix | np.ndarray) -> Shared:
        if isinstance(other, Shared):
            self._check(other)
            return self.mpc.matmul(self, other)
        if isinstance(other, PlainMatrix):
            # y @ M = (M.T @ y.T).T
            return (other.T @ self.T).T
        return Shared(self.mpc, _u64(self.share @ ring(other)))  # a public matrix: local

    def __rmatmul__(self, other: np.ndarray) -> Shared:
        return Shared(self.mpc, _u64(ring(other) @ self.share))  # a public matrix: local


__all__ = ["Mpc", "PlainMatrix", "Shared", "ring"]
