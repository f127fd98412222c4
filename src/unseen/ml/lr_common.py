"""What every implementation of vertical logistic regression shares: the algorithm.

The plaintext reference (:mod:`unseen.ml.lr_plain`), the secret-shared mode
(:mod:`unseen.ml.lr_ss`) and the Paillier mode (:mod:`unseen.ml.lr_he`) run
exactly this algorithm, so their results agree up to fixed-point rounding and
the tests can compare them number by number.

The algorithm (as in FATE's hetero LR, Hardy et al. 2017, with weights kept by
the party that owns the features):

- every party standardises its own columns (mean 0, variance 1 on the training
  rows; kept in the model so prediction applies the same transform);
- rows are put in one order shared by every party (a permutation drawn from a
  seed the guest picks, or derives from ``random_state``) and cut into fixed
  batches of ``batch_size`` rows, the rows after the last full batch joining it
  (one batch of every row by default);
- for each batch ``B``: ``z = sum_p X_p w_p + b`` (the intercept ``b`` lives at
  the guest), the sigmoid through its first-order Taylor expansion around 0,
  ``sigma(z) ~ 0.25 z + 0.5``, the residual ``d = 0.25 z + 0.5 - y``, and each
  party's gradient ``g_p = X_p^T d / |B| + l2 * w_p`` (no penalty on ``b``);
- each party updates its own weights with a local optimiser (plain SGD,
  Nesterov momentum or Adam), then applies the L1 penalty as a proximal step
  (soft thresholding by ``lr * l1``);
- the learning rate follows a schedule per epoch: constant,
  ``lr / (1 + decay * epoch)`` or ``lr / sqrt(1 + decay * epoch)``;
- the loss is the Taylor loss ``mean(log 2 - 0.5 y' z + 0.125 z^2)`` with
  ``y' = 2y - 1`` (the quantity the approximation minimises), summed over the
  batches of an epoch with the weights each batch saw; training stops early
  once it changes by less than ``tol`` from one epoch to the next.

Why the Taylor sigmoid: the residual is then linear in ``z``, so it splits
into one part per party and no secure non-linear function is evaluated.
Minimising the Taylor loss is ridge regression on ``y`` up to scale, and its
ranking of rows (hence AUC and KS) is what the tests compare with
scikit-learn's exact logistic regression. Scores at prediction use the exact
sigmoid on the jointly computed ``z``.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from unseen.crypto.prg import AesCtrPrg
from unseen.crypto.triples import INSECURE_ENV
from unseen.runtime.errors import ConfigError

MODES = ("ss-dealer", "he")
OPTIMIZERS = ("sgd", "nesterov", "adam")
SCHEDULES = ("constant", "inverse", "inverse-sqrt")
LOG2 = math.log(2.0)


@dataclass(frozen=True)
class LRParams:
    """Hyper-parameters; every data party of a job must use the same ones."""

    mode: str = "ss-dealer"
    epochs: int = 50
    learning_rate: float = 0.3
    schedule: str = "constant"
    decay: float = 0.0
    optimizer: str = "nesterov"
    momentum: float = 0.9
    batch_size: int = 0  # 0: one batch of every row
    l2: float = 0.0
    l1: float = 0.0
    fit_intercept: bool = True
    tol: float = 1e-6  # stop once the epoch loss changes by less (0: never)
    standardize: bool = True
    shuffle: bool = True
    random_state: int | None = None  # the row order: drawn fresh per job if None
    key_bits: int = 2048  # he mode: Paillier modulus

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}: {', '.join(SCHEDULES)}")
        if self.epochs < 1:
            raise ConfigError("epochs must be at least 1")
        if not self.learning_rate > 0:
            raise ConfigError("the learning rate must be positive")
        if self.batch_size < 0:
            raise ConfigError("batch size must be positive (0: full batch)")
        for name in ("l2", "l1", "tol", "decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if not 0 <= self.momentum < 1:
            raise ConfigError("momentum must lie in [0, 1)")
        if self.mode == "he" and self.key_bits < 2048 and not small_keys_allowed():
            raise ConfigError("Paillier keys must have at least 2048 bits")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LRParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (0-based) under the schedule."""
        if self.schedule == "inverse":
            return self.learning_rate / (1.0 + self.decay * epoch)
        if self.schedule == "inverse-sqrt":
            return self.learning_rate / math.sqrt(1.0 + self.decay * epoch)
        return self.learning_rate


def small_keys_allowed() -> bool:
    """Paillier keys below 2048 bits: only in tests (results do not depend on the key size)."""
    return "PYTEST_CURRENT_TEST" in os.environ or os.environ.get(INSECURE_ENV) == "1"


def differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Names of the hyper-parameters on which two parties disagree."""
    return sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))


# -- rows, batches, standardisation ---------------------------------------------------
def row_order_seed(random_state: int | None) -> bytes:
    """The guest's row-order seed: fresh from ``secrets``, or derived from ``random_state``
    (a job run again with the same ``random_state`` and data takes the same batches)."""
    if random_state is None:
        return secrets.token_bytes(16)
    return hashlib.sha256(f"unseen-lr-rows/{random_state}".encode()).digest()[:16]


def row_order(n: int, seed: bytes | None) -> np.ndarray:
    """The shared row order: a permutation from ``seed`` (``None``: the input order)."""
    if seed is None:
        return np.arange(n, dtype=np.int64)
    return AesCtrPrg(seed).permutation(n)


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each batch over the ordered rows (one batch if ``batch_size`` is 0).

    Rows left over after the last full batch join it (so every batch has from
    ``batch_size`` to ``2 * batch_size - 1`` rows): a short tail batch would reveal its
    gradient over a few rows, which :func:`unseen.ml.lr_ss.check_batch_size` refuses for
    every batch, and would take a full step on a noisy estimate.
    """
    size = n if batch_size <= 0 or batch_size >= n else batch_size
    starts = list(range(0, n - size + 1, size)) if n else [0]
    return [(s, starts[i + 1] if i + 1 < len(starts) else n) for i, s in enumerate(starts)]


