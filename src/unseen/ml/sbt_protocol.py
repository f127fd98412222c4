"""SecureBoost training and joint prediction: the guest's and the hosts' roles.

SecureBoost (Cheng, Fan, Jin, Liu, Chen, Papadopoulos, Yang, "SecureBoost: A
lossless federated learning framework", IEEE Intelligent Systems 36(6), 2021;
arXiv:1901.08755) trains gradient-boosted trees on data split by columns:

- the **guest** (the paper's *active party*) holds the label and some features;
- each **host** (a *passive party*) holds other features of the same rows
  (aligned beforehand, e.g. by ``unseen psi``).

One tree, layer by layer (algorithm 1 and 2 of the paper, batched by depth
so that a tree costs ``O(max_depth)`` rounds, not ``O(nodes)``):

1. the guest computes every row's gradient ``g`` and hessian ``h`` and hands
   them to the hosts *protected* (how depends on the mode, see below);
2. for the nodes of the current depth, each host knows which rows are in
   which node (the *instance space*; not in ``he-hidden``, where a host sums
   every row's ciphertext and the node is inside the plaintext); it obtains,
   for each of its features and bins, the sums ``sum g`` and ``sum h`` over
   the node's rows in that bin, and they reach the guest -- never the rows'
   values;
3. the guest, which bins its own features in plaintext, finds the best split
   of every node over all parties' bins (XGBoost's gain,
   :mod:`unseen.ml.sbt_tree`);
4. one message to each host per depth: the tree's new shape, the (feature,
   bin) of that host's winning splits (it keeps the thresholds) and which rows
   go left at the guest's own splits; the host answers which rows go left at
   its splits and routes every row itself (only when another host split a node
   does the guest send it the rows' nodes);
5. the guest routes the rows, and at the last depth sets the leaf weights,
   which only it knows.

Histogram subtraction: only the smaller child of each split is summed; the
guest gets its sibling as parent minus child. The mode decides step 1-2
(:class:`GuestExchange` / :class:`HostExchange`):

- ``plain``: gradients cross in the clear. Development only.
- ``ss-dealer``: :mod:`unseen.ml.sbt_shuffle`;
- ``he``: :mod:`unseen.ml.sbt_he`;
- ``he-hidden``: :mod:`unseen.ml.sbt_he_hidden` (no instance space at the hosts:
  a host answers its splits for every row, :meth:`Host._grow_blind`).

Reduced leakage (RL-SecureBoost, section 6 of the paper): with
``guest_only_rounds`` the first rounds' trees are grown by the guest on its own
features, the hosts told only each tree's start and shape; the first trees'
instance spaces say the most about the label, later trees fit residuals.

Joint prediction (section 5 of the paper, in its batched form): each party
walks its own splits and marks which leaves a row can still reach; the hosts
send their marks to the guest, whose intersection is one leaf per row; only
the guest knows leaf weights, so only it learns scores.

Threat model: semi-honest parties. What each party learns, per mode, is in
:func:`unseen.ml.secureboost.security_statement` and ``docs/secureboost.md``:
in every mode the hosts learn the instance space of every node (which rows
reach it) and the guest learns per-bin gradient sums of the hosts' features
and which (host, feature, bin) splits each node, never a host's threshold.
"""

from __future__ import annotations

import base64
import hashlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from unseen.crypto.prg import SEED_BYTES, AesCtrPrg
from unseen.ml import sbt_kernels as kernels
from unseen.ml.aft import AftLoss
from unseen.ml.objectives import (
    ADAPTIVE,
    AFT_DISTRIBUTIONS,
    INTERVAL,
    LOG_LINK,
    LOGISTIC_BINARY,
    MULTICLASS,
    OBJECTIVES,
    SURVIVAL,
)
from unseen.ml.sbt_binning import BinMapper
from unseen.ml.sbt_tree import (
    EVAL_METRICS,
    MAXIMIZE,
    POISSON_MAX_DELTA_STEP,
    BestSplits,
    CategoricalSplits,
    Histograms,
    LocalSplits,
    LossParams,
    Monotone,
    RiskSets,
    SplitRule,
    TreeLayout,
    adaptive_leaf_values,
    base_margin,
    child_bounds,
    eval_loss,
    find_splits,
    goes_left,
    grad_hess,
    is_worth_splitting,
    merge_best,
    reachable_leaves,
    smaller_children,
)
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError

MODES = ("ss-dealer", "ss-dealer-matrix", "he", "he-hidden", "plain")
#: modes with a dealer party
DEALER_MODES = ("ss-dealer", "ss-dealer-matrix")


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class BoostParams:
    """Hyper-parameters, named and defaulted as in XGBoost (``max_bin`` as in FATE: 32)."""

    objective: str = "binary:logistic"
    n_estimators: int = 100
    max_depth: int = 6
    learning_rate: float = 0.3
    max_bin: int = 32
    reg_lambda: float = 1.0
    reg_alpha: float = 0.0
    gamma: float = 0.0
    min_child_weight: float = 1.0
    subsample: float = 1.0
    colsample_bytree: float = 1.0
    colsample_bylevel: float = 1.0
    colsample_bynode: float = 1.0
    scale_pos_weight: float = 1.0
    max_delta_step: float | None = None  # None: the objective's (0.7 count:poisson, else 0)
    base_score: float | None = None
    early_stopping_rounds: int | None = None
    goss: tuple[float, float] | None = None  # (top_rate, other_rate)
    random_state: int | None = None
    num_class: int = 1  # multi:softprob: the classes, labels 0 .. num_class - 1
    tweedie_variance_power: float = 1.5  # reg:tweedie's rho, in (1, 2)
    quantile_alpha: float = 0.5  # reg:quantileerror's quantile, in (0, 1)
    huber_slope: float = 1.0  # reg:pseudohubererror's delta, > 0
    fair_c: float = 1.0  # reg:fair's c, > 0
    aft_loss_distribution: str = "normal"  # survival:aft's noise: normal, logistic, extreme
    aft_loss_distribution_scale: float = 1.0  # survival:aft's sigma, > 0
    eval_metric: str | None = None  # early stopping's; None: the objective's default
    # the first rounds grow on the guest's features alone: the hosts learn nothing of them
    # but their shape (SecureBoost's reduced-leakage variant; FATE's complete_secure)
    guest_only_rounds: int = 0
    # categorical features: one-hot splits below this many categories, else partitions
    # scanning at most max_cat_threshold categories from either end (XGBoost's)
    max_cat_to_onehot: int = 4
    max_cat_threshold: int = 64

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ConfigError(msg)

        if self.objective not in OBJECTIVES:
            bad(f"objective must be one of {OBJECTIVES}, not {self.objective!r}")
        if self.objective in MULTICLASS:
            if not 2 <= self.num_class <= 1000:
                bad(
                    f"{self.objective} needs num_class (--num-class), the number of "
                    f"classes, in [2, 1000]; got {self.num_class}"
                )
        elif self.num_class != 1:
            bad(
                f"num_class is for multi:softprob and multi:softmax only (objective "
                f"{self.objective!r}; --objective multi:softprob)"
            )
        if self.eval_metric is not None and self.eval_metric not in EVAL_METRICS[self.objective]:
            choices = ", ".join(EVAL_METRICS[self.objective])
            bad(f"eval_metric for {self.objective} is one of {choices}, not {self.eval_metric!r}")
        if not 1 < self.tweedie_variance_power < 2:
            bad(f"tweedie_variance_power must lie in (1, 2), not {self.tweedie_variance_power}")
        if self.tweedie_variance_power != 1.5 and self.objective != "reg:tweedie":
            bad("tweedie_variance_power is for reg:tweedie only")
        if not 0 < self.quantile_alpha < 1:
            bad(f"quantile_alpha must lie in (0, 1), not {self.quantile_alpha}")
        if self.quantile_alpha != 0.5 and self.objective != "reg:quantileerror":
            bad("quantile_alpha is for reg:quantileerror only")
        if not (self.huber_slope > 0 and math.isfinite(self.huber_slope)):
            bad(f"huber_slope must be positive, not {self.huber_slope}")
        if self.huber_slope != 1.0 and self.objective != "reg:pseudohubererror":
            bad("huber_slope is for reg:pseudohubererror only")
        if not (self.fair_c > 0 and math.isfinite(self.fair_c)):
            bad(f"fair_c must be positive, not {self.fair_c}")
        if self.fair_c != 1.0 and self.objective != "reg:fair":
            bad("fair_c is for reg:fair only")
        if self.aft_loss_distribution not in AFT_DISTRIBUTIONS:
            bad(
                f"aft_loss_distribution must be one of {AFT_DISTRIBUTIONS}, "
                f"not {self.aft_loss_distribution!r}"
            )
        if not (
            self.aft_loss_distribution_scale > 0 and math.isfinite(self.aft_loss_distribution_scale)
        ):
            bad(
                "aft_loss_distribution_scale must be positive, "
                f"not {self.aft_loss_distribution_scale}"
            )
        if (
            self.aft_loss_distribution != "normal" or self.aft_loss_distribution_scale != 1.0
        ) and self.objective != "survival:aft":
            bad("aft_loss_distribution and aft_loss_distribution_scale are for survival:aft only")
        if self.objective in ADAPTIVE and self.goss is not None:
            # a leaf's value is a quantile of its rows' residuals: GOSS's re-weighting of
            # the sampled gradients has no meaning there (XGBoost has no GOSS)
            bad(f"goss is not offered with {self.objective} (subsample is)")
        if self.base_score is not None and self.base_score <= 0 and self.objective in LOG_LINK:
            bad(f"{self.objective} needs a positive base_score (a mean), not {self.base_score}")
        if self.base_score is not None and self.base_score <= 0 and self.objective in SURVIVAL:
            scale = "a time" if self.objective in INTERVAL else "a hazard ratio"
            bad(f"{self.objective} needs a positive base_score ({scale})")
        if not 1 <= self.n_estimators <= 100_000:
            bad(f"n_estimators must lie in [1, 100000], not {self.n_estimators}")
        if not 0 <= self.guest_only_rounds <= self.n_estimators:
            bad(
                f"guest_only_rounds must lie in [0, n_estimators = {self.n_estimators}], "
                f"not {self.guest_only_rounds}"
            )
        if not 1 <= self.max_depth <= 14:
            bad(f"max_depth must lie in [1, 14], not {self.max_depth}")
        if not 0 < self.learning_rate <= 1:
            bad(f"learning_rate must lie in (0, 1], not {self.learning_rate}")
        if not 2 <= self.max_bin <= 255:
            bad(f"max_bin must lie in [2, 255], not {self.max_bin}")
        if not (
            self.reg_lambda >= 0
            and self.reg_alpha >= 0
            and self.gamma >= 0
            and self.min_child_weight >= 0
            and (self.max_delta_step is None or self.max_delta_step >= 0)
        ):
            bad(
                "reg_lambda, reg_alpha, gamma, min_child_weight and max_delta_step must be"
                " non-negative"
            )
        if not 1 <= self.max_cat_to_onehot <= 256 or not 1 <= self.max_cat_threshold <= 256:
            bad("max_cat_to_onehot and max_cat_threshold must lie in [1, 256]")
        if not 0 < self.subsample <= 1:
            bad(f"subsample must lie in (0, 1], not {self.subsample}")
        for name in ("colsample_bytree", "colsample_bylevel", "colsample_bynode"):
            if not 0 < getattr(self, name) <= 1:
                bad(f"{name} must lie in (0, 1], not {getattr(self, name)}")
        if not 0 < self.scale_pos_weight <= 1e6:
            bad(f"scale_pos_weight must lie in (0, 1e6], not {self.scale_pos_weight}")
        if self.scale_pos_weight != 1 and self.objective not in LOGISTIC_BINARY:
            bad("scale_pos_weight is for binary:logistic and binary:logitraw only")
        if self.early_stopping_rounds is not None and self.early_stopping_rounds < 1:
            bad("early_stopping_rounds must be at least 1")
        if self.goss is not None:
            a, b = self.goss
            if not (0 < a < 1 and 0 < b < 1 and a + b <= 1):
                bad(f"goss rates (top, other) must be in (0, 1) with top + other <= 1: {self.goss}")
            if self.subsample < 1:
                bad("choose either subsample or goss, not both")

    @property
    def loss_params(self) -> LossParams:
        """The objective's own parameters (the losses read them from here)."""
        return LossParams(
            tweedie_variance_power=self.tweedie_variance_power,
            quantile_alpha=self.quantile_alpha,
            huber_slope=self.huber_slope,
            fair_c=self.fair_c,
            aft=AftLoss(self.aft_loss_distribution, self.aft_loss_distribution_scale),
        )

    @property
    def trees_per_round(self) -> int:
        """Trees a boosting round grows: one per class for ``multi:softprob`` and
        ``multi:softmax`` (XGBoost's), else one. ``n_estimators`` counts rounds, as
        XGBoost's ``num_boost_round``."""
        return self.num_class if self.objective in MULTICLASS else 1

    @property
    def max_trees(self) -> int:
        """The most trees training grows: ``n_estimators`` rounds of :attr:`trees_per_round`."""
        return self.n_estimators * self.trees_per_round

    @property
    def guest_only_trees(self) -> int:
        """The first trees, grown on the guest's features alone (:attr:`guest_only_rounds`)."""
        return self.guest_only_rounds * self.trees_per_round

    @property
    def joint_trees(self) -> int:
        """The most trees the hosts take part in: the exchange's trees, numbered from 0."""
        return self.max_trees - self.guest_only_trees

    @property
    def rule(self) -> SplitRule:
        step = self.max_delta_step
        if step is None:  # as XGBoost: count:poisson's own safeguard, else none
            step = POISSON_MAX_DELTA_STEP if self.objective == "count:poisson" else 0.0
        return SplitRule(self.reg_lambda, self.gamma, self.min_child_weight, self.reg_alpha, step)

    @property
    def categories(self) -> CategoricalSplits:
        return CategoricalSplits(self.max_cat_to_onehot, self.max_cat_threshold)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["goss"] = list(self.goss) if self.goss is not None else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BoostParams:
        d = dict(d)
        if d.get("goss") is not None:
            d["goss"] = tuple(d["goss"])
        try:
            return cls(**d)
        except TypeError as e:
            raise ProtocolError(f"malformed parameters: {e}") from None


