"""Vertical ("hetero") logistic regression: the scikit-learn style API, roles, prediction, models.

A guest holds the label and some features; one or more hosts hold other features
of the same people, rows aligned by PSI. Every party runs the same call with its
own data and its Context::

    model = VerticalLR(mode="ss-dealer", epochs=50).fit(ctx, my_frame, label="default")
    scores = model.predict_proba(ctx, new_frame)     # at the guest; None elsewhere
    model.save("model-dir")                          # each party saves its own part

A dealer (``ss-dealer`` mode) calls ``VerticalLR(mode="ss-dealer").fit(ctx, None)``.

Roles are found in a handshake: the party with a label is the guest, a party
without data is the dealer, the others are hosts; the data parties must agree
on every hyper-parameter. Then every data party checks that its rows line up
with the others' (:func:`unseen.ml.data.check_alignment`) and the job runs the
chosen mode:

- ``ss-dealer`` (:mod:`unseen.ml.lr_ss`): secret sharing with a semi-honest dealer;
  any number of hosts.
- ``he`` (:mod:`unseen.ml.lr_he`): Paillier, two parties, no third party.

Both follow the algorithm of :mod:`unseen.ml.lr_common` (Taylor sigmoid, local
optimisers, L1/L2, schedules, early stopping), after FATE's hetero LR (Hardy
et al. 2017, "Private federated learning on vertically partitioned data via
entity resolution and additively homomorphic encryption"; Yang et al. 2019),
and keep each party's weights at that party. :func:`security_statement` says,
per mode, who must not collude and what each party learns; every job prints it.

Joint prediction (:meth:`VerticalLR.predict_proba`): each party computes its
part ``z_p = X_p w_p`` of the score; the parts are secret-shared (additive, over
Z_2^64) and only their sum is opened, to the guest or a named party, which
applies the exact sigmoid. With one host the guest can subtract its own part,
so it learns the host's part of each score -- inherent to two-party scoring, as
in FATE; with several hosts it learns only their sum. The other parties learn
nothing (shares only). No dealer is needed.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from unseen.crypto.sharing import Mpc
from unseen.ml.data import PartyData, check_alignment, party_data_from_table
from unseen.ml.lr_common import (
    JobRoles,
    LRParams,
    Standardizer,
    TrainResult,
    differences,
    row_order,
    row_order_seed,
    sigmoid,
)
from unseen.ml.model_io import load_model_part, register_predictor, save_model_part
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, InputError, ProtocolError

MODEL_TYPE = "vertical-lr"
PROTOCOL = "unseen/vertical-lr/1"
SCORE_BITS = 16

Announce = Callable[[str], None]
EpochCallback = Callable[[int, float | None], None]


# -- security statements --------------------------------------------------------------------
def security_statement(mode: str, roles: JobRoles | None = None, key_bits: int = 2048) -> str:
    """What the job protects and what each party learns, as printed at the start of a job."""
    text = _statement(mode, roles)
    if mode == "he" and key_bits < 2048:
        text += f"\n  WARNING: {key_bits}-bit TEST keys (allowed in tests only): NOT SECURE."
    return text


def _statement(mode: str, roles: JobRoles | None) -> str:
    guest = roles.guest if roles else "the guest"
    hosts = ", ".join(roles.hosts) if roles else "the hosts"
    if mode == "ss-dealer":
        dealer = roles.dealer if roles else "the dealer"
        return "\n".join(
            [
                "Security statement -- vertical LR, mode ss-dealer "
                "(additive secret sharing over Z_2^64, SecureML-style masked products)",
                f"  threat model: semi-honest parties; the dealer {dealer!r} must not collude "
                "with any data party, and no two data parties may collude.",
                f"  guest {guest!r} learns: its own gradient per batch, the Taylor loss per "
                "epoch, its weights and the intercept.",
                f"  hosts ({hosts}) learn: their own gradient per batch, their own weights, "
                "when training stops.",
                f"  the dealer {dealer!r} learns: nothing but the sizes of its requests.",
                "  public: row count, features per party, batch sizes, epochs run.",
                "  note: own gradients are revealed (as in FATE); the first batch's gradient "
                "gives each host X_h^T y over that batch.",
            ]
        )
    if mode == "he":
        return "\n".join(
            [
                "Security statement -- vertical LR, mode he "
                "(Paillier, each party its own key of 2048 bits or more, no third party)",
                f"  threat model: semi-honest guest {guest!r} and host {hosts}; two parties only.",
                f"  guest {guest!r} learns: its own gradient per batch, the Taylor loss per "
                "epoch, its weights and the intercept.",
                f"  host {hosts} learns: its own gradient per batch, its own weights, when "
                "training stops.",
                "  on the wire: Paillier ciphertexts of random masks (never of data); what a "
                "party decrypts is masked statistically (2^-40); residual parts travel masked, "
                "uniform in Z_2^64.",
                "  public: row count, features per party, batch sizes, epochs run.",
                "  note: own gradients are revealed (as in FATE); the first batch's gradient "
                "gives the host X_h^T y over that batch.",
            ]
        )
    raise ConfigError(f"unknown mode {mode!r}")


def prediction_statement(learner: str, n_data_parties: int) -> str:
    if n_data_parties == 2:
        extra = f"{learner!r} can subtract its own part, so it learns the other party's part"
    else:
        extra = f"{learner!r} learns only the scores (and, if a data party, the others' sum)"
    return (
        "Security statement -- joint prediction (additive secret sharing, no third party): "
        f"only {learner!r} learns the scores; {extra}; the other parties learn nothing."
    )


# -- inputs -----------------------------------------------------------------------------------
def as_party_data(
    data: Any,
    *,
    label: str | None = None,
    id_columns: Sequence[str] = (),
    exclude: Sequence[str] = (),
    features: Sequence[str] | None = None,
    file: str = "<dataframe>",
) -> PartyData | None:
    """``None`` (the dealer), a :class:`PartyData`, or a pandas DataFrame / Arrow table."""
    if data is None or isinstance(data, PartyData):
        if isinstance(data, PartyData) and label is not None and data.y is None:
            raise InputError(
                f"label {label!r} was asked for but this PartyData has none", file=data.file
            )
        return data
    if isinstance(data, pa.Table):
        table = data
    else:
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (TypeError, AttributeError, pa.ArrowException) as e:
            raise TypeError(f"expected a DataFrame, an Arrow table or PartyData: {e}") from None
    return party_data_from_table(
        table, file=file, label=label, id_columns=id_columns, exclude=exclude, features=features
    )


# -- the handshake -----------------------------------------------------------------------------
def handshake(
    ctx: Context, data: PartyData | None, params: LRParams
) -> tuple[JobRoles, dict[str, Any]]:
    """Tell every party what I have; derive the roles (the same at every party); check params.

    Returns the roles and the guest's job values (row-order seed, model id).
    """
    with ctx.step("handshake"):
        mine: dict[str, Any] = {
            "protocol": PROTOCOL,
            "data": data is not None,
            "label": data is not None and data.y is not None,
            "rows": data.n if data is not None else 0,
            "features": len(data.features) if data is not None else 0,
            "params": params.to_json() if data is not None else {"mode": params.mode},
        }
        if data is not None and data.y is not None:
            mine["seed"] = row_order_seed(params.random_state).hex()
            mine["model_id"] = secrets.token_hex(8)
        for p in ctx.peers:
            ctx.send(p, "lr/hello", mine)
        told = {ctx.party: mine}
        for p in ctx.peers:
            msg = ctx.recv(p, "lr/hello")
            if not isinstance(msg, dict) or msg.get("protocol") != PROTOCOL:
                raise ProtocolError(f"{p!r} does not speak {PROTOCOL} (is it running `unseen lr`?)")
            told[p] = msg
        return _roles(ctx, told, params)


def _roles(
    ctx: Context, told: dict[str, dict[str, Any]], params: LRParams
) -> tuple[JobRoles, dict[str, Any]]:
    order = list(ctx.parties)
    modes = {p: m["params"].get("mode") for p, m in told.items()}
    if len(set(modes.values())) != 1:
        listing = ", ".join(f"{p}: {modes[p]}" for p in order)
        raise ConfigError(f"the parties chose different modes ({listing})")
    guests = [p for p in order if told[p]["label"]]
    data_parties = [p for p in order if told[p]["data"]]
    dealers = [p for p in order if not told[p]["data"]]
    if not guests:
        raise ConfigError("no party has a label: the guest (label holder) passes --label")
    if len(guests) > 1:
        raise ConfigError(f"parties {guests} all have a label; exactly one party is the guest")
    guest = guests[0]
    hosts = tuple(p for p in data_parties if p != guest)
    if not hosts:
        raise ConfigError("no host: at least one other party must bring features (--input)")
    if params.mode == "ss-dealer" and len(dealers) != 1:
        raise ConfigError(
            "ss-dealer mode needs exactly one dealer (a party that runs `unseen lr` with no "
            f"--input); found {len(dealers)}: {dealers}"
        )
    if params.mode == "he" and dealers:
        raise ConfigError(f"he mode has no third party, but {dealers} brought no --input")
    if params.mode == "he" and len(hosts) != 1:
        raise ConfigError(f"he mode runs between two parties; this job has {len(hosts)} hosts")
    ref = told[guest]["params"]
    for p in hosts:
        diff = differences(ref, told[p]["params"])
        if diff:
            detail = ", ".join(
                f"{k} ({ref.get(k)!r} vs {told[p]['params'].get(k)!r})" for k in diff
            )
            raise ConfigError(f"hyper-parameters differ between {guest!r} and {p!r}: {detail}")
    roles = JobRoles(
        guest=guest,
        hosts=hosts,
        dealer=dealers[0] if dealers else None,
        rows=int(told[guest]["rows"]),
        features={p: int(told[p]["features"]) for p in data_parties},
    )
    return roles, {"seed": told[guest]["seed"], "model_id": told[guest]["model_id"]}


# -- the estimator ------------------------------------------------------------------------------
class VerticalLR:
    """One party's view of a vertical logistic regression (scikit-learn style).

    Fitted attributes: ``coef_`` (this party's weights on its standardised
    features), ``intercept_`` (the guest; ``None`` elsewhere), ``feature_names_in_``,
    ``history_`` (epoch losses, at the guest), ``roles_``, ``party_``, ``role_``.
    """

    def __init__(self, mode: str = "ss-dealer", **hyper: Any) -> None:
        self.params = LRParams(mode=mode, **hyper)
        self.coef_: np.ndarray | None = None
        self.intercept_: float | None = None
        self.feature_names_in_: list[str] = []
        self.history_: list[float] = []
        self.roles_: JobRoles | None = None
        self.party_: str | None = None
        self.role_: str | None = None
        self.label_: str | None = None
        self.model_id_: str | None = None
        self.scaler_: Standardizer | None = None
        # my training columns in bands (metrics.column_bands), by feature: the reference of
        # their stability (CSI) in later data
        self.feature_bands_: dict[str, dict[str, Any]] = {}
        self.result_: TrainResult | None = None
        self.statement_: str = ""

    # -- training ------------------------------------------------------------------------------
    def fit(
        self,
        ctx: Context,
        data: Any = None,
        label: str | None = None,
        *,
        id_columns: Sequence[str] = (),
        exclude: Sequence[str] = (),
        announce: Announce | None = None,
        on_epoch: EpochCallback | None = None,
        copy: bool = True,
    ) -> VerticalLR:
        """Train with the other parties; ``data`` is this party's aligned rows (None: dealer).

        ``copy=False`` lets training reuse a :class:`PartyData`'s matrix as its working
        memory, overwriting it (saves one copy of the data; the CLI uses it).
        """
        announce = announce or (lambda text: ctx.log.info("%s", text))
        with ctx.step("load data"):
            mine = as_party_data(data, label=label, id_columns=id_columns, exclude=exclude)
        roles, job = handshake(ctx, mine, self.params)
        self.roles_, self.party_, self.model_id_ = roles, ctx.party, job["model_id"]
        self.statement_ = security_statement(self.params.mode, roles, self.params.key_bits)
        announce(self.statement_)
        if mine is None:
            self.role_ = "dealer"
            from unseen.ml import lr_ss

            with ctx.step("deal randomness"):
                lr_ss.train_dealer(ctx, roles)
            return self
        self.role_ = "guest" if ctx.party == roles.guest else "host"
        self.label_ = label if self.role_ == "guest" else None
        check_alignment(ctx, mine, roles.data_parties)
        self.feature_names_in_ = list(mine.features)
        # my columns in bands, the reference of their stability in later data (mine alone)
        from unseen.ml.metrics import feature_bands

        self.feature_bands_ = feature_bands(mine.X, self.feature_names_in_)
        self.scaler_ = Standardizer.fit(mine.X, self.params.standardize)
        seed = bytes.fromhex(job["seed"]) if self.params.shuffle else None
        order = row_order(mine.n, seed)
        if copy and data is mine:  # the caller's matrix: work on a copy
            x = mine.X[order]
        else:  # ours (converted from a frame), or the caller allowed it: in place
            x = mine.X
            if self.params.shuffle:
                x[:] = x[order]
        x -= self.scaler_.mean
        x /= self.scaler_.std
        y = mine.y[order] if mine.y is not None else None
        with ctx.step(f"train ({self.params.mode})"):
            result = self._train(ctx, x, y, roles, on_epoch)
        self.result_ = result
        self.coef_ = result.weights
        self.intercept_ = result.intercept
        self.history_ = list(result.history)
        return self

    def _train(
        self,
        ctx: Context,
        x: np.ndarray,
        y: np.ndarray | None,
        roles: JobRoles,
        on_epoch: EpochCallback | None,
    ) -> TrainResult:
        if self.params.mode == "ss-dealer":
            from unseen.ml import lr_ss

            return lr_ss.train_data_party(ctx, x, y, roles, self.params, on_epoch)
        from unseen.ml import lr_he

        return lr_he.train_data_party(ctx, x, y, roles, self.params, on_epoch)

    # -- prediction ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.coef_ is None or self.scaler_ is None or self.roles_ is None:
            raise ConfigError("this party's model is not fitted (or it is the dealer's)")

    def partial_decision(self, x: np.ndarray) -> np.ndarray:
        """This party's part of the linear score, ``z_p = X_p w_p`` (+ intercept at the guest)."""
        self._check_fitted()
        assert self.scaler_ is not None and self.coef_ is not None
        if x.shape[1] != len(self.coef_):
            raise InputError(f"{x.shape[1]} feature columns, the model has {len(self.coef_)}")
        z = self.scaler_.transform(x) @ self.coef_
        if self.intercept_ is not None:
            z = z + self.intercept_
        return np.asarray(z)

    def decision_function(
        self, ctx: Context, data: Any, *, to: str | None = None, namespace: str = "lr-predict"
    ) -> np.ndarray | None:
        """The joint linear scores ``z``, opened to ``to`` (default: the guest) only."""
        self._check_fitted()
        assert self.roles_ is not None
        mine = as_party_data(data, features=self.feature_names_in_)
        assert mine is not None
        learner = to or self.roles_.guest
        parties = self.roles_.data_parties
        if learner not in parties:
            raise ConfigError(f"{learner!r} is not a data party of this model ({list(parties)})")
        with ctx.step("check model and rows"):
            for p in parties:
                if p != ctx.party:
                    ctx.send(p, f"{namespace}/model-id", self.model_id_)
            for p in parties:
                if p != ctx.party and ctx.recv(p, f"{namespace}/model-id") != self.model_id_:
                    raise ConfigError(
                        f"{p!r} holds a part of a different model (train all parts in one job)"
                    )
            check_alignment(ctx, mine, parties, namespace=f"{namespace}/align")
        with ctx.step("joint prediction"):
            z = self.partial_decision(mine.X)
            mpc = Mpc(ctx, None, parties=parties, namespace=namespace)
            total = None
            for owner in parties:
                part = _encode_scores(z) if owner == ctx.party else None
                shared = mpc.share(part, owner)
                total = shared if total is None else total + shared
            assert total is not None
            opened = mpc.reveal(total, to=learner)
        if opened is None:
            return None
        return opened.view(np.int64).astype(np.float64) / float(2**SCORE_BITS)

    def predict_proba(
        self, ctx: Context, data: Any, *, to: str | None = None, namespace: str = "lr-predict"
    ) -> np.ndarray | None:
        """Scores ``P(y = 1)`` (exact sigmoid) at ``to`` (default: the guest); None elsewhere."""
        z = self.decision_function(ctx, data, to=to, namespace=namespace)
        return None if z is None else sigmoid(z)

    # -- model files ---------------------------------------------------------------------------
    def coefficients(self) -> list[dict[str, Any]]:
        """Scorecard view of this party's part: weights on the raw and standardised scales.

        The last row is this party's constant on the raw scale (``(intercept)`` at the
        guest, ``(offset)`` elsewhere): the score is the sum, over the parties, of
        their constants and ``weight * value`` over their features.
        """
        self._check_fitted()
        assert self.scaler_ is not None and self.coef_ is not None
        mean, std = self.scaler_.mean, self.scaler_.std
        raw = self.coef_ / std
        rows: list[dict[str, Any]] = [
            {
                "feature": name,
                "weight": float(raw[j]),
                "weight_standardized": float(self.coef_[j]),
                "mean": float(mean[j]),
                "std": float(std[j]),
            }
            for j, name in enumerate(self.feature_names_in_)
        ]
        const = -float(raw @ mean) + (self.intercept_ or 0.0)
        name = "(intercept)" if self.role_ == "guest" else "(offset)"
        rows.append(
            {
                "feature": name,
                "weight": const,
                "weight_standardized": self.intercept_ or 0.0,
                "mean": "",
                "std": "",
            }
        )
        return rows

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write this party's part (``model.json``, ``arrays.npz``, ``coefficients.csv``)."""
        self._check_fitted()
        assert self.roles_ is not None and self.scaler_ is not None and self.coef_ is not None
        meta = {
            "model": MODEL_TYPE,
            "party": self.party_,
            "role": self.role_,
            "mode": self.params.mode,
            "model_id": self.model_id_,
            "guest": self.roles_.guest,
            "hosts": list(self.roles_.hosts),
            "job_parties": list(self.roles_.data_parties),
            "rows": self.roles_.rows,
            "features": self.feature_names_in_,
            "label": self.label_,
            "params": self.params.to_json(),
            "history": self.history_,
            "epochs_run": self.result_.epochs_run if self.result_ else None,
            "setup_seconds": self.result_.setup_seconds if self.result_ else None,
            "epoch_seconds": self.result_.epoch_seconds if self.result_ else None,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if self.feature_bands_:
            meta["feature_bands"] = self.feature_bands_
        arrays = {"weights": self.coef_, "mean": self.scaler_.mean, "std": self.scaler_.std}
        if self.intercept_ is not None:
            arrays["intercept"] = np.array([self.intercept_])
        target = save_model_part(directory, meta, arrays)
        _write_coefficients(target / "coefficients.csv", self.coefficients())

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> VerticalLR:
        if meta.get("model") != MODEL_TYPE:
            raise InputError(f"not a vertical LR model: {meta.get('model')!r}")
        model = cls(**meta["params"])
        model.party_ = meta["party"]
        model.role_ = meta["role"]
        model.model_id_ = meta["model_id"]
        model.label_ = meta.get("label")
        model.feature_names_in_ = list(meta["features"])
        model.feature_bands_ = dict(meta.get("feature_bands") or {})
        model.history_ = list(meta.get("history") or [])
        model.roles_ = JobRoles(
            guest=meta["guest"],
            hosts=tuple(meta["hosts"]),
            dealer=None,
            rows=int(meta.get("rows") or 0),
            features={},
        )
        model.coef_ = np.asarray(arrays["weights"], dtype=np.float64)
        model.scaler_ = Standardizer(np.asarray(arrays["mean"]), np.asarray(arrays["std"]))
        if "intercept" in arrays:
            model.intercept_ = float(arrays["intercept"][0])
        return model

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> VerticalLR:
        meta, arrays = load_model_part(directory)
        return cls.from_parts(meta, arrays)


def _encode_scores(z: np.ndarray) -> np.ndarray:
    if z.size and float(np.max(np.abs(z))) >= 2.0**40:
        raise ConfigError("scores too large to encode: is the model diverged?")
    return np.rint(z * float(2**SCORE_BITS)).astype(np.int64).view(np.uint64)


def _write_coefficients(path: os.PathLike[str] | str, rows: list[dict[str, Any]]) -> None:
    import csv

    names = ["feature", "weight", "weight_standardized", "mean", "std"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        for row in rows:
            w.writerow(row)


@register_predictor(MODEL_TYPE)
def predict_part(
    ctx: Context,
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
    data: PartyData,
    *,
    to: str | None = None,
) -> np.ndarray | None:
    """One party's side of joint prediction with a saved model part (``unseen predict``)."""
    model = VerticalLR.from_parts(meta, arrays)
    learner = to or meta["guest"]
    ctx.log.info("%s", prediction_statement(learner, len(meta["job_parties"])))
    return model.predict_proba(ctx, data, to=to)


__all__ = [
    "LRParams",
    "VerticalLR",
    "as_party_data",
    "handshake",
    "predict_part",
    "prediction_statement",
    "security_statement",
]
