"""Quantile binning of one party's features, for SecureBoost (each party bins its own).

Every party turns its raw feature values into small bin indices once, before
training; from then on the trees only ever see bins. This is the ``hist``
method of XGBoost (Chen & Guestrin, "XGBoost: A scalable tree boosting
system", KDD 2016, section 3.3; Ke et al., "LightGBM", NeurIPS 2017) and what
SecureBoost does at every party (Cheng et al., "SecureBoost: A lossless
federated learning framework", IEEE Intelligent Systems 2021, section 4).

Binning is local: no message is sent, and the cut points never leave the
party (a host's thresholds stay at the host).

Bins of feature ``f`` with cut points ``c_1 < ... < c_(m-1)``:

- bin ``j`` holds the values ``x`` with ``c_j <= x < c_(j+1)`` (``c_0 = -inf``,
  ``c_m = +inf``), so ``bin(x) = #{j : c_j <= x}``;
- a split "bins ``0..k`` go left" is the rule ``x < c_(k+1)``: XGBoost's
  ``x < split_value`` convention;
- missing values (NaN) go to the extra bin :attr:`BinMapper.missing_bin`
  (``= max_bin``); the split search sends them to the better side.

Cut points (:class:`QuantileSketch`):

- a feature with at most ``max_bin`` distinct values gets one bin per value
  (as XGBoost does);
- otherwise the cuts sit at the ranks ``j * n / max_bin``. Up to
  :data:`EXACT_ROWS` rows the ranks are exact; beyond, a mergeable summary
  keeps every value's rank to within ``eps * n`` (default
  ``eps = 1 / (16 * max_bin)``), so memory stays ``O(rows / chunk * chunk * eps)``
  whatever the size of the column. The summary is the "fixed-step" variant of
  the Greenwald–Khanna summary (Greenwald & Khanna, "Space-efficient online
  computation of quantile summaries", SIGMOD 2001) used by XGBoost's
  ``WQSummary``: each sorted chunk keeps one value every ``eps * chunk`` ranks
  with its exact rank in the chunk, and the rank of any value in the union is
  the sum of its ranks in the chunks, each known to within the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: columns with at most this many rows are binned from exact ranks
EXACT_ROWS = 1 << 20
#: rows per chunk of the summary beyond EXACT_ROWS
CHUNK_ROWS = 1 << 18


@dataclass
class QuantileSketch:
    """An approximate, mergeable summary of one column's distribution.

    ``values`` are sorted distinct sample values; ``below[i]`` and
    ``upto[i]`` bound the number of items ``< values[i]`` and ``<= values[i]``
    (exact when :attr:`exact`); ``error`` bounds the rank error of any value.
    """

    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    below: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    upto: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    total: int = 0
    error: int = 0
    exact: bool = True

    @classmethod
    def from_values(cls, x: np.ndarray, step: int = 1) -> QuantileSketch:
        """Summarise ``x`` (NaNs ignored), keeping one value every ``step`` ranks."""
        x = np.sort(x[~np.isnan(x)])
        if x.size == 0:
            return cls()
        values, counts = np.unique(x, return_counts=True)
        upto = np.cumsum(counts)
        below = upto - counts
        exact = step <= 1 or values.size <= max(2, x.size // step)
        if not exact:
            # keep the distinct values whose rank crosses a multiple of the step,
            # plus the extremes: a value's rank is then known to within ``step``
            marks = np.unique(
                np.r_[0, np.searchsorted(upto, np.arange(step, x.size, step)), values.size - 1]
            )
            values, below, upto = values[marks], below[marks], upto[marks]
        return cls(values, below, upto, int(x.size), 0 if exact else step, exact)

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """The summary of the union of both columns' items."""
        if other.total == 0:
            return self
        if self.total == 0:
            return other
        values = np.union1d(self.values, other.values)
        lo_a, hi_a = self._rank_bounds(values)
        lo_b, hi_b = other._rank_bounds(values)
        return QuantileSketch(
            values,
            lo_a + lo_b,
            hi_a + hi_b,
            self.total + other.total,
            self.error + other.error,
            self.exact and other.exact,
        )

    def _rank_bounds(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimates of ``#items < v`` and ``#items <= v`` for query values ``v``."""
        # an item < v is at most every item <= the largest kept value below v ...
        i = np.searchsorted(self.values, v, side="left")  # kept values < v: [0, i)
        j = np.searchsorted(self.values, v, side="right")  # kept values <= v: [0, j)
        below = np.where(i > 0, self.upto[np.maximum(i - 1, 0)], 0)
        upto = np.where(j > 0, self.upto[np.maximum(j - 1, 0)], 0)
        hit = (j > i) & (j > 0)
        # ... and exactly known where v itself was kept
        below = np.where(hit, self.below[np.maximum(j - 1, 0)], below)
        return below.astype(np.int64), upto.astype(np.int64)

    def cuts(self, max_bin: int) -> np.ndarray:
        """Cut points ``c_1 < ... < c_(m-1)`` for at most ``max_bin`` bins."""
        if self.total == 0 or self.values.size <= 1:
            return np.zeros(0)
        if self.exact and self.values.size <= max_bin:
            return self.values[1:].copy()  # one bin per distinct value
        targets = np.arange(1, max_bin) * (self.total / max_bin)
        # the first kept value whose count of smaller items reaches each target rank
        k = np.searchsorted(self.below, targets, side="left")
        k = k[(k > 0) & (k < self.values.size)]
        return np.unique(self.values[k])


def sketch_column(x: np.ndarray, max_bin: int, eps: float | None = None) -> QuantileSketch:
    """Summarise one column: exact up to :data:`EXACT_ROWS` rows, else chunk by chunk."""
    if x.size <= EXACT_ROWS:
        return QuantileSketch.from_values(x)
    eps = eps if eps is not None else 1.0 / (16 * max_bin)
    step = max(1, int(eps * CHUNK_ROWS))
    out = QuantileSketch()
    for start in range(0, x.size, CHUNK_ROWS):
        out = out.merge(QuantileSketch.from_values(x[start : start + CHUNK_ROWS], step))
    return out


@dataclass
class BinMapper:
    """Per-feature cut points of one party; maps values to bin indices.

    ``cuts[f]`` are feature ``f``'s cut points; bins are ``0 .. len(cuts[f])``,
    and :attr:`missing_bin` (``= max_bin``) holds missing values.
    """

    max_bin: int
    cuts: list[np.ndarray]

    @classmethod
    def fit(cls, X: np.ndarray, max_bin: int, categories: np.ndarray | None = None) -> BinMapper:
        """``categories``: per feature, its number of categories (0: numeric). A
        categorical feature's values are category codes ``0 .. K-1`` and its bins are
        the codes themselves (cuts ``1 .. K-1``), whether or not every code occurs."""
        if not 2 <= max_bin <= 255:
            raise ValueError(f"max_bin must lie in [2, 255], not {max_bin}")
        counts = np.zeros(X.shape[1], dtype=np.int64) if categories is None else categories
        if np.any(counts > max_bin):
            raise ValueError(f"a categorical feature has more than max_bin ({max_bin}) categories")
        return cls(
            max_bin,
            [
                np.arange(1.0, float(counts[f]))
                if counts[f]
                else sketch_column(X[:, f], max_bin).cuts(max_bin)
                for f in range(X.shape[1])
            ],
        )

    @property
    def n_features(self) -> int:
        return len(self.cuts)

    @property
    def missing_bin(self) -> int:
        return self.max_bin

    @property
    def width(self) -> int:
        """Bins per feature in a histogram: ``max_bin`` value bins and the missing bin."""
        return self.max_bin + 1

    def n_bins(self) -> np.ndarray:
        """Number of value bins of each feature (at most ``max_bin``)."""
        return np.array([len(c) + 1 for c in self.cuts], dtype=np.int64)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Bin indices (``uint8``, shape of ``X``, Fortran order); NaN goes to :attr:`missing_bin`.

        Fortran order keeps each feature's bins contiguous, which is how the
        histograms read them.
        """
        if X.shape[1] != self.n_features:
            raise ValueError(f"{X.shape[1]} features, the binning has {self.n_features}")
        out = np.empty(X.shape, dtype=np.uint8, order="F")
        for f, c in enumerate(self.cuts):
            col = X[:, f]
            b = np.searchsorted(c, col, side="right")
            b[np.isnan(col)] = self.missing_bin
            out[:, f] = b
        return out

    def threshold(self, feature: int, bin_index: int) -> float:
        """The value ``t`` of the split "bins ``0..bin_index`` go left", i.e. ``x < t``.

        Past the last cut it is ``inf``: every value goes left, missing values right.
        """
        c = self.cuts[feature]
        return float(c[bin_index]) if bin_index < len(c) else float("inf")


def bin_mask(n_bins: np.ndarray, has_missing: np.ndarray, width: int) -> np.ndarray:
    """``(F, width)``: the (feature, bin) cells that can hold rows.

    Value bins beyond a feature's bin count are always empty, and so is the
    missing bin of a feature without missing values; both sides know it.
    """
    mask = np.arange(width)[None, :] < np.asarray(n_bins)[:, None]
    mask[:, width - 1] = np.asarray(has_missing, dtype=bool)
    return mask