def feature_sampler(random_state: int | None, stream: int = 1) -> np.random.Generator:
    """The guest's generator of feature samples (not secret: which features a tree, a
    depth or a node may use): ``stream`` 1 for ``colsample_bytree``, 2 for
    ``colsample_bylevel`` and ``colsample_bynode``, so that each leaves the other's
    samples as they are."""
    return np.random.default_rng(None if random_state is None else [random_state, stream])


class RowSampler:
    """The guest's draws of each tree's rows (``subsample``, GOSS's sample of the rest).

    In ``he-hidden`` the row sample is kept from the hosts, so it is drawn as a
    secret: from an AES-128-CTR stream (:class:`~unseen.crypto.prg.AesCtrPrg`)
    seeded by ``secrets``, never from numpy's generator. A sample is the head
    of a uniform permutation (exact Fisher-Yates with rejection,
    :func:`unseen.ml.sbt_kernels.permutation`). ``random_state`` makes the
    samples reproducible instead: the seed is then derived from it, so whoever
    knows ``random_state`` knows the samples.
    """

    def __init__(self, random_state: int | None = None) -> None:
        seed = None
        if random_state is not None:
            seed = hashlib.sha256(f"unseen-sbt-rows/{random_state}".encode()).digest()
        self._prg = AesCtrPrg(None if seed is None else seed[:SEED_BYTES])

    def choice(self, population: int | np.ndarray, size: int) -> np.ndarray:
        """``size`` distinct items of ``population`` (an array, or ``range(n)``), uniformly."""
        items = np.arange(population) if isinstance(population, int) else population
        if not 0 <= size <= items.size:
            raise ValueError(f"cannot draw {size} of {items.size} items")
        head: np.ndarray = items[kernels.permutation(self._prg, items.size)[:size]]
        return head


def tree_features(rng: np.random.Generator, n_features: int, rate: float) -> np.ndarray | None:
    """The features one tree may split on, as sorted indices into all parties' features
    (the guest's, then each host's, in order); ``None``: every feature.

    XGBoost's ``colsample_bytree``: ``max(1, int(rate * n_features))`` features drawn
    without replacement, the product computed in single precision as XGBoost does (0.84
    of 75 features is 62, not 63). Drawn over all parties' features together, as XGBoost
    draws over the joined columns, so a party may have none in a tree.
    """
    if rate >= 1:
        return None
    k = max(1, int(np.float32(rate) * np.float32(n_features)))
    return np.sort(rng.choice(n_features, size=k, replace=False))


def _best_among(
    hg: np.ndarray,
    hh: np.ndarray,
    tg: np.ndarray,
    th: np.ndarray,
    n_bins: np.ndarray,
    rule: SplitRule,
    cols: np.ndarray | None,
    monotone: Monotone | None = None,
    categorical: np.ndarray | None = None,
    categories: CategoricalSplits | None = None,
) -> BestSplits:
    """The nodes' best splits over a party's features ``cols`` (local indices; ``None``:
    all of them), in their order (ties as XGBoost); features as the party's indices.
    ``monotone``: the nodes' bounds and all the party's features' directions;
    ``categorical``: which of all the party's features are categorical."""
    if cols is None:
        return find_splits(hg, hh, tg, th, n_bins, rule, monotone, categorical, categories)
    if monotone is not None:
        monotone = Monotone(monotone.bounds, monotone.signs[cols])
    cat = None if categorical is None else categorical[cols]
    best = find_splits(
        hg[:, cols], hh[:, cols], tg, th, n_bins[cols], rule, monotone, cat, categories
    )
    best.feature = cols[best.feature] if cols.size else best.feature
    return best


