"""``ss-dealer-matrix`` SecureBoost: per-bin sums as products of a host's plaintext
bin-indicator matrix with the guest's shared gradients, using dealer matrix triples.

What the guest must learn, for every host feature ``f``, node ``v`` and bin ``k``,
is ``sum_{i in v, bin_f(i) = k} (g_i, h_i)``: ``M^T y_v``, where ``M`` is the
host's one-hot bin-indicator matrix (``rows x F * W``, ``W = max_bin + 1`` bins per
feature, the last for missing values) and ``y_v`` the guest's fixed-point
gradients restricted to the node's rows (zero elsewhere). This module computes it
with SecureML's product of a plaintext matrix held by one party with a shared
vector (P. Mohassel, Y. Zhang, "SecureML", IEEE S&P 2017, section 4.2; Beaver,
CRYPTO 1991), the dealer providing the matrix triples
(:class:`~unseen.crypto.triples.DealerProvider`):

1. **Set-up, once.** The dealer and the host share a uniform mask ``A``
   (``rows x F W``, from the host's PRG stream); the host sends the guest
   ``E = M - A``, uniform. (Cost: ``8 rows F W`` bytes, once.)
2. **Per depth,** for each node ``v`` whose sums are needed (the smaller child;
   the guest derives the sibling) and for ``g`` and for ``h``: the dealer deals a
   fresh uniform ``b`` (known to the guest), and shares ``c_G + c_H = A^T b``.
   The guest sends the host ``f = y_v - b`` (uniform); the host returns
   ``c_H + M^T f`` (a per-feature sum of ``f`` by bin); the guest adds
   ``c_G + E^T b`` and has ``M^T y_v`` -- in ``Z_2^64``, exactly.

Leakage (semi-honest; the dealer colludes with no one): the guest learns the
per-(node, bin) sums of ``g`` and ``h`` -- exactly what classic SecureBoost
reveals -- and nothing else of ``M`` (``E`` is uniform; the host's return is
``M^T y_v`` plus a uniform mask the guest removes); the host learns nothing of the
gradients (``f`` is uniform); the dealer sees public sizes only. Hosts learn the
instance spaces, as in every mode.

Cost: the guest's ``E^T b`` and the dealer's ``A^T b`` are dense ring products,
``rows x F W`` multiply-adds per vector, two vectors per node summed -- about
``32 F W`` times a plaintext histogram per tree at depth 5. The host's part is a
per-feature histogram (a compiled bin sum). Memory: ``E`` at the guest, ``A`` at the
dealer, ``8 rows F W`` bytes each. Compare :mod:`unseen.ml.sbt_shuffle`
(``ss-dealer``): plaintext-histogram speed, but the guest also learns how many
rows of each node fall in each host bin.
"""

from __future__ import annotations

import threading

import numpy as np

from unseen.crypto.triples import DealerProvider, ring_matmul, serve_dealer
from unseen.ml import sbt_kernels as kernels
from unseen.ml.sbt_protocol import GuestExchange, HostExchange
from unseen.ml.sbt_shuffle import FixedPointGH
from unseen.runtime.context import Context
from unseen.runtime.errors import ProtocolError

_U64 = np.uint64
_NS = "sbt-mx"


def _namespace(host: str) -> str:
    return f"{_NS}/{host}"


