"""Compiled loops (Numba) of SecureBoost: histograms, share sums, permutations, gathers.

Each is a loop that numpy cannot do in one call without temporaries (most are
one pass over the rows): the plaintext per-bin sums of ``g`` and ``h`` for every feature
and node at once; the best split of every node of a depth; a depth's routing of
the rows; for ``ss-dealer``, a per-label sum of ``uint64`` shares
(modulo ``2^64``, which a float64 ``bincount`` cannot do exactly) by labels
packed in a few bits each, a Fisher-Yates shuffle, and gathers through a
permutation (of ``(g, h)`` pairs, or of labels as they are packed).
They are compiled once per machine (Numba caches the machine code beside this
module, or in the user's cache when that folder is read-only); :func:`warm_up`
compiles them ahead of the first tree, sharing the work among the processes of
a machine that warm up at once.

Secrets pass through these loops but no randomness is made here: the
shuffle consumes words drawn by the caller from an AES-CTR stream
(:class:`~unseen.crypto.prg.AesCtrPrg`). The loops index with trusted
arrays only (this party's permutations and bins, or a peer's labels checked
in range beforehand): Numba does not check bounds. An index read from an array
is cast to unsigned (``np.uintp``) where it cannot be negative: Numba then
leaves out its check for a negative index (Python's wraparound), which took a
fifth to a half of the time of the gathers, sums and routing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numba
import numpy as np
from numba import njit

try:
    import fcntl  # the warm-up's file locks: POSIX only
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from unseen.crypto.parallel import usable_cpus
from unseen.crypto.prg import AesCtrPrg

_U64 = np.uint64
_T = TypeVar("_T")


class FeatureThreads:
    """Runs a loop over features in parts, one part per core of this party, in threads.

    The loops here release the GIL (``nogil``), so parts run at once. A party
    on a machine of its own (production) then uses all its cores on a depth's
    share sums and label packing, which are on the path every depth waits on;
    where parties share cores, the parts only take turns. ``threads`` defaults
    to the cores this process may run on (its affinity), at most 8.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = max(1, threads if threads is not None else min(usable_cpus(), 8))
        self._pool = (
            ThreadPoolExecutor(self.threads - 1, thread_name_prefix="sbt-features")
            if self.threads > 1
            else None
        )

    def map(self, f_count: int, work: Callable[[slice], _T]) -> list[_T]:
        """``work`` over features ``0 .. f_count - 1`` in consecutive parts, results in order."""
        parts = max(1, min(self.threads, f_count))  # one (empty) part for no features
        cuts = [f_count * i // parts for i in range(parts + 1)]
        spans = [slice(cuts[i], cuts[i + 1]) for i in range(parts)]
        if self._pool is None or len(spans) == 1:
            return [work(span) for span in spans]
        others = [self._pool.submit(work, span) for span in spans[1:]]
        first = work(spans[0])  # this thread takes a part too
        return [first, *(f.result() for f in others)]

    def concat(self, f_count: int, work: Callable[[slice], np.ndarray]) -> np.ndarray:
        """:meth:`map`, its arrays joined along the feature axis (the first)."""
        parts = self.map(f_count, work)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


#: above this many rows a permutation is drawn in two passes (:func:`_bucket_shuffle`):
#: its int32 positions (8 MB here) no longer stay in the shared cache beside the others'
#: data, and a whole-array shuffle's swaps wait for memory
TWO_PASS_ROWS = 1 << 21
#: rows of a bucket of the two-pass shuffle, at most (on average 1/2 to 1 of it): the
#: bucket's positions (64-128 kB) then stay in a core's own cache while it is shuffled
BUCKET_ROWS = 32768


@njit(cache=True, nogil=True)
def _shuffle_range(
    words: np.ndarray, used: int, p: np.ndarray, start: int, end: int
) -> int:  # pragma: no cover
    """Durstenfeld's shuffle of ``p[start:end]`` in place, from uniform 32-bit ``words``
    (from ``words[used]`` on).

    Position ``k`` swaps with ``j`` uniform in ``[0, k]``, drawn by Lemire's
    multiply-and-reject ("Fast random integer generation in an interval",
    ACM TOMACS 2019): exact, no modulo bias. Returns the words used so far, or
    ``-1`` if ``words`` ran out first (the caller draws more and starts again).
    """
    low32 = np.uint64(0xFFFFFFFF)
    two32 = np.uint64(1) << np.uint64(32)
    # unsigned indices throughout: no wraparound checks (a fifth of the loop's time)
    size = np.uint64(words.size)
    at_used = np.uint64(used)
    one = np.uint64(1)
    base = np.uint64(start)
    for k in range(end - start - 1, 0, -1):
        at = np.uint64(k)
        bound = at + one
        if at_used >= size:
            return -1
        m = np.uint64(words[at_used]) * bound
        at_used += one
        if (m & low32) < bound:  # rarely: the exact rejection threshold is needed
            threshold = two32 % bound
            while (m & low32) < threshold:
                if at_used >= size:
                    return -1
                m = np.uint64(words[at_used]) * bound
                at_used += one
        j = base + (m >> np.uint64(32))
        i = base + at
        t = p[i]
        p[i] = p[j]
        p[j] = t
    return int(at_used)


@njit(cache=True, nogil=True)
def _fisher_yates(words: np.ndarray, p: np.ndarray) -> int:  # pragma: no cover
    """Durstenfeld's shuffle of ``range(n)`` into ``p`` (``n = p.size``): see
    :func:`_shuffle_range`. Returns the words used, or ``-1`` if they ran out."""
    for i in range(p.size):
        p[i] = i
    return _shuffle_range(words, 0, p, 0, p.size)


@njit(cache=True, nogil=True)
def _bucket_shuffle(
    draws: np.ndarray, n_buckets: int, words: np.ndarray, p: np.ndarray
) -> int:  # pragma: no cover
    """A uniform shuffle of ``range(n)`` into ``p`` in two cache-friendly passes (Rao 1961,
    Sandelius 1962): row ``i`` goes to bucket ``draws[i]`` (uniform in ``[0, n_buckets)``,
    independent), the buckets laid end to end (rows in order within each), then each
    bucket is shuffled in place (:func:`_shuffle_range`, from ``words``).

    Uniform: given the buckets' sizes, every split of the rows into buckets of those sizes
    is as likely as any other, and so is every order within a bucket, so every order of
    all rows is. Returns the words used, or ``-1`` if they ran out."""
    n = p.size
    starts = np.zeros(n_buckets + 1, dtype=np.intp)
    for i in range(n):
        starts[np.uintp(draws[i]) + 1] += 1
    for b in range(n_buckets):
        starts[b + 1] += starts[b]
    cursor = starts[:-1].copy()
    for i in range(n):
        d = np.uintp(draws[i])
        p[np.uintp(cursor[d])] = i
        cursor[d] += 1
    used = 0
    for b in range(n_buckets):
        used = _shuffle_range(words, used, p, starts[b], starts[b + 1])
        if used < 0:
            return -1
    return used


def bucket_count(n: int) -> int:
    """The buckets of :func:`permutation`'s shuffle of ``n`` rows: 1 (a whole-array
    shuffle) up to :data:`TWO_PASS_ROWS` rows, else the least power of two (at most 2^16)
    that leaves at most :data:`BUCKET_ROWS` rows a bucket on average."""
    count = 1
    if n > TWO_PASS_ROWS:
        while count < 2**16 and n > count * BUCKET_ROWS:
            count *= 2
    return count


def permutation(
    prg: AesCtrPrg, n: int, out: np.ndarray | None = None, buckets: int | None = None
) -> np.ndarray:
    """A uniform permutation of ``range(n)`` (int32), from the stream of ``prg``.

    Exactly uniform given uniform words: Fisher-Yates with rejection, and above
    :data:`TWO_PASS_ROWS` rows first a uniform bucket per row (from 16-bit draws taken
    before the shuffle's words, :func:`_bucket_shuffle`). The result is a function of the
    stream alone, so two parties holding the seed draw the same permutation. ``out``: an
    int32 array of ``n`` to write it into (e.g. a row of a stack of permutations),
    instead of a new one. ``buckets``: a power of two up to 2^16 instead of
    :func:`bucket_count`'s (for tests).
    """
    if not 0 <= n < 2**31:
        raise ValueError(f"cannot permute {n} rows")
    if out is None:
        out = np.empty(n, dtype=np.int32)
    elif out.shape != (n,) or out.dtype != np.int32 or not out.flags.c_contiguous:
        raise ValueError(f"a permutation of {n} rows needs a contiguous int32 array of {n}")
    if buckets is None:
        buckets = bucket_count(n)
    elif not (1 <= buckets <= 2**16 and buckets & (buckets - 1) == 0):
        raise ValueError(f"buckets must be a power of two up to 65536, not {buckets}")
    draws = None
    if buckets > 1:  # a power of two: the low bits of a uniform 16-bit draw are uniform
        draws = prg.uint64((n + 3) // 4).view(np.uint16)[:n] & np.uint16(buckets - 1)
    # n - 1 draws; one in a range of m rows is rejected with probability below m / 2^32,
    # so a shuffle of ranges of at most m rows rejects n m / 2^33 on average at most:
    # twice that and 64 words are spare (a fixed 129 were too few from about 1.5 million
    # rows: a 2-million-row shuffle always ran out and started again). A bucket 4 times
    # its mean size is so unlikely that running out then is fine.
    longest = n if buckets == 1 else min(n, 4 * -(-n // buckets))
    spare = n * longest // 2**32 + 64
    words = prg.uint64((n + spare) // 2 + 1).view(np.uint32)
    while (
        _fisher_yates(words, out) if draws is None else _bucket_shuffle(draws, buckets, words, out)
    ) < 0:
        # ran out (vanishingly rare): the same shuffle over the longer stream
        words = np.concatenate([words, prg.uint64(words.size // 2 + 64).view(np.uint32)])
    return out


@njit(cache=True, nogil=True)
def bin_sums(
    cols: np.ndarray,
    rows: np.ndarray,
    slot: np.ndarray,
    values: np.ndarray,
    n_slots: int,
    width: int,
) -> np.ndarray:  # pragma: no cover
    """Per-bin sums by node: ``out[slot[i], f, cols[f, i]] += values[i]`` over ``rows``.

    ``cols``: ``(F, n)`` bins below ``width``, feature-major; ``rows``: the rows
    to add, ascending, with ``0 <= slot[row] < n_slots``; ``values``: ``(n, C)``,
    float64 (``g``, ``h``) or uint64 (shares, summed modulo ``2^64``). Each bin
    adds its rows in row order, as ``numpy.bincount`` does, so float64 sums are
    the same to the last bit. Returns ``(n_slots, F, width, C)`` of ``values``'
    type.
    """
    f_count, n_cols = cols.shape[0], values.shape[1]
    out = np.zeros((n_slots, f_count, width, n_cols), dtype=values.dtype)
    if n_cols == 2:  # (g, h): without a loop over the columns, 2.7x faster
        for i in range(rows.size):  # row by row: each row's slot and values are read once
            # unsigned indices (in range, as documented): no wraparound checks
            r = np.uintp(rows[i])
            s, g, h = np.uintp(slot[r]), values[r, 0], values[r, 1]
            for f in range(f_count):
                b = cols[f, r]
                out[s, f, b, 0] += g
                out[s, f, b, 1] += h
        return out
    for r in rows:
        s = slot[r]
        for f in range(f_count):
            b = cols[f, r]
            for c in range(n_cols):
                out[s, f, b, c] += values[r, c]
    return out


@njit(cache=True, nogil=True)
def encode_packed(
    g: np.ndarray, h: np.ndarray, g_frac: int, h_frac: int, split: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Each row's ``(g, h)`` as one word ``G + 2^split H`` of ``Z_2^64``, and the reals it encodes.

    ``G = rint(g 2^g_frac)`` (signed, as its two's complement), ``H = rint(h
    2^h_frac)``; returns the ``(n, 1)`` uint64 words and ``G / 2^g_frac``,
    ``H / 2^h_frac`` (float64). One pass instead of numpy's eleven (each a fresh
    temporary array): the guest does this at the start of every tree.
    """
    n = g.size
    words = np.empty((n, 1), dtype=np.uint64)
    g_out, h_out = np.empty(n), np.empty(n)
    g_scale, h_scale = float(1 << g_frac), float(1 << h_frac)
    shift = np.uint64(split)
    for i in range(n):
        big, small = np.rint(g[i] * g_scale), np.rint(h[i] * h_scale)
        words[i, 0] = np.uint64(np.int64(big)) + (np.uint64(np.int64(small)) << shift)
        g_out[i], h_out[i] = big / g_scale, small / h_scale
    return words, g_out, h_out


@njit(cache=True, nogil=True)
def take(table: np.ndarray, index: np.ndarray) -> np.ndarray:  # pragma: no cover
    """``table[index]`` (``index`` in range; one pass, without numpy's cast of the index)."""
    out = np.empty(index.size, dtype=table.dtype)
    for i in range(index.size):
        out[i] = table[np.uintp(index[i])]  # unsigned: no wraparound check
    return out


@njit(cache=True, nogil=True)
def node_counts(node_rows: np.ndarray, n_nodes: int) -> np.ndarray:  # pragma: no cover
    """``numpy.bincount(node_rows, minlength=n_nodes)`` (int64), in one pass."""
    out = np.zeros(n_nodes, dtype=np.int64)
    for i in range(node_rows.size):
        out[np.uintp(node_rows[i])] += 1  # unsigned: no wraparound check
    return out


@njit(cache=True, nogil=True)
def slot_labels(slot: np.ndarray, n_slots: int, out: np.ndarray) -> np.ndarray:  # pragma: no cover
    """``out[i] = slot[i]``, or ``n_slots`` where ``slot[i] < 0`` (a row not summed)."""
    for i in range(slot.size):
        s = slot[i]
        out[i] = n_slots if s < 0 else s
    return out


LABEL_BITS = (1, 2, 4, 8, 16)  # label widths: within one byte, or two whole bytes


def packed_size(n: int, bits: int) -> int:
    """Bytes per feature of ``n`` labels of ``bits`` bits (one of :data:`LABEL_BITS`)."""
    return (n * bits + 7) // 8


@njit(cache=True, nogil=True)
def _lanes(bits: int) -> int:  # pragma: no cover
    """``log2(8 // bits)``: label ``i`` is in byte ``i >> lanes`` (bits up to 8)."""
    if bits != 1 and bits != 2 and bits != 4 and bits != 8:
        raise ValueError("labels are packed in 1, 2, 4, 8 or 16 bits")
    out = 0
    k = 8 // bits
    while k > 1:
        k >>= 1
        out += 1
    return out


@njit(cache=True, nogil=True, inline="always")
def _pack_row(
    row: np.ndarray, perm: np.ndarray, labels: np.ndarray, bits: int
) -> None:  # pragma: no cover
    """``row`` = ``labels[perm]`` packed ``8 // bits`` a byte, each byte written once.

    Always inlined with a constant ``bits``, so the loop over a byte's labels
    is unrolled with constant shifts (twice as fast as one loop for every width).
    """
    per = 8 // bits
    n = perm.size
    full = n // per
    for byte in range(full):
        base = byte * per
        v = np.intp(0)
        for j in range(per):
            # an unsigned index: no check for a negative one (Python's wraparound)
            v |= np.intp(labels[np.uintp(perm[base + j])]) << (j * bits)
        row[byte] = np.uint8(v)
    if full * per < n:  # the last, partial byte: its padding bits are zero
        v = np.intp(0)
        for i in range(full * per, n):
            v |= np.intp(labels[np.uintp(perm[i])]) << ((i - full * per) * bits)
        row[full] = np.uint8(v)


@njit(cache=True, nogil=True)
def _pack_into(
    row: np.ndarray, perm: np.ndarray, labels: np.ndarray, bits: int
) -> None:  # pragma: no cover
    """``row`` = ``labels[perm]``, each label in ``bits`` bits, packed (see :func:`pack_gathered`)."""
    if bits == 16:
        for i in range(perm.size):
            v = np.intp(labels[np.uintp(perm[i])])
            row[2 * i] = np.uint8(v & 0xFF)
            row[2 * i + 1] = np.uint8(v >> 8)
    elif bits == 1:  # one unrolled loop per width
        _pack_row(row, perm, labels, 1)
    elif bits == 2:
        _pack_row(row, perm, labels, 2)
    elif bits == 4:
        _pack_row(row, perm, labels, 4)
    else:
        _lanes(bits)  # checks the width
        _pack_row(row, perm, labels, 8)


@njit(cache=True, nogil=True)
def pack_gathered(
    values: np.ndarray, perms: np.ndarray, bits: int
) -> np.ndarray:  # pragma: no cover
    """``values[f][perms[f]]``, each label in ``bits`` bits (1, 2, 4, 8 or 16), packed.

    ``values``: ``(F, n)`` unsigned, each below ``2^bits``. Label ``i`` of
    feature ``f`` is bits ``(i % k) * bits ...`` of byte ``out[f, i // k]``,
    ``k = 8 // bits``, lowest first; 16-bit labels are two bytes each,
    little-endian. Returns ``(F, packed_size(n, bits))`` uint8.
    """
    f_count, n = perms.shape
    out = np.empty((f_count, (n * bits + 7) // 8 if bits < 16 else 2 * n), dtype=np.uint8)
    for f in range(f_count):
        _pack_into(out[f], perms[f], values[f], bits)
    return out


@njit(cache=True, nogil=True)
def pack_permuted(
    labels: np.ndarray, perms: np.ndarray, bits: int
) -> np.ndarray:  # pragma: no cover
    """:func:`pack_gathered` of one label vector for every feature: ``labels[perms[f]]``.

    ``labels``: ``(n,)``, contiguous (a feature's row read through a broadcast
    view is strided to Numba, and the gathers then take a sixth longer).
    """
    f_count, n = perms.shape
    out = np.empty((f_count, (n * bits + 7) // 8 if bits < 16 else 2 * n), dtype=np.uint8)
    for f in range(f_count):
        _pack_into(out[f], perms[f], labels, bits)
    return out


@njit(cache=True, nogil=True, inline="always")
def _slot_at(packed: np.ndarray, i: int, bits: int, lanes: int) -> int:  # pragma: no cover
    """Label ``i`` of one feature's packed labels (as :func:`pack_gathered` packs them)."""
    # np.intp, not int: numba reads a uint8 as unsigned, and unsigned with signed is a float
    if bits == 16:
        return int(np.intp(packed[2 * i]) | (np.intp(packed[2 * i + 1]) << 8))
    return int(
        (np.intp(packed[i >> lanes]) >> ((i & ((1 << lanes) - 1)) * bits)) & ((1 << bits) - 1)
    )


@njit(cache=True, nogil=True, inline="always")
def _sum_row(
    o: np.ndarray,
    packed: np.ndarray,
    row_bins: np.ndarray,
    row_shares: np.ndarray,
    width: int,
    bits: int,
) -> None:  # pragma: no cover
    """``o[label * width + bin] += share`` over one feature's rows (one word a row).

    Labels packed in ``bits`` = 1, 2, 4 or 8 bits; ``o`` has ``2^bits * width``
    entries, so every label lands inside it. Always inlined with a constant
    ``bits``: a byte's labels are unpacked with constant shifts, in an
    unrolled loop (twice as fast as :func:`_slot_at` row by row).
    """
    per = 8 // bits
    mask = (1 << bits) - 1
    n = row_bins.size
    full = n // per
    # unsigned throughout (unsigned with signed is a float to Numba): an index that
    # cannot be negative needs no wraparound check, and the loop runs a third faster
    u_mask, u_width = np.uintp(mask), np.uintp(width)
    for byte in range(full):
        v = np.uintp(packed[byte])
        base = byte * per
        for j in range(per):
            k = ((v >> np.uintp(j * bits)) & u_mask) * u_width + np.uintp(row_bins[base + j])
            o[k] += row_shares[base + j]
    if full * per < n:
        last = np.intp(packed[full])
        for i in range(full * per, n):
            at = ((last >> ((i - full * per) * bits)) & mask) * width + np.intp(row_bins[i])
            o[at] += row_shares[i]


@njit(cache=True, nogil=True)
def label_sums(
    slots: np.ndarray, bits: int, bins: np.ndarray, shares: np.ndarray, width: int, n_slots: int
) -> np.ndarray:  # pragma: no cover
    """``out[f, slot * width + bin] = sum of shares[f, i]`` over rows ``i`` with that label, mod 2^64.

    ``slots``: ``(F, packed_size(n, bits))``, each row's slot packed as by
    :func:`pack_gathered`; slot ``n_slots`` marks a row not summed. ``bins``:
    ``(F, n)``, each below ``width``. ``shares``: ``(F, n, L)`` uint64, ``L``
    = 1 or 2 words a row. Returns ``(F, n_slots * width, L)`` uint64. A slot
    above ``n_slots`` (a peer's malformed label, see :func:`largest_label`) is
    summed where it is cut off, never outside the output.
    """
    f_count, n = bins.shape
    words = shares.shape[2]
    # rows not summed land in slot n_slots and above, cut off at the end: no branch per row
    cap = n_slots if bits == 16 else (1 << bits) - 1  # the largest slot a label can name
    out = np.zeros((f_count, (cap + 1) * width, words), dtype=np.uint64)
    if words == 1 and bits != 16:  # logistic gradients: one unrolled loop per width
        _lanes(bits)  # checks the width
        # rows of 2-d views: contiguous 1-d arrays; out[f, :, 0] is strided to Numba,
        # which made the loop half as fast again
        flat_out = out.reshape(f_count, (cap + 1) * width)
        flat_shares = shares.reshape(f_count, n)
        for f in range(f_count):
            o, row_shares = flat_out[f], flat_shares[f]
            if bits == 1:
                _sum_row(o, slots[f], bins[f], row_shares, width, 1)
            elif bits == 2:
                _sum_row(o, slots[f], bins[f], row_shares, width, 2)
            elif bits == 4:
                _sum_row(o, slots[f], bins[f], row_shares, width, 4)
            else:
                _sum_row(o, slots[f], bins[f], row_shares, width, 8)
        return out[:, : n_slots * width]
    lanes = 0 if bits >= 8 else _lanes(bits)
    for f in range(f_count):
        o, packed, row_bins, row_shares = out[f], slots[f], bins[f], shares[f]
        if words == 1:
            for i in range(n):
                s = min(_slot_at(packed, i, bits, lanes), cap)
                o[s * width + np.intp(row_bins[i]), 0] += row_shares[i, 0]
        else:
            for i in range(n):
                k = min(_slot_at(packed, i, bits, lanes), cap) * width + np.intp(row_bins[i])
                o[k, 0] += row_shares[i, 0]
                o[k, 1] += row_shares[i, 1]
    return out[:, : n_slots * width]


def largest_label(packed: np.ndarray, bits: int) -> int:
    """The largest label in ``packed`` (as :func:`pack_gathered` packs them); 0 if none.

    Padding bits past the last label are zero, so they never raise it.
    """
    if packed.size == 0:
        return 0
    if bits == 16:
        return int(np.ascontiguousarray(packed).view("<u2").max())
    return _largest_packed(np.ascontiguousarray(packed).reshape(-1), bits)


@njit(cache=True, nogil=True, inline="always")
def _largest_in_bytes(flat: np.ndarray, bits: int) -> int:  # pragma: no cover
    """The largest ``bits``-bit label in the bytes ``flat``; inlined with a constant ``bits``
    (unrolled, vectorised: 3 to 5 times faster than a lookup table per byte)."""
    per = 8 // bits
    mask = np.uint8((1 << bits) - 1)
    out = np.uint8(0)
    for b in flat:
        for j in range(per):
            out = max(out, (b >> np.uint8(j * bits)) & mask)
    return int(out)


@njit(cache=True, nogil=True)
def _largest_packed(flat: np.ndarray, bits: int) -> int:  # pragma: no cover
    """:func:`largest_label` for labels of 1, 2, 4 or 8 bits."""
    if bits == 1:
        return _largest_in_bytes(flat, 1)
    if bits == 2:
        return _largest_in_bytes(flat, 2)
    if bits == 4:
        return _largest_in_bytes(flat, 4)
    _lanes(bits)  # checks the width
    return _largest_in_bytes(flat, 8)


@njit(cache=True, nogil=True)
def add_permuted(pairs: np.ndarray, perms: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[f] += pairs[perms[f]]`` in place, mod 2^64 (``pairs``: ``(n, L)``; ``out``: ``(F, n, L)``)."""
    f_count, n = perms.shape
    # one word a row: through contiguous 1-d rows, faster than 3-d or strided [:, 0] views
    flat_pairs, flat_out = pairs.reshape(pairs.size), out.reshape(f_count, n * pairs.shape[1])
    for f in range(f_count):
        if pairs.shape[1] == 1:
            src, o, perm = flat_pairs, flat_out[f], perms[f]
            for i in range(n):
                o[i] += src[np.uintp(perm[i])]  # unsigned: no wraparound check
        else:
            for i in range(n):
                r = np.uintp(perms[f, i])
                out[f, i, 0] += pairs[r, 0]
                out[f, i, 1] += pairs[r, 1]


@njit(cache=True, nogil=True)
def add_permuted_bin_sums(
    pairs: np.ndarray, perms: np.ndarray, out: np.ndarray, bins: np.ndarray, width: int
) -> np.ndarray:  # pragma: no cover
    """:func:`add_permuted`, and the root's :func:`label_sums` of the result, in one pass.

    At the root every row is in slot 0, so the label is the bin: returns
    ``(F, width, L)``, the sums of the new ``out[f]`` by ``bins[f]`` modulo
    ``2^64``, equal to ``label_sums`` over all-zero slots, without reading
    ``out`` a second time.
    """
    f_count, n = perms.shape
    words = pairs.shape[1]
    sums = np.zeros((f_count, width, words), dtype=np.uint64)
    # one word a row: contiguous 1-d rows (faster loops than strided [:, 0] views)
    flat_pairs = pairs.reshape(pairs.size)
    flat_out, flat_sums = out.reshape(f_count, n * words), sums.reshape(f_count, width * words)
    for f in range(f_count):
        perm, row_bins = perms[f], bins[f]
        if words == 1:
            src, o, s = flat_pairs, flat_out[f], flat_sums[f]
            for i in range(n):
                v = o[i] + src[np.uintp(perm[i])]  # unsigned indices: no wraparound checks
                o[i] = v
                s[np.uintp(row_bins[i])] += v
        else:
            for i in range(n):
                r, b = np.uintp(perm[i]), np.uintp(row_bins[i])
                for c in range(2):
                    v = out[f, i, c] + pairs[r, c]
                    out[f, i, c] = v
                    sums[f, b, c] += v
    return sums


@njit(cache=True, nogil=True)
def permuted_minus(
    pairs: np.ndarray, perms: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    """``out[f] = pairs[perms[f]] - out[f]`` in place, mod 2^64 (``L`` = 1 or 2 words a row)."""
    f_count, n = perms.shape
    flat_pairs, flat_out = pairs.reshape(pairs.size), out.reshape(f_count, n * pairs.shape[1])
    for f in range(f_count):
        if pairs.shape[1] == 1:
            src, o, perm = flat_pairs, flat_out[f], perms[f]
            for i in range(n):
                o[i] = src[np.uintp(perm[i])] - o[i]  # unsigned: no wraparound check
        else:
            for i in range(n):
                r = np.uintp(perms[f, i])
                out[f, i, 0] = pairs[r, 0] - out[f, i, 0]
                out[f, i, 1] = pairs[r, 1] - out[f, i, 1]


@njit(cache=True, nogil=True, inline="always")
def _score(
    g: float, h: float, lam: float, alpha: float, step: float, min_h: float
) -> float:  # pragma: no cover
    """``T(G)^2 / (H + lambda)``, 0 where ``H < min_child_weight`` or ``H <= 0``
    (SplitRule.score; ``T`` shrinks ``G`` towards 0 by ``alpha``); with a maximum
    step, ``-(2 G w + (H + lambda) w^2)`` at the clipped weight ``w``."""
    if h >= min_h and h > 0:
        t = g if alpha == 0 else (g - alpha if g > alpha else (g + alpha if g < -alpha else 0.0))
        if step == 0:
            return t * t / (h + lam)
        w = min(max(-t / (h + lam), -step), step)
        return -(2.0 * g * w + (h + lam) * w * w)
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def _bounded_weight(
    g: float, h: float, lam: float, alpha: float, step: float, min_h: float, lo: float, hi: float
) -> float:  # pragma: no cover
    """XGBoost's leaf weight under monotone constraints: ``-T(G) / (H + lambda)`` (0 where
    ``H < min_child_weight`` or ``H <= 0``), clipped to the maximum step, then to the
    node's bounds ``[lo, hi]`` (SplitRule.weight)."""
    w = 0.0
    if h >= min_h and h > 0:
        t = g if alpha == 0 else (g - alpha if g > alpha else (g + alpha if g < -alpha else 0.0))
        w = -t / (h + lam)
        if step != 0:
            w = min(max(w, -step), step)
    return min(max(w, lo), hi)


@njit(cache=True, nogil=True, inline="always")
def _given_weight(g: float, h: float, lam: float, w: float) -> float:  # pragma: no cover
    """``-(2 G w + (H + lambda) w^2)``: the loss reduction at weight ``w`` (0 where ``H <= 0``)."""
    if h <= 0:
        return 0.0
    return -(2.0 * g * w + (h + lam) * w * w)


@njit(cache=True, nogil=True, inline="always")
def _split_gain(
    gl: float,
    hl: float,
    tg: float,
    th: float,
    parent: float,
    lam: float,
    alpha: float,
    step: float,
    min_h: float,
) -> float:  # pragma: no cover
    """The gain of ``(gl, hl)`` left and the rest of ``(tg, th)`` right; ``-inf`` where a
    child's hessian sum is below ``min_h`` (XGBoost's validity test)."""
    gr, hr = tg - gl, th - hl
    if hl >= min_h and hr >= min_h:
        left = _score(gl, hl, lam, alpha, step, min_h)
        return left + _score(gr, hr, lam, alpha, step, min_h) - parent
    return -np.inf


@njit(cache=True, nogil=True, inline="always")
def _monotone_gain(
    gl: float,
    hl: float,
    tg: float,
    th: float,
    parent: float,
    lam: float,
    alpha: float,
    step: float,
    min_h: float,
    lo: float,
    hi: float,
    sign: int,
) -> float:  # pragma: no cover
    """:func:`_split_gain` under monotone constraints (XGBoost's CalcSplitGain): both
    children's weights clipped to the node's bounds ``[lo, hi]``, the gain at those
    weights, and ``-inf`` where the feature's direction ``sign`` (+1 rising, -1 falling)
    is broken (left weight above the right one for +1, below it for -1)."""
    gr, hr = tg - gl, th - hl
    if hl >= min_h and hr >= min_h:
        wl = _bounded_weight(gl, hl, lam, alpha, step, min_h, lo, hi)
        wr = _bounded_weight(gr, hr, lam, alpha, step, min_h, lo, hi)
        if (sign > 0 and wl > wr) or (sign < 0 and wl < wr):
            return -np.inf
        return _given_weight(gl, hl, lam, wl) + _given_weight(gr, hr, lam, wr) - parent
    return -np.inf


@njit(cache=True, nogil=True, inline="always")
def _candidate_gain(
    gl: float,
    hl: float,
    tg: float,
    th: float,
    parent: float,
    lam: float,
    alpha: float,
    step: float,
    min_h: float,
    lo: float,
    hi: float,
    sign: int,
    constrained: bool,
) -> float:  # pragma: no cover
    """:func:`_monotone_gain` where the model has monotone constraints, else :func:`_split_gain`."""
    if constrained:
        return _monotone_gain(gl, hl, tg, th, parent, lam, alpha, step, min_h, lo, hi, sign)
    return _split_gain(gl, hl, tg, th, parent, lam, alpha, step, min_h)


@njit(cache=True, nogil=True, inline="always")
def _gain_in(
    node: tuple[float, float, float, float, float],
    rule: tuple[float, float, float, float],
    gl: float,
    hl: float,
    sign: int,
    constrained: bool,
) -> float:  # pragma: no cover
    """:func:`_candidate_gain` of ``(gl, hl)`` left in a node ``(G, H, parent's score,
    lower bound, upper bound)`` under ``rule`` ``(lambda, alpha, max_delta_step,
    min_child_weight)``."""
    tg, th, parent, lo, hi = node
    lam, alpha, step, min_h = rule
    return _candidate_gain(
        gl, hl, tg, th, parent, lam, alpha, step, min_h, lo, hi, sign, constrained
    )


@njit(cache=True, nogil=True)
def best_splits(
    hist_g: np.ndarray,
    hist_h: np.ndarray,
    total_g: np.ndarray,
    total_h: np.ndarray,
    n_bins: np.ndarray,
    reg_lambda: float,
    reg_alpha: float,
    max_delta_step: float,
    min_child_weight: float,
    tie: float,
    lower: np.ndarray,
    upper: np.ndarray,
    monotone: np.ndarray,
    constrained: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """:func:`unseen.ml.sbt_tree.find_splits` for ``K`` nodes.

    The same arithmetic in the same order (so the same gains to the last bit):
    left sums accumulate bin by bin. Candidates in XGBoost's order, feature by feature:
    first its cuts with missing values (the last bin) right, bin by bin up (the
    forward pass; the last, "every value left, missing right", only with missing
    values), then its cuts with missing values left, from the top bin down (the
    backward pass, with missing values only); the first candidate within ``tie``
    (relative) of the node's best gain wins, as XGBoost keeps the first of equal
    gains. (Which comes first matters where cuts tie on the training rows, e.g. around
    bins empty in a node, and differ on new rows.) ``constrained`` (some feature has a
    monotone constraint): as XGBoost then, every gain is taken at the children's
    weights clipped to the node's bounds ``lower[k], upper[k]`` and a split against
    its feature's direction ``monotone[f]`` is no candidate (:func:`_monotone_gain`);
    the backward pass then ends with XGBoost's "missing values left, every value
    right", whose direction test is the mirror of "every value left, missing right"
    (the same rows, the same gain, so without constraints it never wins): it is returned
    as that split, ``flipped`` -- its children's roles swapped for the constraint, as
    :func:`unseen.ml.sbt_tree.child_bounds` then takes the feature's sign negated.
    Returns gain, feature, bin, default left and flipped, per node.
    """
    k_count, f_count, width = hist_g.shape
    values = width - 1
    min_h = min_child_weight
    rule = (reg_lambda, reg_alpha, max_delta_step, min_h)
    gain = np.full(k_count, -np.inf)
    feature = np.zeros(k_count, dtype=np.int64)
    cut_bin = np.zeros(k_count, dtype=np.int64)
    default_left = np.zeros(k_count, dtype=np.bool_)
    flipped = np.zeros(k_count, dtype=np.bool_)
    # the candidates in XGBoost's order: per feature, values forward (missing right) slots,
    # then values backward (missing left) slots, the top bin first, then "missing left,
    # every value right"
    span = 2 * values + 1
    best = np.empty(f_count * span)
    for k in range(k_count):
        tg, th = total_g[k], total_h[k]
        lo, hi = lower[k], upper[k]
        if constrained:
            w = _bounded_weight(tg, th, reg_lambda, reg_alpha, max_delta_step, min_h, lo, hi)
            parent = _given_weight(tg, th, reg_lambda, w)
        else:
            parent = _score(tg, th, reg_lambda, reg_alpha, max_delta_step, min_h)
        node = (tg, th, parent, lo, hi)  # what every candidate of this node shares
        for f in range(f_count):
            sign = monotone[f]
            gm, hm = hist_g[k, f, values], hist_h[k, f, values]
            has_missing = hm > 0
            gl = 0.0
            hl = 0.0
            for j in range(values):
                gl += hist_g[k, f, j]
                hl += hist_h[k, f, j]
                cut = j < n_bins[f] - 1
                right = -np.inf  # missing values right
                if cut or (j == n_bins[f] - 1 and has_missing):
                    right = _gain_in(node, rule, gl, hl, sign, constrained)
                left = -np.inf  # missing values left
                if cut:
                    left = _gain_in(node, rule, gl + gm, hl + hm, sign, constrained)
                best[f * span + j] = right
                best[f * span + 2 * values - 1 - j] = left if has_missing else -np.inf
            mirror = -np.inf  # missing left, every value right: the last bin's cut, mirrored
            if constrained and has_missing and sign != 0:
                mirror = _gain_in(node, rule, tg - gm, th - hm, -sign, constrained)
            best[f * span + 2 * values] = mirror
        top = -np.inf
        for at in range(f_count * span):
            top = max(top, best[at])
        tol = tie * max(1.0, abs(top) if np.isfinite(top) else 0.0)
        for at in range(f_count * span):
            if best[at] >= top - tol:
                slot = at % span
                gain[k], feature[k] = best[at], at // span
                if slot == 2 * values:  # the mirror: the last bin's cut, missing right
                    cut_bin[k], flipped[k] = n_bins[feature[k]] - 1, True
                elif slot >= values:  # backward: missing left
                    cut_bin[k], default_left[k] = 2 * values - 1 - slot, True
                else:
                    cut_bin[k] = slot
                break
    return gain, feature, cut_bin, default_left, flipped


@njit(cache=True, nogil=True)
def node_totals(
    node_rows: np.ndarray, g: np.ndarray, h: np.ndarray, n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Per node: its rows, and the sums of ``g`` and ``h`` over them (``node_rows[i]``: row i's node).

    One pass for what took three ``numpy.bincount`` calls (and their casts of
    ``node_rows`` to ``intp``); the sums add in row order, as ``bincount``
    does, so they are the same to the last bit.
    """
    count = np.zeros(n_nodes, dtype=np.int64)
    sum_g = np.zeros(n_nodes)
    sum_h = np.zeros(n_nodes)
    for i in range(node_rows.size):
        v = np.uintp(node_rows[i])  # unsigned: no wraparound checks
        count[v] += 1
        sum_g[v] += g[i]
        sum_h[v] += h[i]
    return count, sum_g, sum_h


@njit(cache=True, nogil=True)
def route_rows(
    node_of: np.ndarray,
    pos: np.ndarray,
    column: np.ndarray,
    threshold: np.ndarray,
    default_left: np.ndarray,
    cat_row: np.ndarray,
    cat_table: np.ndarray,
    X: np.ndarray,
    decide: np.ndarray,
    decided: np.ndarray,
    read: np.ndarray,
    children: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """One depth's routing of the rows in the split nodes ``v`` with ``pos[v] >= 0``.

    A node's rows, in increasing order, have the routing bits ``pos[v]``,
    ``pos[v] + 1``, ... (``1``: left); ``pos`` is advanced in place. Where
    ``decide[v]`` (this party's split), the bits are written to ``decided``:
    ``X[i, column[v]] < threshold[v]``, a missing value going
    ``default_left[v]`` (XGBoost's rule, as :func:`unseen.ml.sbt_tree.goes_left`);
    at a categorical split (``cat_row[v] >= 0``) a code ``c`` goes right where
    ``cat_table[cat_row[v], c]`` is 1 (codes are ``0 .. 255``); elsewhere they are
    read from ``read`` (a peer's answer). Each such row ``i``
    moves to ``out[i] = children[2 v]`` (left) or ``children[2 v + 1]`` (right):
    the child is looked up by index, not chosen by a branch on the bit, which the
    processor cannot predict (a third of the loop's time). The caller sizes both
    bit arrays from the nodes' row counts: every index is in range.
    """
    one, two = np.uintp(1), np.uintp(2)
    for i in range(node_of.size):
        # unsigned indices (nodes and positions are never negative here): no wraparound
        # checks on the seven arrays a row indexes
        v = np.uintp(node_of[i])
        if pos[v] < 0:
            continue
        p = np.uintp(pos[v])
        pos[v] = p + one
        if decide[v]:
            x = X[i, column[v]]
            if np.isnan(x):
                go = np.uintp(default_left[v])
            elif cat_row[v] >= 0:
                go = np.uintp(cat_table[cat_row[v], np.uintp(x)] == 0)
            else:
                go = np.uintp(x < threshold[v])
            decided[p] = go
        else:
            go = np.uintp(read[p] != 0)
        out[i] = children[two * v + one - go]


def _warm_permutations() -> None:
    perms = permutation(AesCtrPrg(bytes(16)), 4).reshape(1, 4)
    pairs = np.zeros((4, 2), dtype=_U64)
    shares = np.zeros((1, 4, 2), dtype=_U64)
    add_permuted(pairs, perms, shares)
    permuted_minus(pairs, perms, shares)
    add_permuted_bin_sums(pairs, perms, shares, np.zeros((1, 4), dtype=np.uint8), 2)


def _warm_labels(label_type: type) -> None:
    perms = np.arange(4, dtype=np.int32).reshape(1, 4)
    pack_permuted(np.zeros(4, label_type), perms, 1)  # a node slot per row, every feature
    if label_type is np.uint8:
        pack_gathered(np.zeros((1, 4), dtype=np.uint8), perms, 8)  # each feature's bins


def _warm_label_sums() -> None:
    slots = np.zeros((1, 1), dtype=np.uint8)
    label_sums(slots, 1, np.zeros((1, 4), dtype=np.uint8), np.zeros((1, 4, 2), dtype=_U64), 2, 1)
    largest_label(slots, 1)


def _warm_histograms() -> None:
    u8 = np.zeros((1, 4), dtype=np.uint8)
    for values in (np.zeros((4, 2)), np.zeros((4, 2), dtype=_U64)):  # plaintext (g, h), shares
        bin_sums(u8, np.arange(4), np.zeros(4, dtype=np.int32), values, 1, 2)


def _warm_nodes() -> None:
    strided = np.zeros((4, 2))[:, 0]  # g, h as a column of decoded pairs
    for gh in (np.zeros(4), strided):
        node_totals(np.zeros(4, dtype=np.int16), gh, gh, 1)
    encode_packed(np.zeros(4), np.zeros(4), 14, 15, 33)
    slot = take(np.zeros(3, dtype=np.int32), np.zeros(4, dtype=np.int16))  # node to slot
    node_counts(np.zeros(4, dtype=np.int16), 3)
    for label_type in (np.uint8, np.uint16):
        slot_labels(slot, 1, np.empty(4, dtype=label_type))


def _warm_splits() -> None:
    hist = np.zeros((1, 1, 2))
    ones = np.ones(1, dtype=np.int64)
    free = np.zeros(1, dtype=np.int8)  # one compiled version serves either flag
    best_splits(
        hist,
        hist,
        np.zeros(1),
        np.zeros(1),
        ones,
        1.0,
        0.0,
        0.0,
        1.0,
        1e-9,
        np.full(1, -np.inf),
        np.full(1, np.inf),
        free,
        False,
    )


def _warm_routing() -> None:
    node_of = np.zeros(4, dtype=np.int16)
    children = np.array([1, 2, -1, -1, -1, -1], dtype=np.int16)
    route_rows(
        node_of,
        np.array([0, -1, -1], dtype=np.int64),
        np.zeros(3, dtype=np.int64),
        np.zeros(3),
        np.zeros(3, dtype=np.bool_),
        np.full(3, -1, dtype=np.int64),
        np.zeros((1, 256), dtype=np.uint8),
        np.zeros((4, 2), order="F"),  # X, column-major (one column would be C too)
        np.ones(3, dtype=np.bool_),
        np.zeros(4, dtype=np.uint8),
        np.zeros(4, dtype=np.uint8),
        children,
        node_of.copy(),
    )


#: warm-up steps, the costliest first; each compiles the types SecureBoost passes
_WARM_STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("labels-8", lambda: _warm_labels(np.uint8)),
    ("labels-16", lambda: _warm_labels(np.uint16)),
    ("label-sums", _warm_label_sums),
    ("histograms", _warm_histograms),
    ("splits", _warm_splits),
    ("permutations", _warm_permutations),
    ("nodes", _warm_nodes),
    ("routing", _warm_routing),
)


@contextmanager
def _step_lock(name: str, wait: bool) -> Iterator[bool]:
    """An exclusive lock on warm-up step ``name`` among this machine's processes.

    Yields whether it is held: ``False`` when ``wait`` is false and another process
    holds it. Where no lock file can be made (no ``fcntl``, a read-only temp folder,
    another user's file), yields ``True`` without a lock: the step is then compiled
    here as well, which is never wrong, only slower.
    """
    fd = _lock_file(name)
    if fd is None:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            held = True
        except BlockingIOError:
            held = False
        if not held:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_file(name: str) -> int | None:
    """An open descriptor of step ``name``'s lock file (one per copy of this module and
    Numba version), or ``None`` where there can be none."""
    if fcntl is None:
        return None
    key = hashlib.sha256(f"{__file__}|{numba.__version__}".encode()).hexdigest()[:16]
    try:
        return os.open(
            Path(tempfile.gettempdir()) / f"unseen-numba-{key}-{name}.lock",
            os.O_RDWR | os.O_CREAT,
            0o600,
        )
    except OSError:
        return None


def warm_up() -> None:
    """Compile (or load from Numba's cache) the loops for the types SecureBoost uses.

    Where several processes of one machine warm up at once (the parties of a local
    job, the tests), they share the compiling instead of each doing all of it: a
    process takes each step that no other is compiling (a file lock per step) and,
    once through, loads the steps it passed over from Numba's cache as their
    compilers finish. On the 2-core reference machine compiling everything takes
    about 15 s of one core; three parties each compiling all of it at once took
    24-34 s before their first tree. Once compiled, loading takes about a second.
    """
    passed_over = []
    for name, step in _WARM_STEPS:
        with _step_lock(name, wait=False) as mine:
            if mine:
                step()
            else:
                passed_over.append((name, step))
    for name, step in passed_over:
        with _step_lock(name, wait=True):
            step()