@dataclass
class Standardizer:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, enabled: bool = True) -> Standardizer:
        d = x.shape[1]
        if not enabled or x.shape[0] == 0:
            return cls(np.zeros(d), np.ones(d))
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.asarray((x - self.mean) / self.std)


# -- the local optimiser ----------------------------------------------------------------
class LocalOptimizer:
    """One party's weights and their update rule; the gradient comes from the protocol.

    ``penalized``: which coordinates the L2/L1 penalties apply to (not the intercept).
    Call :meth:`weights_for_batch` for the weights a batch uses (Nesterov's look-ahead),
    then :meth:`step` with the data gradient ``X^T d / |B|`` at those weights.
    """

    def __init__(self, dim: int, params: LRParams, penalized: np.ndarray | None = None) -> None:
        self.p = params
        self.w = np.zeros(dim)
        self.v = np.zeros(dim)  # momentum, or Adam's first moment
        self.s = np.zeros(dim)  # Adam's second moment
        self.t = 0
        self.penalized = np.ones(dim, dtype=bool) if penalized is None else penalized

    def weights_for_batch(self) -> np.ndarray:
        if self.p.optimizer == "nesterov":
            return self.w + self.p.momentum * self.v
        return self.w

    def step(self, data_grad: np.ndarray, lr: float) -> None:
        p = self.p
        at = self.weights_for_batch()
        g = data_grad + p.l2 * np.where(self.penalized, at, 0.0)
        self.t += 1
        if p.optimizer == "sgd":
            self.w = self.w - lr * g
        elif p.optimizer == "nesterov":
            self.v = p.momentum * self.v - lr * g
            self.w = self.w + self.v
        else:  # adam (Kingma & Ba 2015), default betas
            b1, b2 = 0.9, 0.999
            self.v = b1 * self.v + (1 - b1) * g
            self.s = b2 * self.s + (1 - b2) * g * g
            m_hat = self.v / (1 - b1**self.t)
            s_hat = self.s / (1 - b2**self.t)
            self.w = self.w - lr * m_hat / (np.sqrt(s_hat) + 1e-8)
        if p.l1 > 0:
            shrunk = np.sign(self.w) * np.maximum(np.abs(self.w) - lr * p.l1, 0.0)
            self.w = np.where(self.penalized, shrunk, self.w)


def iterate_epochs(params: LRParams) -> Iterator[tuple[int, float]]:
    """``(epoch, learning rate)`` for every epoch the job may run."""
    for e in range(params.epochs):
        yield e, params.lr_at(e)


def converged(history: list[float], tol: float) -> bool:
    """Early stopping: the last epoch's loss moved by less than ``tol``."""
    return tol > 0 and len(history) >= 2 and abs(history[-2] - history[-1]) < tol


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The exact logistic function (used for scores at prediction)."""
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def taylor_loss_sum(z: np.ndarray, y: np.ndarray) -> float:
    """``sum(log 2 - 0.5 y' z + 0.125 z^2)``: the Taylor loss of a batch, in plaintext."""
    return float(np.sum(LOG2 - 0.5 * (2 * y - 1) * z + 0.125 * z * z))


def loss_from_parts(n: int, sum_d: float, y_dot_d: float, sum_s: float) -> float:
    """The Taylor loss sum of a batch from quantities the protocols compute.

    With ``d = 0.25 z + 0.5 - y`` and ``S_p = z_p . d`` (party ``p``'s part of
    ``z`` dotted with the residual; ``sum_s = sum_p S_p = z . d``)::

        sum(log 2 - 0.5 y' z + 0.125 z^2) = n (log 2 - 0.5) + sum(d) - 2 y.d + 0.5 z.d

    (expand ``y.d = 0.25 y.z - 0.5 sum(y)``, ``sum(d) = 0.25 sum(z) + 0.5 n - sum(y)``
    and ``z.d = 0.25 z.z + 0.5 sum(z) - y.z``). Each party knows its ``S_p`` from its
    own gradient (``S_p = w_p . X_p^T d``), so the loss needs no extra secure product.
    """
    return n * (LOG2 - 0.5) + sum_d - 2.0 * y_dot_d + 0.5 * sum_s


# -- who is who, and what a party ends up with ------------------------------------------
@dataclass(frozen=True)
class JobRoles:
    """Roles found in the handshake; every party derives the same ones."""

    guest: str
    hosts: tuple[str, ...]
    dealer: str | None
    rows: int
    features: dict[str, int]  # data party -> number of feature columns

    @property
    def data_parties(self) -> tuple[str, ...]:
        """The parties with data, guest first (the computing parties' order)."""
        return (self.guest, *self.hosts)


@dataclass
class TrainResult:
    """One party's outcome of training: its own weights (on standardised features)."""

    weights: np.ndarray
    intercept: float | None  # at the guest (None elsewhere)
    history: list[float]  # epoch losses, at the guest (empty elsewhere)
    epochs_run: int
    epoch_seconds: list[float] = field(default_factory=list)
    setup_seconds: float = 0.0