def named_features(
    features: list[str], host_features: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Per party (``""``: the guest), its features as the guest names them (a host's as
    ``"host:feature"``), in the parties' order: the order of all features together."""
    return {"": features, **{h: [f"{h}:{f}" for f in fs] for h, fs in host_features.items()}}


def _unknown(option: str, name: str, known: dict[str, Any]) -> ConfigError:
    return ConfigError(
        f"{option} names {name!r}, which is no feature (the guest's by name, a host's as "
        f"'host:feature': {', '.join(list(known)[:8])}, ...)"
    )


def monotone_signs(
    constraints: dict[str, int], features: list[str], host_features: dict[str, list[str]]
) -> dict[str, np.ndarray]:
    """Per party (``""``: the guest), each feature's monotone direction (int8: +1 rising,
    -1 falling, 0 free) from constraints by name (a host's as ``"host:feature"``)."""
    names = named_features(features, host_features)
    known = {name: (party, i) for party, fs in names.items() for i, name in enumerate(fs)}
    signs = {party: np.zeros(len(fs), dtype=np.int8) for party, fs in names.items()}
    for name, sign in constraints.items():
        if name not in known:
            raise _unknown("monotone_constraints", name, known)
        if sign not in (-1, 0, 1):
            raise ConfigError(f"monotone_constraints: {name!r} must be -1, 0 or 1, not {sign!r}")
        party, i = known[name]
        signs[party][i] = sign
    return signs


def interaction_sets(
    constraints: list[list[str]], features: list[str], host_features: dict[str, list[str]]
) -> list[frozenset[int]]:
    """XGBoost's ``interaction_constraints`` by name (a host's feature as
    ``"host:feature"``) as sets of indices into all parties' features together."""
    names = named_features(features, host_features)
    index = {name: i for i, name in enumerate(n for fs in names.values() for n in fs)}
    out = []
    for group in constraints:
        if isinstance(group, str) or not all(isinstance(n, str) for n in group):
            raise ConfigError(
                "interaction_constraints is a list of groups of feature names, e.g. "
                "[['income', 'telecom:tenure'], ['age', 'utilization']]"
            )
        for name in group:
            if name not in index:
                raise _unknown("interaction_constraints", name, index)
        out.append(frozenset(index[n] for n in group))
    return out


def tree_rows(n: int, params: BoostParams) -> tuple[int, float]:
    """Rows in every tree, and the largest GOSS weight: public, from ``n`` and the parameters."""
    if params.goss is not None:
        top, other = params.goss
        n_top = int(top * n)
        return n_top + min(max(1, int(other * n)), n - n_top), (1 - top) / other
    if params.subsample < 1:
        return max(1, int(params.subsample * n)), 1.0
    return n, 1.0


# --------------------------------------------------------------------------- exchanges

#: a tree's ``colsample_bytree`` sample per host: local feature indices (``None``: all)
FeatureSample = dict[str, np.ndarray | None]


class GuestExchange(ABC):
    """How the guest obtains the hosts' per-bin gradient sums (one object for all hosts)."""

    #: whether the hosts must not learn instance spaces (``he-hidden``): then the guest
    #: tells them no row's node and no routing, and a host answers its splits for every row
    hides_instance_space = False

    @abstractmethod
    def begin_tree(
        self, tree: int, g: np.ndarray, h: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Hand this tree's gradients (over the tree's rows) to every host, protected.

        ``rows``: the tree's rows among the training rows (``None``: all of them).

        Returns the values actually handed over (rounded to the mode's fixed
        point): the guest uses them for its own sums too, so that equal row
        sets give equal sums at every party, and ties break the same way.
        """

    @abstractmethod
    def histograms(
        self, tree: int, depth: int, slot: np.ndarray, n_slots: int
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per host, sums ``(G, H)`` of shape ``(n_slots, F_host, max_bin + 1)``.

        ``slot[i]`` is the node slot of the tree's row ``i`` (``-1``: not summed).
        The hosts know ``slot`` already (the guest sent the instance spaces).
        """

    def use_features(  # noqa: B027 - optional hook
        self, tree: int, features: FeatureSample, upcoming: FeatureSample
    ) -> None:
        """This tree's ``colsample_bytree`` sample per host (local feature indices,
        ``None``: every feature) and the next tree's, told before :meth:`begin_tree`.
        Where the hosts sum only those features (``plain``, ``he``, ``ss-dealer``),
        :meth:`histograms` returns theirs alone, in that order; a mode that prepares a
        tree ahead uses ``upcoming``."""

    def end_tree(self, tree: int) -> None:  # noqa: B027 - optional hook
        """Called after each tree."""

    def finish(self, trees: int) -> None:  # noqa: B027 - optional hook
        """Training is over (``trees`` were kept)."""


class HostExchange(ABC):
    """A host's side of :class:`GuestExchange`."""

    #: see :attr:`GuestExchange.hides_instance_space`
    hides_instance_space = False

    #: what :meth:`begin_tree` waits for, as the step a failure names
    arrives = "gradients from the guest"

    @abstractmethod
    def begin_tree(self, tree: int, bins: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Receive this tree's protected gradients; ``bins`` are the tree's rows' bins,
        ``rows`` the tree's rows among the training rows (``None``: all of them)."""

    @abstractmethod
    def histograms(self, tree: int, depth: int, slot: np.ndarray, n_slots: int) -> None:
        """Produce this depth's per-bin sums for the guest."""

    def use_features(  # noqa: B027 - optional hook
        self, tree: int, features: np.ndarray | None, upcoming: np.ndarray | None
    ) -> None:
        """This tree's ``colsample_bytree`` sample of this host's features (``None``:
        all) and the next tree's, told before :meth:`begin_tree`: an exchange may sum
        only those."""

    def end_tree(self, tree: int) -> None:  # noqa: B027 - optional hook
        """Called after each tree."""

    def finish(self) -> None:  # noqa: B027 - optional hook
        """Training is over."""


class PlainGuestExchange(GuestExchange):
    """``plain`` mode: the guest sends g and h in the clear. INSECURE, development only."""

    def __init__(self, ctx: Context, hosts: list[str], width: int) -> None:
        self.ctx, self.hosts, self.width = ctx, hosts, width

    def begin_tree(
        self, tree: int, g: np.ndarray, h: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        for host in self.hosts:
            self.ctx.send(host, f"sbt/{tree}/plain-gh", np.stack([g, h]))
        return g, h

    def histograms(
        self, tree: int, depth: int, slot: np.ndarray, n_slots: int
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for host in self.hosts:
            got = self.ctx.recv(host, f"sbt/{tree}/{depth}/plain-hist")
            if not isinstance(got, np.ndarray) or got.ndim != 4 or got.shape[0] != 2:
                raise ProtocolError(f"{host!r} sent malformed histograms")
            out[host] = (got[0], got[1])
        return out


class PlainHostExchange(HostExchange):
    def __init__(self, ctx: Context, guest: str, width: int) -> None:
        self.ctx, self.guest, self.width = ctx, guest, width
        self.sums: Histograms | None = None
        self.features: np.ndarray | None = None

    def use_features(
        self, tree: int, features: np.ndarray | None, upcoming: np.ndarray | None
    ) -> None:
        self.features = features

    def begin_tree(self, tree: int, bins: np.ndarray, rows: np.ndarray | None = None) -> None:
        gh = self.ctx.recv(self.guest, f"sbt/{tree}/plain-gh")
        if not isinstance(gh, np.ndarray) or gh.shape != (2, bins.shape[0]):
            raise ProtocolError("the guest sent malformed gradients")
        if self.features is not None:  # only the tree's sample of features
            bins = bins[:, self.features]
        self.sums = Histograms(bins, self.width, gh[0], gh[1])

    def histograms(self, tree: int, depth: int, slot: np.ndarray, n_slots: int) -> None:
        assert self.sums is not None
        g, h = self.sums(slot, n_slots)
        self.ctx.send(self.guest, f"sbt/{tree}/{depth}/plain-hist", np.stack([g, h]))


# --------------------------------------------------------------------------- models


@dataclass
class NodeRecords:
    """The guest's record of one tree's nodes, all of which it chose: per node, the
    split's gain (XGBoost's ``loss_chg``; NaN at leaves), the node's cover (its hessian
    sum), the split's feature (local to the party that holds it) and last bin going left
    (-1 at leaves), and where missing values go. What ``trees_to_dataframe`` shows."""

    gain: np.ndarray
    cover: np.ndarray
    feature: np.ndarray
    bin: np.ndarray
    default_left: np.ndarray

    #: the fields, in order, and how a model part stores them
    DTYPES: ClassVar[dict[str, type]] = {
        "gain": np.float64,
        "cover": np.float64,
        "feature": np.int32,
        "bin": np.int32,
        "default_left": np.bool_,
    }

    @classmethod
    def empty(cls, n_nodes: int) -> NodeRecords:
        """Nothing known (a model saved before nodes were recorded): NaN, -1, False."""
        nan, none = np.full(n_nodes, np.nan), np.full(n_nodes, -1, dtype=np.int32)
        return cls(nan, nan.copy(), none, none.copy(), np.zeros(n_nodes, dtype=bool))


@dataclass
class PartyTrees:
    """One party's part of a trained model: the tree shapes and its own splits.

    At the guest, ``values`` holds each tree's leaf weights (NaN at inner nodes) and
    ``records`` what it knows of each tree's nodes (:class:`NodeRecords`).
    """

    me: int
    layouts: list[TreeLayout] = field(default_factory=list)
    splits: list[LocalSplits] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    records: list[NodeRecords] = field(default_factory=list)

    def truncate(self, n_trees: int) -> None:
        del self.layouts[n_trees:], self.splits[n_trees:], self.values[n_trees:]
        del self.records[n_trees:]

    def leaf_masks(self, X: np.ndarray, trees: range | None = None) -> list[np.ndarray]:
        """Per tree, which leaves each row may reach given this party's splits."""
        trees = trees if trees is not None else range(len(self.layouts))
        return [reachable_leaves(self.layouts[t], self.splits[t], X, self.me)[1] for t in trees]

    def split_sides(self, X: np.ndarray) -> list[np.ndarray]:
        """Per tree, the side each row takes at every split of this party's, wherever the
        row's path goes: ``(n, splits)``, True for left, the splits by node id."""
        out = []
        for sp in self.splits:
            order = np.argsort(np.asarray(sp.node, dtype=np.int64), kind="stable")
            sides = [sp.side(int(i), X) for i in order]
            out.append(np.stack(sides, axis=1) if sides else np.ones((X.shape[0], 0), dtype=bool))
        return out


#: where training starts from a model it continues: the model's base margin, and its
#: margins on the training rows and on the validation rows (None: no validation set)
Start = tuple[float | np.ndarray, np.ndarray, np.ndarray | None]


@dataclass
class GuestResult:
    trees: PartyTrees
    base_margin: float | np.ndarray  # multi:softprob: one per class
    features: list[str]
    host_features: dict[str, list[str]]
    importance_split: dict[str, int]
    importance_gain: dict[str, float]
    importance_cover: dict[str, float]
    history: list[float]
    best_iteration: int
    tree_seconds: list[float] = field(default_factory=list)  # each tree's wall time at the guest
    # the training rows' margins with the trees kept (the guest's own: its score reference)
    train_margin: np.ndarray | None = None


def _pack_masks(masks: list[np.ndarray]) -> np.ndarray:
    """Leaf masks ``(n, leaves_t)`` of several trees as one packed bit array (rows first)."""
    if not masks:
        return np.zeros(0, dtype=np.uint8)
    return np.packbits(np.concatenate(masks, axis=1), axis=1)


def _unpack_masks(packed: Any, n: int, widths: list[int], who: str) -> list[np.ndarray]:
    total = sum(widths)
    if not isinstance(packed, np.ndarray) or packed.dtype != np.uint8:
        raise ProtocolError(f"{who!r} sent malformed leaf masks")
    if total == 0:
        return [np.ones((n, 0), dtype=bool) for _ in widths]
    if packed.shape != (n, (total + 7) // 8):
        raise ProtocolError(f"{who!r} sent leaf masks of shape {packed.shape}")
    bits = np.unpackbits(packed, axis=1, count=total).astype(bool)
    out, pos = [], 0
    for w in widths:
        out.append(bits[:, pos : pos + w])
        pos += w
    return out


def combine_masks(guest: list[np.ndarray], hosts: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per tree, the one leaf (column index) each row reaches: the AND of all parties' masks."""
    out = []
    for t, mine in enumerate(guest):
        m = mine.copy()
        for theirs in hosts:
            m &= theirs[t]
        if m.shape[1] and not np.all(m.sum(axis=1) == 1):
            raise ProtocolError(
                f"tree {t}: the parties' leaf masks do not single out one leaf per row "
                "(models from different trainings?)"
            )
        out.append(np.argmax(m, axis=1) if m.shape[1] else np.zeros(m.shape[0], dtype=np.int64))
    return out


# --------------------------------------------------------------------------- handshake


@dataclass(frozen=True)
class Roles:
    """Who is who in a job, found in the handshake: the label holder is the guest."""

    guest: str
    hosts: tuple[str, ...]
    dealer: str | None

    def index(self, party: str) -> int:
        """A party's index in split ownership: 0 for the guest, 1.. for the hosts."""
        return 0 if party == self.guest else 1 + self.hosts.index(party)


def handshake(ctx: Context, role: str, mode: str, task: str = "train") -> Roles:
    """Every party announces its role, mode and task; all check that they agree.

    ``role`` is ``"guest"`` (holds the label), ``"host"`` (features only) or
    ``"dealer"`` (no input; ``ss-dealer`` mode only). ``task``: ``"train"``, or
    ``"cv K"`` for a cross-validation of K folds (a party that trains while another
    cross-validates would wait for messages that never come).
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    with ctx.step("handshake"):
        ctx.broadcast("sbt/hello", {"role": role, "mode": mode, "task": task})
        roles = {ctx.party: role}
        for peer in ctx.peers:
            msg = ctx.recv(peer, "sbt/hello")
            if not isinstance(msg, dict) or msg.get("role") not in ("guest", "host", "dealer"):
                raise ProtocolError(f"{peer!r} sent a malformed hello")
            if msg.get("mode") != mode:
                raise ConfigError(
                    f"modes differ: {ctx.party!r} runs {mode!r} but {peer!r} runs {msg.get('mode')!r}"
                )
            theirs = msg.get("task", "train")
            if theirs != task:
                raise ConfigError(
                    f"tasks differ: {ctx.party!r} runs {_task(task)} but {peer!r} runs "
                    f"{_task(str(theirs))} (give --cv K at every party, or at none)"
                )
            roles[peer] = msg["role"]
    ordered = [p for p in ctx.parties]
    guests = [p for p in ordered if roles[p] == "guest"]
    hosts = tuple(p for p in ordered if roles[p] == "host")
    dealers = [p for p in ordered if roles[p] == "dealer"]
    if len(guests) != 1:
        raise ConfigError(
            f"exactly one party must hold the label (give --label at the guest only); "
            f"found {len(guests)}: {guests}"
        )
    if not hosts:
        raise ConfigError(
            "SecureBoost needs at least one host (a party with features and no label)"
        )
    if mode in DEALER_MODES and len(dealers) != 1:
        raise ConfigError(
            f"{mode} mode needs exactly one dealer (a party run with --as <name> and no input); "
            f"found {len(dealers)}"
        )
    if mode not in DEALER_MODES and dealers:
        raise ConfigError(f"{mode} mode has no dealer, but {dealers} joined without input")
    return Roles(guests[0], hosts, dealers[0] if dealers else None)


def _task(task: str) -> str:
    """A handshake's task as people read it."""
    if task.startswith("cv "):
        return f"a {task.removeprefix('cv ')}-fold cross-validation"
    return "a training"


# --------------------------------------------------------------------------- guest


def _as_list(cols: np.ndarray | None) -> list[int] | None:
    return None if cols is None else [int(c) for c in cols]


def _features(told: Any, n_features: int) -> np.ndarray | None:
    """A host's sample of its features for a tree, as the guest told it, checked."""
    if told is None:
        return None
    cols = np.asarray(told, dtype=np.int64) if isinstance(told, list) else None
    if (
        cols is None
        or cols.ndim != 1
        or not all(isinstance(c, int) for c in told)
        or np.any(np.diff(cols) <= 0)
        or cols.min(initial=0) < 0
        or cols.max(initial=0) >= n_features
    ):
        raise ProtocolError("the guest sent a malformed feature sample")
    return cols


def _over_all_features(
    sums: tuple[np.ndarray, np.ndarray], cols: np.ndarray, shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """A host's sums over its sampled features ``cols``, placed among all its features
    (zeros elsewhere: those features take no part in this tree's splits)."""
    if any(part.shape != (shape[0], cols.size, shape[2]) for part in sums):
        return sums  # the shape check that follows names the host
    g, h = np.zeros(shape), np.zeros(shape)
    g[:, cols], h[:, cols] = sums
    return g, h


def _take_rows(bins: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The tree's rows of ``bins``, in Fortran order like ``bins`` (no copy when all rows)."""
    if rows.size == bins.shape[0]:  # rows is arange(n) when the tree is not subsampled
        return bins
    return np.asfortranarray(bins[rows])


def _nodes_to_sum(frontier: list[int], counts: np.ndarray) -> list[int]:
    """The frontier nodes whose histograms are summed; both sides work them out alike.

    ``counts``: the tree's rows in each node. The root, then the smaller child of
    each sibling pair (fewer rows; the left one on a tie): histogram subtraction
    gives the other as parent minus child.
    """
    if frontier == [0]:
        return [0]
    return [v for v, c in zip(frontier, smaller_children(counts[frontier]), strict=True) if c]


def _decisions(msg: Any) -> tuple[list[Any], np.ndarray]:
    """The guest's split message: the decisions, and its routing bits as packed bytes."""
    try:
        if not isinstance(msg, dict) or not isinstance(msg.get("splits"), list):
            raise ValueError("no list of splits")
        routes = np.frombuffer(base64.b64decode(msg["routes"], validate=True), dtype=np.uint8)
    except (ValueError, TypeError, KeyError) as e:  # binascii.Error is a ValueError
        raise ProtocolError(f"the guest sent malformed split decisions ({e})") from None
    if any(not isinstance(d, list) or len(d) != 7 for d in msg["splits"]):
        raise ProtocolError("the guest sent malformed split decisions")
    return msg["splits"], routes


def _route(
    node_of: np.ndarray,
    out: np.ndarray,
    layout: TreeLayout,
    nodes: Sequence[int] = (),
    *,
    X: np.ndarray | None = None,
    rules: Sequence[tuple[int, float, bool, tuple[int, ...] | None]] = (),
    read: tuple[Sequence[int], Any, str] | None = None,
    counts: np.ndarray | None = None,
) -> np.ndarray:
    """Route the rows of the nodes split at this depth to their children in ``out``, in one pass.

    ``nodes`` are this party's splits: it decides from ``X`` and ``rules``
    (column, threshold, default left, and the codes that go right at a categorical
    split, per node). ``read`` is ``(nodes, answer,
    who)``: another party's splits, with the routing bits that ``who`` sent
    (packed). Either way the bits come node by node, in the order of the nodes,
    a node's rows in increasing order (``1``: left). Returns the bits decided
    here, unpacked (uint8), to be sent where this party decided. ``counts``: the
    rows in each node of ``node_of``, if the caller has them.
    """
    if not len(nodes) and read is None:  # no split at this depth is routed here
        return np.zeros(0, dtype=np.uint8)
    if counts is None:
        counts = np.bincount(node_of, minlength=layout.n_nodes)
    pos = np.full(layout.n_nodes, -1, dtype=np.int64)
    column = np.zeros(layout.n_nodes, dtype=np.int64)
    threshold = np.zeros(layout.n_nodes)
    default_left = np.zeros(layout.n_nodes, dtype=np.bool_)
    decide = np.zeros(layout.n_nodes, dtype=np.bool_)
    mine = np.asarray(nodes, dtype=np.int64)
    here = counts[mine]
    pos[mine] = np.cumsum(here) - here  # where each node's bits begin
    decide[mine] = True
    cat_row = np.full(layout.n_nodes, -1, dtype=np.int64)
    sets = [(v, r[3]) for v, r in zip(nodes, rules, strict=True) if r[3] is not None]
    cat_table = np.zeros((1 + len(sets), 256), dtype=np.uint8)
    for row, (v, cats) in enumerate(sets):  # a categorical split: its codes that go right
        cat_row[v] = row
        cat_table[row, list(cats)] = 1
    for v, (f, thr, dl, _) in zip(nodes, rules, strict=True):
        column[v], threshold[v], default_left[v] = f, thr, dl
    decided = np.empty(int(here.sum()), dtype=np.uint8)
    theirs, bits = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    if read is not None:
        theirs = np.asarray(read[0], dtype=np.int64)
        there = counts[theirs]
        total, answer = int(there.sum()), read[1]
        if (
            not isinstance(answer, np.ndarray)
            or answer.dtype != np.uint8
            or answer.shape != ((total + 7) // 8,)
        ):
            raise ProtocolError(f"{read[2]!r} sent a malformed routing answer")
        bits = np.unpackbits(answer, count=total)
        pos[theirs] = np.cumsum(there) - there
    if X is None:
        X = np.zeros((2, 2), order="F")  # not read (column-major: the type the kernel has)
    # node v's children at 2 v (left) and 2 v + 1 (right)
    children = np.stack([layout.left, layout.right], axis=1).astype(np.int16).reshape(-1)
    kernels.route_rows(
        node_of,
        pos,
        column,
        threshold,
        default_left,
        cat_row,
        cat_table,
        X,
        decide,
        decided,
        bits,
        children,
        out,
    )
    return decided


def _node_bits(answer: Any, nodes: list[int], node_of: np.ndarray, who: str) -> np.ndarray:
    """A host's sides of every row for its splits at ``nodes`` (in turn, packed) as
    :func:`_route` reads them: each node's own rows' bits, the nodes in turn."""
    n = node_of.size
    total = len(nodes) * n
    if (
        not isinstance(answer, np.ndarray)
        or answer.dtype != np.uint8
        or answer.shape != ((total + 7) // 8,)
    ):
        raise ProtocolError(f"{who!r} sent a malformed routing answer")
    bits = np.unpackbits(answer, count=total).reshape(len(nodes), n)
    return np.packbits(np.concatenate([bits[k][node_of == v] for k, v in enumerate(nodes)]))


def _slots(node_rows: np.ndarray, compute: list[int], n_nodes: int) -> np.ndarray:
    """Each tree row's slot among the nodes to ``compute`` (``-1``: none)."""
    lut = np.full(n_nodes, -1, dtype=np.int32)
    lut[compute] = np.arange(len(compute), dtype=np.int32)
    return kernels.take(lut, node_rows)


class Guest:
    """The label holder's role in training (SecureBoost's active party)."""

    def __init__(
        self,
        ctx: Context,
        X: np.ndarray,
        y: np.ndarray,
        features: list[str],
        params: BoostParams,
        hosts: list[str],
        host_features: dict[str, list[str]],
        host_bins: dict[str, np.ndarray],
        exchange: GuestExchange,
        eval_set: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        weights: np.ndarray | None = None,
        monotone: dict[str, int] | None = None,
        interactions: list[list[str]] | None = None,
        categories: np.ndarray | None = None,
        host_categorical: dict[str, np.ndarray] | None = None,
    ) -> None:
        """``monotone``: XGBoost's ``monotone_constraints`` by feature name (a host's
        as ``"host:feature"``): +1 rising, -1 falling. ``interactions``: XGBoost's
        ``interaction_constraints``, groups of feature names that may interact.
        ``categories``: per own feature, its number of categories (0: numeric; a
        categorical feature's values are codes); ``host_categorical``: per host, which
        of its features are categorical."""
        self.ctx, self.y, self.p = ctx, y, params
        self.weights = weights  # the rows' weights (None: 1 each)
        self._residual = np.zeros(0)  # y - margin before the tree (adaptive leaves)
        # what scales each row's g and h: its weight and, for positive rows,
        # scale_pos_weight (XGBoost's); None: nothing
        gh_weight = weights
        if params.scale_pos_weight != 1:
            positive = np.where(y == 1, params.scale_pos_weight, 1.0)
            gh_weight = positive if weights is None else positive * weights
        self.gh_weight = gh_weight
        self.X = np.asfortranarray(X)  # a split reads one column at a node's rows
        self.features = features
        self.hosts = hosts
        self.tree_hosts: list[str] = list(hosts)  # the hosts taking part in this tree
        self.host_features, self.host_bins = host_features, host_bins
        self.exchange = exchange
        self.eval_set = eval_set
        self.rule = params.rule
        self.binner = BinMapper.fit(X, params.max_bin, categories)
        self.categorical = {
            "": np.zeros(X.shape[1], dtype=bool) if categories is None else categories > 0,
            **{h: np.zeros(len(host_features[h]), dtype=bool) for h in hosts},
            **(host_categorical or {}),
        }
        self.bins = self.binner.transform(X)
        self.width = self.binner.width
        self.sampler = RowSampler(params.random_state)  # secret in he-hidden
        # monotone constraints per party's feature (+1 rising, -1 falling, 0 free)
        self.signs = monotone_signs(monotone or {}, features, host_features)
        self.constrained = any(bool(v.any()) for v in self.signs.values())
        for party, signs in self.signs.items():  # a categorical feature has no order
            cat = self.categorical[party]
            if np.any(signs[cat] != 0):
                names = features if party == "" else host_features[party]
                name = names[int(np.flatnonzero((signs != 0) & cat)[0])]
                shown = name if party == "" else f"{party}:{name}"
                raise ConfigError(f"a monotone constraint on categorical feature {shown!r}")
        self._bounds: dict[int, tuple[float, float]] = {}  # the tree's nodes' weight bounds
        self._split_sign: dict[int, int] = {}  # per split node, its feature's sign
        # interaction constraints: sets of all parties' feature indices; per node of the
        # tree, the features used on its path and those it may split on (None: any)
        self.interactions = interaction_sets(interactions or [], features, host_features)
        self._used: dict[int, frozenset[int]] = {}
        self._allowed: dict[int, frozenset[int] | None] = {}
        self.feature_sampler = feature_sampler(params.random_state)
        # each party's feature count, and where its features start among all parties'
        self._sizes = {"": X.shape[1], **{h: len(host_features[h]) for h in hosts}}
        starts = np.cumsum([0, *self._sizes.values()])[:-1].tolist()
        self._starts = dict(zip(self._sizes, starts, strict=True))
        self.node_sampler = feature_sampler(params.random_state, 2)
        # per party, the local indices of the features this tree may split on (None: all)
        self.columns: dict[str, np.ndarray | None] = {}
        self._samples: list[dict[str, np.ndarray | None]] = []  # per tree, drawn in order
        self._chosen: list[np.ndarray] = []  # per tree, its sample as indices of all features
        self._tree_chosen = np.zeros(0, np.int64)  # the tree being grown's
        # per tree, per feature: its splits, their gain and their cover (hessian sum), so
        # that the model's importance counts the trees it keeps (early stopping drops some)
        self.tree_importance: list[dict[str, list[float]]] = []
        self._split_by: set[str] = set()  # who split a node at the last depth ("": the guest)
        # the tree being grown: per node evaluated, (gain, cover, feature, bin, default left)
        self._nodes: dict[int, tuple[float, float, int, int, bool]] = {}

    # -- row sampling -----------------------------------------------------------------
    def sample_rows(
        self, g: np.ndarray, h: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The tree's rows and their (re-weighted) g, h: all rows, ``subsample``, or GOSS.

        GOSS (Ke et al., "LightGBM", NeurIPS 2017, algorithm 2): keep the
        ``top_rate`` rows of largest ``|g|``, sample ``other_rate`` of the rest,
        and weight those by ``(1 - top_rate) / other_rate``.
        """
        n = g.size
        size, weight = tree_rows(n, self.p)
        if self.p.goss is not None:
            n_top = int(self.p.goss[0] * n)
            order = np.argsort(-np.abs(g), kind="stable")
            rest = self.sampler.choice(order[n_top:], size - n_top)
            rows = np.sort(np.r_[order[:n_top], rest])
            w = np.ones(n)
            w[rest] = weight
            return rows, g[rows] * w[rows], h[rows] * w[rows]
        if size < n:
            rows = np.sort(self.sampler.choice(n, size))
            return rows, g[rows], h[rows]
        return np.arange(n), g, h

    def sample_columns(self, t: int) -> dict[str, np.ndarray | None]:
        """Per party (``""``: the guest), the features tree ``t`` may split on
        (:func:`tree_features`), drawn in tree order (a tree ahead: the next tree's
        sample goes out with this one's)."""
        total = sum(self._sizes.values())
        while len(self._samples) <= t:
            chosen = tree_features(self.feature_sampler, total, self.p.colsample_bytree)
            if chosen is None:
                self._samples.append(dict.fromkeys(["", *self.hosts]))
                self._chosen.append(np.arange(total))
                continue
            self._samples.append(self._by_party(chosen))
            self._chosen.append(chosen)
        return self._samples[t]

    def _by_party(self, chosen: np.ndarray) -> dict[str, np.ndarray | None]:
        """Sorted indices of all parties' features, as each party's local indices."""
        out: dict[str, np.ndarray | None] = {}
        for party, start in self._starts.items():
            out[party] = chosen[(chosen >= start) & (chosen < start + self._sizes[party])] - start
        return out

    def node_columns(self, n_nodes: int) -> list[dict[str, np.ndarray | None]] | None:
        """XGBoost's ``colsample_bylevel`` and ``colsample_bynode``: per node of a depth,
        the features it may split on, per party (local indices); ``None``: the tree's.

        As XGBoost's column sampler: a depth's sample is ``max(1, int(r × k))`` of the
        tree's ``k`` features (``r = colsample_bylevel``), a node's the same share
        (``colsample_bynode``) of its depth's, each drawn without replacement. Only the
        guest's choice of split is restricted; the hosts sum the tree's features as
        before, and are not told the samples.
        """
        p = self.p
        if p.colsample_bylevel >= 1 and p.colsample_bynode >= 1:
            return None
        level = self._tree_chosen
        if p.colsample_bylevel < 1:
            level = level[tree_features(self.node_sampler, level.size, p.colsample_bylevel)]
        if p.colsample_bynode >= 1:
            return [self._by_party(level)] * n_nodes
        return [
            self._by_party(level[tree_features(self.node_sampler, level.size, p.colsample_bynode)])
            for _ in range(n_nodes)
        ]

    def _interact(self, node: int, children: tuple[int, int], feature: int) -> None:
        """XGBoost's interaction constraints after ``node`` split on ``feature`` (an index
        of all parties' features): its children may split on the features used on their
        path and on every feature of each group that holds all of those."""
        used = self._used[node] | {feature}
        allowed = set(used)
        for group in self.interactions:
            if used <= group:
                allowed |= group
        for child in children:
            self._used[child], self._allowed[child] = used, frozenset(allowed)

    def _interacting(
        self, frontier: list[int], per_node: list[dict[str, np.ndarray | None]] | None
    ) -> list[dict[str, np.ndarray | None]] | None:
        """Each frontier node's features per party (local indices) within its column
        sample (``per_node``, else the tree's) and, under interaction constraints, among
        the features its path allows; ``None``: the tree's sample at every node."""
        if not self.interactions or all(self._allowed[v] is None for v in frontier):
            return per_node
        out = []
        for j, v in enumerate(frontier):
            sample = per_node[j] if per_node is not None else self.columns
            allowed = self._allowed[v]
            if allowed is None:
                out.append(dict(sample))
                continue
            mine = self._by_party(np.array(sorted(allowed), dtype=np.int64))
            node: dict[str, np.ndarray | None] = {}
            for party, cols in sample.items():
                ok = mine[party]
                assert ok is not None
                node[party] = ok if cols is None else np.intersect1d(cols, ok)
            out.append(node)
        return out

    # -- one tree ------------------------------------------------------------------------
    def grow_tree(
        self, t: int, g_all: np.ndarray, h_all: np.ndarray, trees: PartyTrees
    ) -> np.ndarray:
        """Grow tree ``t`` (algorithm 2 of the paper, depth by depth); every row's leaf value.

        The first :attr:`~BoostParams.guest_only_trees` trees are the guest's alone
        (SecureBoost's reduced-leakage variant, section 6 of the paper): no gradient, sum,
        split or routing bit crosses; the hosts are told the tree's shape at the end, so
        that their model parts stay aligned. The exchange counts the other trees from 0.
        """
        ctx, p = self.ctx, self.p
        n = self.X.shape[0]
        rows, g, h = self.sample_rows(g_all, h_all)
        sampled = rows.size < n
        self.columns, upcoming = self.sample_columns(t), self.sample_columns(t + 1)
        self._tree_chosen = self._chosen[t]
        self.tree_importance.append({})
        joint = t >= p.guest_only_trees
        k = t - p.guest_only_trees  # the exchange's tree
        self.tree_hosts = list(self.hosts) if joint else []  # the hosts that take part
        if not joint:
            for host in self.hosts:
                ctx.send(host, f"sbt/{t}/begin", {"op": "tree", "guest_only": True})
        else:
            self.exchange.use_features(
                k,
                {host: self.columns[host] for host in self.hosts},
                {host: upcoming[host] for host in self.hosts},
            )
        hidden = self.exchange.hides_instance_space
        for host in self.tree_hosts:
            # with instance spaces hidden, hosts are not told the tree's rows either
            told = sampled and not hidden
            begin = {"op": "tree", "sampled": told, "features": _as_list(self.columns[host])}
            ctx.send(host, f"sbt/{t}/begin", begin | {"next": _as_list(upcoming[host])})
            if told:
                mask = np.zeros(n, dtype=bool)
                mask[rows] = True
                ctx.send(host, f"sbt/{t}/rows", np.packbits(mask))
        if joint:
            clock = time.perf_counter()
            with ctx.step(f"tree {t}: gradients to the hosts"):
                g, h = self.exchange.begin_tree(k, g, h, rows=rows)
            ctx.log.debug(
                "tree %d: gradients handed over in %.3f s", t, time.perf_counter() - clock
            )
        own_bins, own_cols = _take_rows(self.bins, rows), self.columns[""]
        if own_cols is not None:  # colsample_bytree: the tree's sample of own features only
            own_bins = own_bins[:, own_cols]
        own_sums = Histograms(own_bins, self.width, g, h)
        layout, splits = TreeLayout(), LocalSplits()
        self._nodes = {}
        self._bounds, self._split_sign = {0: (-np.inf, np.inf)}, {}
        self._used, self._allowed = {0: frozenset()}, {0: None}
        node_of = np.zeros(n, dtype=np.int16)  # every training row is routed
        frontier: list[int] = [0]
        parent_hist: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        depth = 0
        while frontier and depth < p.max_depth:
            node_rows = node_of[rows] if sampled else node_of
            # each node's rows and sums of g, h: the subtraction's choice, the splits' totals
            counts, total_g, total_h = kernels.node_totals(node_rows, g, h, layout.n_nodes)
            self._bound_children(layout, total_g, total_h)
            with ctx.step(f"tree {t} depth {depth}: histograms"):
                for host in self.tree_hosts:  # a host routes the rows of its own and our splits
                    if depth and not hidden and self._needs_instance_space(host):
                        ctx.send(host, f"sbt/{t}/{depth}/nodes", node_of)
                compute = _nodes_to_sum(frontier, counts)
                slot = _slots(node_rows, compute, layout.n_nodes)
                clock = time.perf_counter()
                own = own_sums(slot, len(compute))
                if own_cols is not None:
                    shape = (len(compute), self.X.shape[1], self.width)
                    own = _over_all_features(own, own_cols, shape)
                theirs = self.exchange.histograms(k, depth, slot, len(compute)) if joint else {}
                ctx.log.debug(
                    "tree %d depth %d: histograms of %d nodes in %.3f s",
                    t,
                    depth,
                    len(compute),
                    time.perf_counter() - clock,
                )
                clock = time.perf_counter()
                hist = self._all_histograms(frontier, compute, own, theirs, layout, parent_hist)
            with ctx.step(f"tree {t} depth {depth}: splits"):
                frontier, node_of = self._split_layer(
                    t,
                    depth,
                    frontier,
                    hist,
                    (total_g, total_h),
                    None if sampled else counts,
                    node_of,
                    layout,
                    splits,
                )
            ctx.log.debug(
                "tree %d depth %d: splits in %.3f s", t, depth, time.perf_counter() - clock
            )
            parent_hist = hist
            depth += 1
        # leaf weights w = -G / (H + lambda), from the guest's own exact sums
        node_rows = node_of[rows] if sampled else node_of
        _, tg, th = kernels.node_totals(node_rows, g, h, layout.n_nodes)
        values = np.full(layout.n_nodes, np.nan)
        leaves = layout.leaves()
        bounds = None
        if self.constrained:  # the leaves' weights within their bounds
            self._bound_children(layout, tg, th)
            lower, upper = zip(*(self._bounds[v] for v in leaves.tolist()), strict=True)
            bounds = (np.array(lower), np.array(upper))
        values[leaves] = p.learning_rate * self.rule.weight(tg[leaves], th[leaves], bounds)
        if p.objective in ADAPTIVE:  # XGBoost's adaptive leaves: a quantile of residuals
            weights = None if self.weights is None else self.weights[rows]
            values[leaves] = adaptive_leaf_values(
                node_rows, self._residual[rows], leaves, p.quantile_alpha, p.learning_rate, weights
            )
        trees.layouts.append(layout)
        trees.splits.append(splits)
        trees.values.append(values)
        records = NodeRecords.empty(layout.n_nodes)
        records.cover[leaves] = th[leaves]  # leaves below the last depth were no frontier
        for v, (gain, cover, feature, last_bin, default_left) in self._nodes.items():
            records.gain[v], records.cover[v], records.feature[v] = gain, cover, feature
            records.bin[v], records.default_left[v] = last_bin, default_left
        trees.records.append(records)
        if joint:
            self.exchange.end_tree(k)
        else:  # the shape alone: which nodes split, each host's part of the tree
            for host in self.hosts:
                ctx.send(host, f"sbt/{t}/shape", np.asarray(layout.left, dtype=np.int32))
        return values[node_of]

    def _bound_children(self, layout: TreeLayout, tg: np.ndarray, th: np.ndarray) -> None:
        """Monotone constraints: the weight bounds of the children of the last depth's
        splits (XGBoost's TreeEvaluator.AddSplit), from the children's sums of g and h
        (``tg``, ``th``: per node, over the rows now in it) and the parent's bounds."""
        if not self.constrained:
            return
        for v, sign in self._split_sign.items():
            left, right = layout.left[v], layout.right[v]
            if left in self._bounds:
                continue
            bounds = self._bounds[v]
            box = (np.array([bounds[0]]), np.array([bounds[1]]))
            wl = float(self.rule.weight(tg[left], th[left], box)[0])
            wr = float(self.rule.weight(tg[right], th[right], box)[0])
            self._bounds[left], self._bounds[right] = child_bounds(bounds, sign, wl, wr)

    def _all_histograms(
        self,
        frontier: list[int],
        compute: list[int],
        own: tuple[np.ndarray, np.ndarray],
        theirs: dict[str, tuple[np.ndarray, np.ndarray]],
        layout: TreeLayout,
        parent_hist: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]],
    ) -> dict[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Every frontier node's histograms per party: summed, or parent minus sibling."""
        parties = {"": own, **theirs}
        for host in self.tree_hosts:
            shape = (len(compute), len(self.host_features[host]), self.width)
            got = parties.get(host)
            cols = self.columns.get(host)
            if got is not None and cols is not None and got[0].shape[1:2] == (cols.size,):
                parties[host] = got = _over_all_features(got, cols, shape)
            if got is None or got[0].shape != shape or got[1].shape != shape:
                raise ProtocolError(
                    f"{host!r} sent histograms of the wrong shape (expected {shape})"
                )
        out: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        for j, v in enumerate(compute):
            out[v] = {k: (gh[0][j], gh[1][j]) for k, gh in parties.items()}
        parent_of = {layout.left[i]: i for i in range(layout.n_nodes) if layout.left[i] >= 0}
        parent_of |= {layout.right[i]: i for i in range(layout.n_nodes) if layout.right[i] >= 0}
        for v in frontier:
            if v in out:
                continue
            par = parent_of[v]
            sib = layout.left[par] if layout.right[par] == v else layout.right[par]
            out[v] = {
                k: (
                    parent_hist[par][k][0] - out[sib][k][0],
                    parent_hist[par][k][1] - out[sib][k][1],
                )
                for k in parties
            }
        return out

    def _split_layer(
        self,
        t: int,
        depth: int,
        frontier: list[int],
        hist: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]],
        totals: tuple[np.ndarray, np.ndarray],
        counts: np.ndarray | None,
        node_of: np.ndarray,
        layout: TreeLayout,
        splits: LocalSplits,
    ) -> tuple[list[int], np.ndarray]:
        """Choose each frontier node's split, have its owner route the rows; the next frontier.

        ``totals``: every node's sums of the tree's ``g`` and ``h``; ``counts``: the rows
        of ``node_of`` in each node (``None``: counted here)."""
        ctx = self.ctx
        tg, th = totals[0][frontier], totals[1][frontier]
        if counts is None:
            counts = np.bincount(node_of, minlength=layout.n_nodes)
        parties = ["", *self.tree_hosts]
        n_bins = {"": self.binner.n_bins(), **self.host_bins}
        candidates = []
        per_node = self._interacting(frontier, self.node_columns(len(frontier)))
        bounds = None
        if self.constrained:  # monotone constraints: each node's bounds on its weights
            lower, upper = zip(*(self._bounds[v] for v in frontier), strict=True)
            bounds = (np.array(lower), np.array(upper))

        def monotone(party: str, j: int | None = None) -> Monotone | None:
            if bounds is None:
                return None
            at = slice(None) if j is None else slice(j, j + 1)
            return Monotone((bounds[0][at], bounds[1][at]), self.signs[party])

        def categorical(party: str) -> tuple[np.ndarray | None, CategoricalSplits]:
            cat = self.categorical[party]
            return (cat if cat.any() else None), self.p.categories

        for party in parties:
            hg = np.stack([hist[v][party][0] for v in frontier])
            hh = np.stack([hist[v][party][1] for v in frontier])
            if per_node is None:
                cols, rule = self.columns.get(party), self.rule
                best = _best_among(
                    hg, hh, tg, th, n_bins[party], rule, cols, monotone(party), *categorical(party)
                )
                candidates.append(best)
                continue
            # colsample_bylevel / bynode: node by node, among the node's sample
            each = [
                _best_among(
                    hg[j : j + 1],
                    hh[j : j + 1],
                    tg[j : j + 1],
                    th[j : j + 1],
                    n_bins[party],
                    self.rule,
                    per_node[j][party],
                    monotone(party, j),
                    *categorical(party),
                )
                for j in range(len(frontier))
            ]
            candidates.append(
                BestSplits(
                    *(np.concatenate([getattr(b, k) for b in each]) for k in BestSplits.FIELDS)
                )
            )
        owner, best = merge_best(candidates)
        do_split = is_worth_splitting(best.gain, self.rule)
        for j, v in enumerate(frontier):  # what trees_to_dataframe shows
            self._nodes[v] = (
                (float(best.gain[j]), float(th[j]), int(best.feature[j]), int(best.bin[j]))
                + (bool(best.default_left[j]),)
                if do_split[j]
                else (np.nan, float(th[j]), -1, -1, False)
            )
        # every host learns the layer's shape; each host, its own winning (feature, bin)
        children: dict[int, tuple[int, int]] = {}
        messages: dict[str, list[list[Any]]] = {host: [] for host in self.tree_hosts}
        for j, v in enumerate(frontier):
            if not do_split[j]:
                continue
            children[v] = layout.split(v, int(owner[j]))
            party, f = parties[owner[j]], int(best.feature[j])
            if self.constrained:  # its children's bounds follow from the feature's sign
                # (reversed for "missing left, every value right", kept mirrored)
                sign = int(self.signs[party][f])
                self._split_sign[v] = -sign if best.flipped[j] else sign
            if self.interactions:
                self._interact(v, children[v], self._starts[party] + f)
            name = self.features[f] if party == "" else f"{party}:{self.host_features[party][f]}"
            record = self.tree_importance[-1].setdefault(name, [0, 0.0, 0.0])
            record[0] += 1
            record[1] += float(best.gain[j])
            record[2] += float(th[j])
            right = best.right_bins[j]  # a categorical split's bins (categories) going right
            for host in self.tree_hosts:
                mine = host == party
                messages[host].append(
                    [
                        v,
                        mine,
                        f if mine else -1,
                        int(best.bin[j]) if mine else -1,
                        bool(best.default_left[j]) if mine else False,
                        party == "",  # the guest's: its routing answer comes along
                        list(right) if mine and right is not None else None,
                    ]
                )
        self._split_by = {parties[owner[j]] for j in range(len(frontier)) if do_split[j]}
        new_node_of = node_of.copy()
        # the guest's own splits first: their routing goes out with the decisions, so a
        # host can route every row itself and start the next depth at once
        own, rules = [], []
        for j, v in enumerate(frontier):
            if do_split[j] and owner[j] == 0:
                f, b, dl = int(best.feature[j]), int(best.bin[j]), bool(best.default_left[j])
                right = best.right_bins[j]  # categorical: the codes (bins) going right
                thr = math.nan if right is not None else self.binner.threshold(f, b)
                splits.add(v, f, thr, dl, right)
                own.append(v)
                rules.append((f, thr, dl, right))
        left = _route(node_of, new_node_of, layout, own, X=self.X, rules=rules, counts=counts)
        # one message a host: the decisions and the guest's routing bits (base64; none when
        # instance spaces are hidden: a host then routes no row)
        hidden = self.exchange.hides_instance_space
        routes = np.packbits(left).tobytes() if own and not hidden else b""
        for host in self.tree_hosts:
            decided = {"splits": messages[host], "routes": base64.b64encode(routes).decode()}
            ctx.send(host, f"sbt/{t}/{depth}/split", decided)
        for host in self.tree_hosts:
            theirs = [int(m[0]) for m in messages[host] if m[1]]
            if theirs:
                answer = ctx.recv(host, f"sbt/{t}/{depth}/left")
                if hidden:  # every row's side of each split: keep the node's rows'
                    answer = _node_bits(answer, theirs, node_of, host)
                _route(node_of, new_node_of, layout, read=(theirs, answer, host), counts=counts)
        return [c for v in frontier if v in children for c in children[v]], new_node_of

    def _needs_instance_space(self, host: str) -> bool:
        """Whether ``host`` needs the rows' nodes sent: another host split a node last depth."""
        return bool(self._split_by - {"", host})

    # -- training ------------------------------------------------------------------------
    def fit(self, start: Start | None = None) -> GuestResult:
        """Grow the trees. ``start``: continue a model (its base margin, and its margins on
        the training and validation rows, from joint prediction); else from the base score."""
        ctx, p = self.ctx, self.p
        y = self.y
        per_round = p.trees_per_round  # multi:softprob: a tree per class, in class order
        if start is None:
            base = base_margin(
                p.objective,
                y,
                p.base_score,
                self.weights,
                p.num_class,
                p.loss_params,
                p.scale_pos_weight,
            )
        else:
            base = start[0]

        def margins(n: int, given: np.ndarray | None) -> np.ndarray:
            if given is not None:
                return np.array(given, dtype=np.float64)  # a copy: it is added to
            return np.tile(base, (n, 1)) if per_round > 1 else np.full(n, base)

        margin = margins(len(y), None if start is None else start[1])
        # Cox: the rows in order of time, sorted once for every round
        risk_sets = RiskSets.of(y) if p.objective == "survival:cox" else None
        trees = PartyTrees(me=0)
        history: list[float] = []  # per round
        metric = p.eval_metric or EVAL_METRICS[p.objective][0]
        sign = -1.0 if metric in MAXIMIZE else 1.0  # early stopping minimises sign * metric
        if metric == "auc" and self.eval_set is not None and np.unique(self.eval_set[1]).size < 2:
            raise ConfigError("eval_metric auc needs both classes among the validation labels")
        best_iter, best_loss = -1, math.inf  # the best round (of sign * metric)
        best_margin = None  # early stopping: the training margins at the best round
        val_margin = None
        if self.eval_set is not None:
            val_margin = margins(len(self.eval_set[1]), None if start is None else start[2])
        t = 0  # trees grown
        seconds: list[float] = []
        w = self.gh_weight
        if w is not None and per_round > 1:
            w = w[:, None]
        with ctx.progress("SecureBoost trees", total=p.max_trees, unit="tree") as bar:
            for rnd in range(p.n_estimators):
                ctx.check_cancelled()
                clock = time.perf_counter()  # a round's first tree counts its gradients
                g_all, h_all = grad_hess(p.objective, y, margin, p.loss_params, risk_sets)
                if p.objective in ADAPTIVE:  # the leaves are set from the residuals
                    self._residual = y - margin
                if w is not None:
                    g_all, h_all = g_all * w, h_all * w
                for k in range(per_round):
                    if per_round > 1:  # the class's column: its tree adds to its margin
                        g, h = np.ascontiguousarray(g_all[:, k]), np.ascontiguousarray(h_all[:, k])
                        margin[:, k] += self.grow_tree(t, g, h, trees)
                    else:
                        margin += self.grow_tree(t, g_all, h_all, trees)
                    seconds.append(time.perf_counter() - clock)
                    t += 1
                    bar.update()
                    if val_margin is not None:
                        with ctx.step(f"tree {t - 1}: validation"):
                            scores = self._validation_scores(t - 1, trees)
                        if per_round > 1:
                            val_margin[:, k] += scores
                        else:
                            val_margin += scores
                    clock = time.perf_counter()  # the round's next tree
                if self.eval_set is not None and val_margin is not None:
                    value = eval_loss(
                        p.objective, self.eval_set[1], val_margin, metric, p.loss_params
                    )
                    history.append(value)
                    bar.set_postfix(**{f"val_{metric}": f"{value:.5f}"})
                    if sign * value < best_loss:
                        best_iter, best_loss = rnd, sign * value
                        if p.early_stopping_rounds:
                            best_margin = margin.copy()
                    elif p.early_stopping_rounds and rnd - best_iter >= p.early_stopping_rounds:
                        break
        stopped_early = val_margin is not None and p.early_stopping_rounds
        kept = (best_iter + 1) * per_round if stopped_early else t
        trees.truncate(kept)
        totals: dict[str, list[float]] = {}
        for per_tree in self.tree_importance[:kept]:
            for name, values in per_tree.items():
                totals[name] = [
                    a + b for a, b in zip(totals.get(name, [0, 0, 0]), values, strict=True)
                ]
        for host in self.hosts:
            ctx.send(host, f"sbt/{t}/begin", {"op": "stop", "trees": kept})
        self.exchange.finish(kept)
        return GuestResult(
            trees,
            base,
            self.features,
            self.host_features,
            {name: int(v[0]) for name, v in totals.items()},
            {name: v[1] for name, v in totals.items()},
            {name: v[2] for name, v in totals.items()},
            history,
            kept // per_round - 1,  # the last round kept
            seconds,
            best_margin if stopped_early and best_margin is not None else margin,
        )

    def _validation_scores(self, t: int, trees: PartyTrees) -> np.ndarray:
        """Tree ``t``'s contribution on the validation rows (joint prediction)."""
        assert self.eval_set is not None
        Xv = self.eval_set[0]
        mine = trees.leaf_masks(Xv, range(t, t + 1))
        widths = [mine[0].shape[1]]
        theirs = [
            _unpack_masks(self.ctx.recv(host, f"sbt/{t}/val-masks"), Xv.shape[0], widths, host)
            for host in self.hosts
        ]
        (leaf,) = combine_masks(mine, theirs)
        return np.asarray(trees.values[t][trees.layouts[t].leaves()][leaf])


# --------------------------------------------------------------------------- host


class Host:
    """A feature holder's role in training (SecureBoost's passive party)."""

    def __init__(
        self,
        ctx: Context,
        X: np.ndarray,
        guest: str,
        me: int,
        params: BoostParams,
        exchange: HostExchange,
        X_eval: np.ndarray | None = None,
        binner: BinMapper | None = None,
        *,
        bins: np.ndarray | None = None,
        categories: np.ndarray | None = None,
    ) -> None:
        """``bins``: ``binner.transform(X)``, where the caller has it already.
        ``categories``: per feature, its number of categories (0: numeric)."""
        self.ctx, self.guest, self.me, self.p = ctx, guest, me, params
        self.X = np.asfortranarray(X)  # a split reads one column at a node's rows
        self.exchange = exchange
        self.X_eval = X_eval
        self.binner = binner or BinMapper.fit(X, params.max_bin, categories)
        self.categorical = (
            np.zeros(X.shape[1], dtype=bool) if categories is None else categories > 0
        )
        self.bins = self.binner.transform(X) if bins is None else bins
        self.hidden = exchange.hides_instance_space  # he-hidden: this host learns no node

    def fit(self) -> PartyTrees:
        ctx, p = self.ctx, self.p
        n = self.X.shape[0]
        trees = PartyTrees(me=self.me)
        with ctx.progress("SecureBoost trees", total=p.max_trees, unit="tree") as bar:
            for t in range(p.max_trees + 1):
                msg = ctx.recv(self.guest, f"sbt/{t}/begin")
                if not isinstance(msg, dict) or msg.get("op") not in ("tree", "stop"):
                    raise ProtocolError("the guest sent a malformed tree start")
                if msg["op"] == "stop":
                    kept = msg.get("trees")
                    if not isinstance(kept, int) or not 0 <= kept <= len(trees.layouts):
                        raise ProtocolError(
                            f"the guest kept {kept!r} of {len(trees.layouts)} trees"
                        )
                    trees.truncate(kept)
                    self.exchange.finish()
                    return trees
                if t == p.max_trees:
                    raise ProtocolError("the guest went past n_estimators")
                if msg.get("guest_only") or t < p.guest_only_trees:
                    if not (msg.get("guest_only") and t < p.guest_only_trees):
                        raise ProtocolError(f"the guest grew tree {t} against guest_only_rounds")
                    trees.layouts.append(self._guest_only_shape(t))
                    trees.splits.append(LocalSplits())
                    trees.values.append(np.zeros(0))
                    self._send_validation_masks(trees, t)
                    bar.update()
                    continue
                k = t - p.guest_only_trees  # the exchange's tree
                rows = np.arange(n)
                if msg.get("sampled"):
                    packed = ctx.recv(self.guest, f"sbt/{t}/rows")
                    if not isinstance(packed, np.ndarray) or packed.shape != ((n + 7) // 8,):
                        raise ProtocolError("the guest sent a malformed row sample")
                    rows = np.flatnonzero(np.unpackbits(packed, count=n))
                f_count = self.bins.shape[1]
                self.exchange.use_features(
                    k, _features(msg.get("features"), f_count), _features(msg.get("next"), f_count)
                )
                with ctx.step(f"tree {t}: {self.exchange.arrives}"):
                    self.exchange.begin_tree(k, _take_rows(self.bins, rows), rows=rows)
                grow = self._grow_blind if self.hidden else self._grow
                layout, splits = grow(t, rows, k)
                trees.layouts.append(layout)
                trees.splits.append(splits)
                trees.values.append(np.zeros(0))
                self.exchange.end_tree(k)
                self._send_validation_masks(trees, t)
                bar.update()
        raise ProtocolError("the guest never ended training")  # pragma: no cover

    def _send_validation_masks(self, trees: PartyTrees, t: int) -> None:
        """Tree ``t``'s leaves each validation row can reach by this host's splits."""
        if self.X_eval is not None:
            masks = trees.leaf_masks(self.X_eval, range(t, t + 1))
            self.ctx.send(self.guest, f"sbt/{t}/val-masks", _pack_masks(masks))

    def _guest_only_shape(self, t: int) -> TreeLayout:
        """A tree grown by the guest alone: its shape, every split another party's."""
        left = self.ctx.recv(self.guest, f"sbt/{t}/shape")
        if not isinstance(left, np.ndarray) or left.dtype != np.int32 or left.ndim != 1:
            raise ProtocolError("the guest sent a malformed tree shape")
        layout = TreeLayout()
        for v, child in enumerate(left.tolist()):  # breadth-first: splits in node order
            if child < 0:
                continue
            if v >= layout.n_nodes or layout.split(v, -2)[0] != child:
                raise ProtocolError("the guest sent a malformed tree shape")
        if layout.n_nodes != left.size:
            raise ProtocolError("the guest sent a malformed tree shape")
        return layout

    def _grow(self, t: int, rows: np.ndarray, k: int) -> tuple[TreeLayout, LocalSplits]:
        """Follow the guest through one tree: sums per depth, route the rows of own splits.
        ``k``: the exchange's number of the tree."""
        ctx = self.ctx
        n = self.X.shape[0]
        layout, splits = TreeLayout(), LocalSplits()
        node_of = np.zeros(n, dtype=np.int16)
        frontier = [0]
        routed = True  # whether this host routed every row of the last depth itself
        # the tree ends, at both sides alike, at max_depth or when no node splits
        for depth in range(self.p.max_depth):
            if not frontier:
                break
            with ctx.step(f"tree {t} depth {depth}: histograms"):
                if depth and not routed:  # another host split a node: the guest tells
                    node_of = ctx.recv(self.guest, f"sbt/{t}/{depth}/nodes")
                    if (
                        not isinstance(node_of, np.ndarray)
                        or node_of.shape != (n,)
                        or node_of.dtype != np.int16
                        or node_of.min(initial=0) < 0
                        or node_of.max(initial=0) >= layout.n_nodes
                    ):
                        raise ProtocolError("the guest sent a malformed instance space")
                node_rows = node_of[rows] if rows.size < n else node_of
                counts = kernels.node_counts(node_rows, layout.n_nodes)
                every = None if rows.size < n else counts  # the rows of node_of in each node
                compute = _nodes_to_sum(frontier, counts)
                slot = _slots(node_rows, compute, layout.n_nodes)
                self.exchange.histograms(k, depth, slot, len(compute))
            with ctx.step(f"tree {t} depth {depth}: splits"):
                decided, routes = _decisions(ctx.recv(self.guest, f"sbt/{t}/{depth}/split"))
                mine, theirs = [], []  # own splits; the guest's
                routed = True
                for v, own, f, b, dl, by_guest, right in decided:
                    thr, cats = self._take_split(layout, splits, v, own, f, b, dl, right)
                    if own:
                        mine.append((v, f, thr, bool(dl), cats))
                    elif by_guest:
                        theirs.append(v)
                    else:
                        routed = False
                new_node_of = node_of.copy()
                # this host's splits and the guest's, in one pass over the rows
                left = _route(
                    node_of,
                    new_node_of,
                    layout,
                    [m[0] for m in mine],
                    X=self.X,
                    rules=[m[1:] for m in mine],
                    read=(theirs, routes, self.guest) if theirs else None,
                    counts=every,
                )
                if mine:
                    ctx.send(self.guest, f"sbt/{t}/{depth}/left", np.packbits(left))
                if routed:  # the next depth's nodes, as the guest routes them
                    node_of = new_node_of
                # the next frontier, in the guest's order: the children of each split, in turn
                frontier = [c for v, *_ in decided for c in (layout.left[v], layout.right[v])]
        return layout, splits

    def _take_split(
        self,
        layout: TreeLayout,
        splits: LocalSplits,
        v: int,
        own: Any,
        f: int,
        b: int,
        dl: Any,
        right: Any = None,
    ) -> tuple[float, tuple[int, ...] | None]:
        """Record the guest's decision for node ``v`` (checked); this host's threshold for
        its own (feature ``f``, bin ``b``) split, which it keeps (NaN for another's), and
        for a categorical feature the codes that go right (``right``: their bins)."""
        if not 0 <= v < layout.n_nodes or layout.left[v] >= 0:
            raise ProtocolError(f"the guest split unknown node {v}")
        layout.split(v, self.me if own else -2)
        if not own:
            return math.nan, None
        if not 0 <= f < self.binner.n_features:
            raise ProtocolError(f"the guest chose an unknown split ({f}, {b})")
        if self.categorical[f]:
            n_cats = len(self.binner.cuts[f]) + 1
            if (
                not isinstance(right, list)
                or not right
                or any(not isinstance(c, int) or not 0 <= c < n_cats for c in right)
            ):
                raise ProtocolError(f"the guest chose an unknown split of categorical feature {f}")
            cats = tuple(sorted(set(right)))
            splits.add(v, f, math.nan, bool(dl), cats)
            return math.nan, cats
        if right is not None or not 0 <= b < self.binner.max_bin:
            raise ProtocolError(f"the guest chose an unknown split ({f}, {b})")
        thr = self.binner.threshold(f, b)
        splits.add(v, f, thr, bool(dl))
        return thr, None

    def _grow_blind(self, t: int, rows: np.ndarray, k: int) -> tuple[TreeLayout, LocalSplits]:
        """:meth:`_grow` knowing no instance space (``he-hidden``): the exchange sums
        every row, and this host answers its splits with the side of every row."""
        ctx = self.ctx
        layout, splits = TreeLayout(), LocalSplits()
        frontier = [0]
        for depth in range(self.p.max_depth):
            if not frontier:
                break
            with ctx.step(f"tree {t} depth {depth}: histograms"):
                # the nodes summed, from the tree's shape: the root, then one child a pair
                n_sums = 1 if depth == 0 else len(frontier) // 2
                self.exchange.histograms(k, depth, np.zeros(0, dtype=np.int32), n_sums)
            with ctx.step(f"tree {t} depth {depth}: splits"):
                decided, _ = _decisions(ctx.recv(self.guest, f"sbt/{t}/{depth}/split"))
                sides = []
                for v, own, f, b, dl, _by_guest, right in decided:
                    thr, cats = self._take_split(layout, splits, v, own, f, b, dl, right)
                    if own:
                        sides.append(goes_left(self.X[:, f], thr, bool(dl), cats))
                if sides:
                    ctx.send(
                        self.guest, f"sbt/{t}/{depth}/left", np.packbits(np.concatenate(sides))
                    )
                frontier = [c for v, *_ in decided for c in (layout.left[v], layout.right[v])]
        return layout, splits


# --------------------------------------------------------------------------- prediction


def predict_guest(
    ctx: Context,
    trees: PartyTrees,
    base: float | np.ndarray,
    X: np.ndarray,
    hosts: list[str],
    key: str = "sbt-predict",
) -> np.ndarray:
    """The guest's side of joint prediction: margins of every row (only the guest learns them).

    ``base``: one margin, or one per class (``multi:softprob``: tree ``t`` adds to class
    ``t mod K``; the margins are ``(rows, K)``)."""
    return margins_of_leaves(trees, base, guest_leaves(ctx, trees, X, hosts, key), X.shape[0])


def margins_of_leaves(
    trees: PartyTrees, base: float | np.ndarray, leaves: list[np.ndarray], n: int
) -> np.ndarray:
    """The margins of ``n`` rows that reach ``leaves`` (per tree, each row's index among
    ``layout.leaves()``): ``base`` plus their leaves' values (:func:`predict_guest`)."""
    start = np.asarray(base, dtype=np.float64)
    margin = np.tile(start, (n, 1)) if start.ndim else np.full(n, float(start))
    classes = start.size if start.ndim else 0
    for t, leaf in enumerate(leaves):
        scores = trees.values[t][trees.layouts[t].leaves()][leaf]
        if classes:
            margin[:, t % classes] += scores
        else:
            margin += scores
    return margin


def guest_leaves(
    ctx: Context, trees: PartyTrees, X: np.ndarray, hosts: list[str], key: str
) -> list[np.ndarray]:
    """Per tree, the leaf each row reaches (its index among ``layout.leaves()``): the
    guest's leaf masks intersected with the hosts' (:func:`predict_host`)."""
    widths = [int(lay.leaves().size) for lay in trees.layouts]
    mine = trees.leaf_masks(X)
    theirs = [_unpack_masks(ctx.recv(hh, f"{key}/masks"), X.shape[0], widths, hh) for hh in hosts]
    return combine_masks(mine, theirs)


def leaf_nodes(trees: PartyTrees, leaves: list[np.ndarray], rows: int) -> np.ndarray:
    """Each row's leaf in every tree as its node id, ``(rows, trees)`` (XGBoost's
    ``pred_leaf``: the ids of ``trees_to_dataframe``'s ``Node``, which are XGBoost's), from
    :func:`guest_leaves`."""
    out = np.zeros((rows, len(leaves)), dtype=np.int32)
    for t, leaf in enumerate(leaves):
        out[:, t] = trees.layouts[t].leaves()[leaf]
    return out


def predict_host(
    ctx: Context, trees: PartyTrees, X: np.ndarray, guest: str, key: str = "sbt-predict"
) -> None:
    """A host's side: walk its own splits and send the guest its leaf masks."""
    ctx.send(guest, f"{key}/masks", _pack_masks(trees.leaf_masks(X)))


def guest_split_sides(
    ctx: Context, trees: PartyTrees, X: np.ndarray, hosts: list[str], key: str
) -> list[np.ndarray]:
    """For exact contributions: per tree, the side each row takes at every inner node,
    ``(n, nodes)`` (True: left; leaves False), the guest's own splits decided here and
    each host's sent by it (:func:`send_split_sides`)."""
    n = X.shape[0]
    owners = [np.asarray(lay.owner) for lay in trees.layouts]
    out = [np.zeros((n, lay.n_nodes), dtype=bool) for lay in trees.layouts]
    for t, sides in enumerate(trees.split_sides(X)):
        out[t][:, np.flatnonzero(owners[t] == trees.me)] = sides
    for i, host in enumerate(hosts, start=1):
        widths = [int(np.sum(o == i)) for o in owners]
        theirs = _unpack_masks(ctx.recv(host, f"{key}/sides"), n, widths, host)
        for t, sides in enumerate(theirs):
            out[t][:, np.flatnonzero(owners[t] == i)] = sides
    return out


def send_split_sides(ctx: Context, trees: PartyTrees, X: np.ndarray, guest: str, key: str) -> None:
    """A host's side of exact contributions, which it must allow: the side each row
    takes at each of its splits, also off the row's path (a bit per row and split)."""
    ctx.send(guest, f"{key}/sides", _pack_masks(trees.split_sides(X)))