class MatrixGuestExchange(GuestExchange):
    """The guest's side: gradients masked per node; ``E^T b`` plus the host's part."""

    def __init__(
        self,
        ctx: Context,
        hosts: list[str],
        dealer: str,
        widths: dict[str, int],
        width: int,
        rows: int,
    ) -> None:
        self.ctx, self.hosts, self.width, self.rows = ctx, hosts, width, rows
        self.n_features = widths
        self.fxp: FixedPointGH | None = None
        self.providers = {
            h: DealerProvider(ctx, dealer, [ctx.party, h], namespace=_namespace(h)) for h in hosts
        }
        self.masks = {}
        self.masked: dict[str, np.ndarray] = {}
        with ctx.step("ss-dealer-matrix: masked bin indicators"):
            for h in hosts:
                shape = (rows, widths[h] * width)
                self.masks[h] = self.providers[h].plain_mask(h, shape)
                e = ctx.recv(h, f"{_NS}/{h}/E")
                if not isinstance(e, np.ndarray) or e.dtype != _U64 or e.shape != shape:
                    raise ProtocolError(f"{h!r} sent a malformed masked indicator matrix")
                self.masked[h] = e
        self.y = np.zeros((0, 2), dtype=_U64)
        self.tree_rows = np.arange(rows)

    def begin_tree(
        self, tree: int, g: np.ndarray, h: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.tree_rows = np.arange(self.rows) if rows is None else rows
        self.fxp = FixedPointGH.for_gradients(g, h)  # sums in Z_2^64
        self.y = self.fxp.encode(g, h)
        return self.fxp.rounded(self.y)

    def _vectors(self, slot: np.ndarray, n_slots: int) -> np.ndarray:
        """``(rows, 2 n_slots)``: column ``2s`` is ``g`` on slot ``s``'s rows, ``2s+1`` is ``h``."""
        v = np.zeros((self.rows, 2 * n_slots), dtype=_U64)
        live = slot >= 0
        idx = self.tree_rows[live]
        s = slot[live].astype(np.int64)
        v[idx, 2 * s] = self.y[live, 0]
        v[idx, 2 * s + 1] = self.y[live, 1]
        return v

    def histograms(
        self, tree: int, depth: int, slot: np.ndarray, n_slots: int
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        assert self.fxp is not None
        v = self._vectors(slot, n_slots)
        k = v.shape[1]
        out = {}
        for host in self.hosts:
            f_count = self.n_features[host]
            provider, mask = self.providers[host], self.masks[host]
            triples = [provider.plain_matmul(mask, (self.rows,), transpose=True) for _ in range(k)]
            b = np.stack([_present(t.b) for t in triples], axis=1)  # (rows, k)
            with np.errstate(over="ignore"):
                self.ctx.send(host, f"{_NS}/{tree}/{depth}/{host}/f", v - b)
                mine = _dense_tmatmul(self.masked[host], b)  # (F W, k), while the host works
                for j, t in enumerate(triples):
                    mine[:, j] += t.c
            theirs = self.ctx.recv(host, f"{_NS}/{tree}/{depth}/{host}/share")
            if (
                not isinstance(theirs, np.ndarray)
                or theirs.dtype != _U64
                or theirs.shape
                != (
                    f_count * self.width,
                    k,
                )
            ):
                raise ProtocolError(f"{host!r} sent a malformed product share")
            with np.errstate(over="ignore"):
                total = mine + theirs
            sums = self.fxp.decode(total).reshape(f_count, self.width, n_slots, 2)
            out[host] = (
                np.ascontiguousarray(sums[..., 0].transpose(2, 0, 1)),
                np.ascontiguousarray(sums[..., 1].transpose(2, 0, 1)),
            )
        return out

    def finish(self, trees: int) -> None:
        for p in self.providers.values():
            p.close()


def _present(b: np.ndarray | None) -> np.ndarray:
    """A non-owner's share of the triple's ``b`` (the guest always has one)."""
    if b is None:
        raise ProtocolError("the triple has no share of b here")
    return b


def _dense_tmatmul(e: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``e.T @ b`` mod 2^64, a column of ``b`` at a time (``ring_matmul``'s fast matrix-vector
    loop; numpy's integer ``matmul`` on a transposed operand is far slower)."""
    return np.stack([ring_matmul(e.T, b[:, j]) for j in range(b.shape[1])], axis=1)


class MatrixHostExchange(HostExchange):
    """A host's side: the masked indicator once; per depth ``c_H + M^T f`` by bin sums."""

    arrives = "start of the tree"  # the masked gradients come per depth

    def __init__(
        self,
        ctx: Context,
        guest: str,
        dealer: str,
        width: int,
        bins: np.ndarray,
    ) -> None:
        self.ctx, self.guest, self.width = ctx, guest, width
        self.bins = bins  # (rows, F): every training row
        rows, f_count = bins.shape
        self.provider = DealerProvider(
            ctx, dealer, [guest, ctx.party], namespace=_namespace(ctx.party)
        )
        with ctx.step("ss-dealer-matrix: masked bin indicators"):
            self.mask = self.provider.plain_mask(ctx.party, (rows, f_count * width))
            assert self.mask.a is not None
            cols = np.arange(f_count) * width + bins.astype(np.int64)
            with np.errstate(over="ignore"):
                e = _U64(0) - self.mask.a  # E = M - A, M one-hot per feature
                e[np.arange(rows)[:, None], cols] += _U64(1)
            ctx.send(guest, f"{_NS}/{ctx.party}/E", e)
            del e
        self.codes = np.ascontiguousarray(bins.T)  # (F, rows): each row's bin, per feature

    def begin_tree(self, tree: int, bins: np.ndarray, rows: np.ndarray | None = None) -> None:
        pass  # the masked gradients come per depth, over every row

    def histograms(self, tree: int, depth: int, slot: np.ndarray, n_slots: int) -> None:
        rows, f_count = self.bins.shape
        k = 2 * n_slots
        triples = [self.provider.plain_matmul(self.mask, (rows,), transpose=True) for _ in range(k)]
        f = self.ctx.recv(self.guest, f"{_NS}/{tree}/{depth}/{self.ctx.party}/f")
        if not isinstance(f, np.ndarray) or f.dtype != _U64 or f.shape != (rows, k):
            raise ProtocolError("the guest sent malformed masked gradients")
        # M^T f: per feature, the sums of f by bin (exact, in the share ring), for the (g, h)
        # pair of each slot at once
        every = np.arange(rows)
        share = kernels.bin_sums(
            self.codes, every, np.zeros(rows, dtype=np.int32), f, 1, self.width
        ).reshape(f_count * self.width, k)
        with np.errstate(over="ignore"):
            for j, t in enumerate(triples):
                share[:, j] += t.c
        self.ctx.send(self.guest, f"{_NS}/{tree}/{depth}/{self.ctx.party}/share", share)

    def finish(self) -> None:
        self.provider.close()


def serve_matrix_dealer(ctx: Context, guest: str, hosts: list[str]) -> None:
    """The dealer's role: one triple session per host, served side by side."""
    errors: list[BaseException] = []

    def serve(host: str) -> None:
        try:
            serve_dealer(ctx, [guest, host], namespace=_namespace(host))
        except BaseException as e:  # noqa: BLE001 - re-raised below, in the main thread
            errors.append(e)

    threads = [threading.Thread(target=serve, args=(h,), daemon=True) for h in hosts[1:]]
    for t in threads:
        t.start()
    serve(hosts[0])
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


__all__ = [
    "MatrixGuestExchange",
    "MatrixHostExchange",
    "serve_matrix_dealer",
]
