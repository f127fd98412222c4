"""Vertical SecureBoost: gradient-boosted trees over features held by several parties.

Reference: K. Cheng, T. Fan, Y. Jin, Y. Liu, T. Chen, D. Papadopoulos,
Q. Yang, "SecureBoost: A lossless federated learning framework", IEEE
Intelligent Systems 36(6), 2021 (arXiv:1901.08755). The tree arithmetic is
XGBoost's (T. Chen, C. Guestrin, KDD 2016), so a model matches XGBoost's
``hist`` method on the joined data with the same bins.

Parties (found in a handshake, see :func:`train`):

- the **guest** holds the label and some features (``y`` given), or the label alone
  (``X`` with no column, or ``None``: every feature is a host's);
- one or more **hosts** hold other features of the same, aligned rows;
- in ``ss-dealer`` mode, a **dealer** holds no data and deals correlated
  randomness.

Python API, in the scikit-learn style; every party runs the same call with
its own :class:`~unseen.runtime.context.Context` and its own columns::

    model = SecureBoostClassifier(n_estimators=10, max_depth=5, mode="ss-dealer")
    model.fit(ctx, X_mine, y)          # guest; hosts: fit(ctx, X_mine); dealer: fit(ctx)
    p = model.predict_proba(ctx, X_new_mine)   # the guest gets (n, classes); hosts None
    # a guest with the label alone: fit(ctx, None, y), predict_proba(ctx, np.empty((n, 0)))
    model.save("model-dir")            # this party's part only

Modes and what each party learns (semi-honest parties; printed with every job
by :func:`security_statement`, and in ``docs/secureboost.md``):

- every mode but ``he-hidden``: each host learns the **instance space** of every node (which
  rows reach it; hence how the guest's and other hosts' splits partition the
  rows) and the tree shapes. The guest learns, for every node, the per-bin
  sums of ``g`` and ``h`` over each host feature's bins, and which host
  (feature index, bin) split a node -- never the host's threshold, which stays
  at the host. Hosts share their feature names. With ``colsample_bytree`` a
  host also learns which of its own features each tree may use. In joint
  prediction the guest learns, for each row and each host split, which way the
  row goes (the host's leaf masks); the hosts learn nothing. Exact SHAP
  contributions, which a host must allow, show the guest the side each row takes
  at every split of that host's, also off the row's path. With
  ``guest_only_rounds=N`` the first ``N`` rounds' trees split on the guest's
  features alone and the hosts learn only their shapes (SecureBoost's
  reduced-leakage variant, section 6 of the paper).
- ``he`` (:mod:`unseen.ml.sbt_he`): Paillier, no third party. Hosts see only
  ciphertexts of ``g``, ``h``.
- ``ss-dealer`` (:mod:`unseen.ml.sbt_shuffle`): secret sharing with a dealer
  that must not collude with any party. Hosts see only uniform shares. The
  guest also learns how many rows of each node fall in each bin (SecureBoost
  reveals those counts in its first tree as well).
- ``ss-dealer-matrix`` (:mod:`unseen.ml.sbt_matrix`): the same dealer; each
  host's masked bin-indicator matrix times the shared gradients with matrix
  triples. The guest learns the per-bin sums only (not the counts); slower.
- ``he-hidden`` (:mod:`unseen.ml.sbt_he_hidden`): ``he`` with the instance
  spaces hidden from the hosts (each row's gradients encrypted in its node's
  slot, every depth); a host answers its splits with every row's side, so the
  guest learns that side for every training row (joint prediction of those rows
  shows it only where the host's own splits leave the split on the row's path).
- ``plain``: gradients in the clear; development only.

Not offered: hiding the instance spaces from the guest too (Pivot's full
protocol), and protection against malicious parties.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unseen.ml.data import PartyData, check_alignment, encode_categories, load_party_data
from unseen.ml.model_io import load_model_part, register_predictor, save_model_part
from unseen.ml.objectives import CLASSIFICATION, INTERVAL, LOG_LINK, OBJECTIVES
from unseen.ml.sbt_binning import BinMapper, bin_mask
from unseen.ml.sbt_contribs import leaf_contributions, tree_shap, tree_shap_interactions
from unseen.ml.sbt_kernels import FeatureThreads
from unseen.ml.sbt_protocol import (
    DEALER_MODES,
    MODES,
    BoostParams,
    Guest,
    GuestExchange,
    Host,
    HostExchange,
    NodeRecords,
    PartyTrees,
    PlainGuestExchange,
    PlainHostExchange,
    Roles,
    RowSampler,
    guest_leaves,
    guest_split_sides,
    handshake,
    leaf_nodes,
    margins_of_leaves,
    named_features,
    predict_guest,
    predict_host,
    send_split_sides,
    tree_rows,
)
from unseen.ml.sbt_tree import EVAL_METRICS, MAXIMIZE, LocalSplits, TreeLayout, transform
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, InputError, ProtocolError

if TYPE_CHECKING:
    import pandas as pd

MODEL_TYPE = "secureboost"

_THREAT = "Threat model: semi-honest parties (each follows the protocol, may try to learn more).\n"
_SPACES = (
    "Each host learns the instance space of every node (which rows reach it); mode he-hidden\n"
    "hides them from the hosts.\n"
)
_COMMON = (
    "Every mode: hosts learn the tree shapes; the guest learns each host feature's per-bin\n"
    "sums of gradients and hessians at every node, and which host (feature, bin) was chosen --\n"
    "never a host's threshold, which stays at the host. Hosts share their feature names (and,\n"
    "with colsample_bytree, learn which of their own features each tree may use). In\n"
    "prediction the guest learns each host's leaf mask per row: which way the row goes at\n"
    "every host split that the host's own splits leave on its path; hosts learn nothing\n"
    "(continued training first does that on the training rows); with exact contributions\n"
    "(--exact-contribs, which a host must pass too) the side every scored row takes at every\n"
    "split of that host's, also off the row's path. With --guest-only-rounds N\n"
    "the first N rounds' trees are grown on the guest's features alone: of those the hosts\n"
    "learn the shape only (SecureBoost's reduced-leakage variant). Categorical features: the\n"
    "guest learns which host features are categorical and how many categories each has (its\n"
    "bin count), and for a host's categorical split which of its bins go right -- never the\n"
    "categories themselves, which stay at their party. Cross-validation (--cv K): the hosts\n"
    "learn each row's fold (drawn at random by the guest; with --stratified, that every fold\n"
    "holds the same share of each class); each fold's training leaks as one training does,\n"
    "and only the guest learns the validation metrics."
)

STATEMENTS = {
    "ss-dealer": (
        "SecureBoost, mode ss-dealer: gradients are secret-shared; the hosts' bin sums come from\n"
        "permutation correlations dealt by a semi-honest dealer, which must not collude with\n"
        "the guest or any host (the trust FATE places in its arbiter). The dealer sees only\n"
        "public sizes; hosts see only uniform shares. The guest additionally learns how many\n"
        "rows of each node fall in each host bin (classic SecureBoost reveals these counts in\n"
        "its first tree).\n"
    ),
    "ss-dealer-matrix": (
        "SecureBoost, mode ss-dealer-matrix: gradients are secret-shared; each host's bin sums are\n"
        "products of its bin-indicator matrix (masked once, uniform to the guest) with the\n"
        "shared gradients, using matrix triples from a semi-honest dealer, which must not\n"
        "collude with the guest or any host. The dealer sees only public sizes; hosts see only\n"
        "uniform values. The guest learns the per-bin sums and nothing else of the hosts' bins.\n"
    ),
    "he": (
        "SecureBoost, mode he: Paillier (DCR assumption) or, with --he-scheme ou, Okamoto-\n"
        "Uchiyama (p-subgroup assumption), 2048-bit keys, no third party. Hosts see only\n"
        "ciphertexts of the gradients and hessians; bin sums are re-randomised before they\n"
        "return to the guest, the only key holder.\n"
    ),
    "he-hidden": (
        "SecureBoost, mode he-hidden: he (Paillier or OU, no third party) with the instance\n"
        "spaces hidden from the hosts: every depth the guest encrypts every row's gradients in\n"
        "its node's slot, so a host sums ciphertexts without learning which rows reach a node,\n"
        "a node's size or the tree's row sample; it answers its own splits with the side of\n"
        "every row, so the guest also learns, for each host split chosen, which side every\n"
        "training row falls on (joint prediction shows it only where the host's own splits\n"
        "leave the split on the row's path). With --random-state the row samples follow\n"
        "from it: hosts are not told it, but one who guesses it knows them.\n"
    ),
    "plain": (
        "SecureBoost, mode plain: INSECURE -- the guest sends gradients and hessians in the\n"
        "clear, from which hosts can infer labels. For development only.\n"
    ),
}


def security_statement(mode: str) -> str:
    """What each party learns in ``mode`` (printed with every job)."""
    if mode not in STATEMENTS:
        raise ConfigError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    spaces = "" if mode == "he-hidden" else _SPACES
    return STATEMENTS[mode] + _THREAT + spaces + _COMMON


# --------------------------------------------------------------------------- models


@dataclass
class PartyModel:
    """One party's part of a SecureBoost model (what :meth:`save` writes)."""

    party: str
    role: str  # guest or host
    roles: Roles
    mode: str
    params: BoostParams
    features: list[str]
    trees: PartyTrees
    base_margin: float | np.ndarray = 0.0  # multi:softprob: one per class
    host_features: dict[str, list[str]] = field(default_factory=dict)
    importance_split: dict[str, int] = field(default_factory=dict)
    importance_gain: dict[str, float] = field(default_factory=dict)  # total per feature
    importance_cover: dict[str, float] | None = None  # total; None: a model saved before
    history: list[float] = field(default_factory=list)
    model_id: str = ""
    label: str | None = None
    label_upper: str | None = None  # survival:aft: the column of the intervals' upper bounds
    tree_seconds: list[float] = field(default_factory=list)  # guest: wall time of each tree
    # guest, when trained by SecureBoostClassifier: the labels of classes 0, 1, ...
    classes: list[Any] | None = None
    # guest: the monotone constraints it trained with, by feature name (a host's "host:f")
    monotone_constraints: dict[str, int] = field(default_factory=dict)
    interaction_constraints: list[list[str]] = field(default_factory=list)
    # this party's categorical features: name -> its categories, in code order
    categories: dict[str, list[str]] = field(default_factory=dict)
    # the value this party's numeric cells take for missing, besides NaN (XGBoost's
    # ``missing``); None: NaN only
    missing: float | None = None

    @property
    def n_trees(self) -> int:
        return len(self.trees.layouts)

    def feature_importance(self, kind: str = "total_gain") -> dict[str, float]:
        """Per feature used in a split, at the guest, as XGBoost's ``get_score``:
        ``"weight"`` (splits), ``"total_gain"``, ``"gain"`` (per split), ``"total_cover"``,
        ``"cover"`` (per split; a split's cover is its node's hessian sum)."""
        if self.role != "guest":
            raise ConfigError("feature importance is known at the guest only")
        splits = self.importance_split
        if kind == "weight":
            return {k: float(v) for k, v in splits.items()}
        if kind in ("gain", "total_gain"):
            totals = self.importance_gain
        elif kind in ("cover", "total_cover"):
            if self.importance_cover is None:
                raise ConfigError("this model was saved without cover; train it again")
            totals = self.importance_cover
        else:
            raise ConfigError(
                f"importance kind {kind!r}: choose weight, gain, total_gain, cover or total_cover"
            )
        if kind.startswith("total_"):
            return dict(totals)
        return {k: v / splits[k] for k, v in totals.items()}

    def trees_to_dataframe(self) -> pd.DataFrame:
        """Every node of every tree as this party sees it, in the columns of XGBoost's
        ``Booster.trees_to_dataframe``: ``Tree``, ``Node``, ``ID`` (``"tree-node"``),
        ``Feature`` (``"Leaf"`` at leaves), ``Split`` (the threshold: ``x < Split`` goes
        to ``Yes``), ``Yes``, ``No``, ``Missing`` (the child missing values go to),
        ``Category`` where this party has categorical features (at a categorical split
        of its own, the categories that go to ``Yes``; as in XGBoost, ``Yes`` is then the
        right child, which a categorical split's set goes to),
        ``Gain`` (the split's loss reduction; at a leaf, as XGBoost, the leaf's value) and
        ``Cover`` (the node's hessian sum), with ``Party`` (who holds the split), ``Bin``
        (the split's last bin going left) and, for several classes, ``Class``.

        The guest knows every node but a host's thresholds: a host's split shows its
        feature as ``"host:feature"`` and its bin, with ``Split`` empty. A host knows its
        own splits with their thresholds, and of the rest only the shape: no gain,
        cover, leaf value or other party's split.
        """
        import pandas as pd

        guest = self.role == "guest"
        parties = [self.roles.guest, *self.roles.hosts]
        classes = self.params.num_class
        out: list[dict[str, Any]] = []
        for t, (layout, splits) in enumerate(
            zip(self.trees.layouts, self.trees.splits, strict=True)
        ):
            own = {v: i for i, v in enumerate(splits.node)}
            records = self.trees.records[t] if guest else NodeRecords.empty(layout.n_nodes)
            for v in range(layout.n_nodes):
                row: dict[str, Any] = {"Tree": t, "Node": v, "ID": f"{t}-{v}"}
                if classes > 1:
                    row["Class"] = t % classes
                known = guest or v in own
                left, right = layout.left[v], layout.right[v]
                if left < 0:  # a leaf
                    value = self.trees.values[t][v] if guest else np.nan
                    row |= {"Party": "", "Feature": "Leaf", "Split": np.nan, "Bin": pd.NA}
                    row |= {"Category": None}
                    row |= {"Yes": None, "No": None, "Missing": None, "Gain": value}
                else:
                    owner = layout.owner[v]
                    party = parties[owner] if owner >= 0 else ""
                    category = None
                    if v in own:
                        i = own[v]
                        feature, split = self.features[splits.feature[i]], splits.threshold[i]
                        default_left = splits.default_left[i]
                        codes = splits.categories[i]
                        if codes is not None:  # a categorical split: its categories going right
                            names = self.categories.get(feature, [])
                            category = [names[c] if c < len(names) else str(c) for c in codes]
                    else:  # at the guest a host's split; at a host another party's
                        feature = (
                            f"{party}:{self.host_features[party][records.feature[v]]}"
                            if guest and records.feature[v] >= 0
                            else ""
                        )
                        split, default_left = np.nan, bool(records.default_left[v])
                    missing = (left if default_left else right) if known else None
                    # a categorical split, as XGBoost shows it: Yes is where its set goes
                    by_set = category is not None or (
                        guest and records.feature[v] >= 0 and records.bin[v] < 0
                    )
                    yes, no = (right, left) if by_set else (left, right)
                    row |= {
                        "Party": party,
                        "Feature": feature,
                        "Split": split,
                        "Bin": int(records.bin[v]) if records.bin[v] >= 0 else pd.NA,
                        "Yes": f"{t}-{yes}",
                        "No": f"{t}-{no}",
                        "Missing": f"{t}-{missing}" if missing is not None else None,
                        "Gain": records.gain[v],
                        "Category": category,
                    }
                row["Cover"] = records.cover[v]
                out.append(row)
        columns = ["Tree", "Node", "ID", *(["Class"] if classes > 1 else [])]
        columns += ["Party", "Feature", "Split", "Bin", "Yes", "No", "Missing", "Gain", "Cover"]
        if self.categories:  # XGBoost's column for categorical splits: the set going right
            columns.append("Category")
        frame = pd.DataFrame(out, columns=columns)
        frame["Bin"] = frame["Bin"].astype("Int64")
        return frame

    # -- files ------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write this party's part atomically (nothing half-written on failure)."""
        layouts, splits = self.trees.layouts, self.trees.splits
        arrays: dict[str, np.ndarray] = {
            "nodes": np.array([lay.n_nodes for lay in layouts], dtype=np.int64),
            "left": _cat([lay.to_arrays()["left"] for lay in layouts], np.int32),
            "right": _cat([lay.to_arrays()["right"] for lay in layouts], np.int32),
            "owner": _cat([lay.to_arrays()["owner"] for lay in layouts], np.int32),
            "n_splits": np.array([len(s.node) for s in splits], dtype=np.int64),
            "split_node": _cat([np.array(s.node) for s in splits], np.int32),
            "split_feature": _cat([np.array(s.feature) for s in splits], np.int32),
            "split_threshold": _cat([np.array(s.threshold) for s in splits], np.float64),
            "split_default_left": _cat([np.array(s.default_left) for s in splits], np.bool_),
            # a categorical split's codes going right: how many (-1: a numeric split), then all
            "split_n_categories": _cat(
                [np.array([-1 if c is None else len(c) for c in s.categories]) for s in splits],
                np.int32,
            ),
            "split_categories": _cat(
                [np.array([x for c in s.categories if c is not None for x in c]) for s in splits],
                np.int32,
            ),
        }
        if self.role == "guest":
            arrays["value"] = _cat(self.trees.values, np.float64)
            records = self.trees.records
            if len(records) == len(layouts):  # each tree's nodes (gain, cover, ...)
                for name, dtype in NodeRecords.DTYPES.items():
                    arrays[f"node_{name}"] = _cat([getattr(r, name) for r in records], dtype)
        meta: dict[str, Any] = {
            "model": MODEL_TYPE,
            "party": self.party,
            "role": self.role,
            "index": self.trees.me,
            "model_id": self.model_id,
            "parties": {
                "guest": self.roles.guest,
                "hosts": list(self.roles.hosts),
                "dealer": self.roles.dealer,
            },
            # what `unseen predict` reads: who learns scores, who takes part, the label
            "guest": self.roles.guest,
            "job_parties": [self.roles.guest, *self.roles.hosts],
            "label": self.label,
            "label_upper": self.label_upper,
            "missing_values": True,  # trees route missing cells: `unseen predict` accepts them
            "mode": self.mode,
            "objective": self.params.objective,
            "params": self.params.to_json(),
            "features": self.features,
            "n_trees": self.n_trees,
            "categories": self.categories,
            "missing": self.missing,
        }
        if self.role == "guest":
            meta |= {
                "base_margin": (
                    self.base_margin.tolist()
                    if isinstance(self.base_margin, np.ndarray)
                    else self.base_margin
                ),
                "host_features": self.host_features,
                "importance": {
                    "weight": self.importance_split,
                    "gain": self.importance_gain,  # totals
                    **(
                        {"cover": self.importance_cover}
                        if self.importance_cover is not None
                        else {}
                    ),
                },
                "validation_history": self.history,
                "tree_seconds": self.tree_seconds,
                **({"classes": self.classes} if self.classes is not None else {}),
                "monotone_constraints": self.monotone_constraints,
                "interaction_constraints": self.interaction_constraints,
            }
        return save_model_part(directory, meta, arrays)

    @classmethod
    def load(cls, directory: str | Path) -> PartyModel:
        meta, arrays = load_model_part(directory)
        return cls.from_parts(meta, arrays, str(directory))

    @classmethod
    def from_parts(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str = "<model>"
    ) -> PartyModel:
        if meta.get("model") != MODEL_TYPE:
            raise InputError(f"not a SecureBoost model ({meta.get('model')!r})", file=where)
        try:
            parties = meta["parties"]
            roles = Roles(parties["guest"], tuple(parties["hosts"]), parties.get("dealer"))
            trees = PartyTrees(me=int(meta["index"]))
            node_pos = split_pos = cat_pos = 0
            n_cats = arrays.get("split_n_categories", np.full(arrays["split_node"].size, -1))
            cat_codes = arrays.get("split_categories", np.zeros(0, dtype=np.int32))
            for t in range(int(meta["n_trees"])):
                k = int(arrays["nodes"][t])
                sl = slice(node_pos, node_pos + k)
                trees.layouts.append(
                    TreeLayout.from_arrays(
                        arrays["left"][sl], arrays["right"][sl], arrays["owner"][sl]
                    )
                )
                if meta["role"] == "guest":
                    trees.values.append(arrays["value"][sl].copy())
                    trees.records.append(
                        NodeRecords(*(arrays[f"node_{f}"][sl].copy() for f in NodeRecords.DTYPES))
                        if "node_gain" in arrays  # else saved before nodes were recorded
                        else NodeRecords.empty(k)
                    )
                else:
                    trees.values.append(np.zeros(0))
                node_pos += k
                m = int(arrays["n_splits"][t])
                ss = slice(split_pos, split_pos + m)
                cats: list[tuple[int, ...] | None] = []
                for c in n_cats[ss].tolist():
                    cats.append(None if c < 0 else tuple(cat_codes[cat_pos : cat_pos + c].tolist()))
                    cat_pos += max(c, 0)
                trees.splits.append(
                    LocalSplits(
                        arrays["split_node"][ss].tolist(),
                        arrays["split_feature"][ss].tolist(),
                        arrays["split_threshold"][ss].tolist(),
                        arrays["split_default_left"][ss].tolist(),
                        cats,
                    )
                )
                split_pos += m
            imp = meta.get("importance", {})
            return cls(
                party=meta["party"],
                role=meta["role"],
                roles=roles,
                mode=meta["mode"],
                params=BoostParams.from_json(meta["params"]),
                features=list(meta["features"]),
                trees=trees,
                base_margin=_base_margin(meta.get("base_margin", 0.0)),
                host_features={k: list(v) for k, v in meta.get("host_features", {}).items()},
                importance_split=dict(imp.get("weight", {})),
                importance_gain=dict(imp.get("gain", {})),
                importance_cover=dict(imp["cover"]) if "cover" in imp else None,
                history=list(meta.get("validation_history", [])),
                model_id=str(meta.get("model_id", "")),
                label=meta.get("label"),
                label_upper=meta.get("label_upper"),
                classes=list(meta["classes"]) if "classes" in meta else None,
                monotone_constraints={
                    str(k): int(v) for k, v in meta.get("monotone_constraints", {}).items()
                },
                interaction_constraints=[
                    [str(n) for n in g] for g in meta.get("interaction_constraints", [])
                ],
                categories={
                    str(k): [str(c) for c in v] for k, v in meta.get("categories", {}).items()
                },
                missing=as_missing(meta.get("missing")),
            )
        except (KeyError, IndexError, ValueError, TypeError, ProtocolError, ConfigError) as e:
            raise InputError(f"malformed SecureBoost model: {e}", file=where) from None


def _base_margin(saved: Any) -> float | np.ndarray:
    """A saved base margin: a number, or a list of numbers (one per class)."""
    if isinstance(saved, list):
        return np.asarray(saved, dtype=np.float64)
    return float(saved)


def _cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return (
        np.concatenate([np.asarray(p, dtype=dtype).ravel() for p in parts])
        if parts
        else np.zeros(0, dtype=dtype)
    )


# --------------------------------------------------------------------------- input checks


def check_features(
    X: Any, what: str = "X", no_columns: bool = False, names: list[str] | None = None
) -> np.ndarray:
    """A 2-D float64 matrix: finite values, or NaN for missing ones. ``no_columns``: it
    may have rows and no column (a guest with the label alone: every feature a host's).
    ``names``: the columns' names, for errors (else their index from 0)."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"{what} must be numeric: {e}") from None
    if arr.ndim != 2 or arr.shape[0] == 0 or (arr.shape[1] == 0 and not no_columns):
        raise InputError(f"{what} must be a non-empty 2-D matrix, got shape {arr.shape}")
    bad = np.isinf(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        name = names[col] if names is not None and len(names) == arr.shape[1] else str(col)
        raise InputError(f"{what} has an infinite value", row=int(row) + 1, column=name)
    return arr


def _no_columns(y: Any) -> np.ndarray:
    """The feature matrix of a guest with the label ``y`` alone: its rows, no column."""
    return np.zeros((len(y), 0))


def as_missing(value: Any) -> float | None:
    """XGBoost's ``missing``: a finite number read as missing besides NaN; ``None`` or NaN:
    NaN only."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"missing must be a number, not {value!r}") from None
    if math.isnan(v):
        return None
    if math.isinf(v):
        raise ConfigError("missing must be a finite number (NaN is always missing)")
    return v


def mark_missing(
    X: np.ndarray, missing: float | None, features: list[str], categories: Any = ()
) -> np.ndarray:
    """``X`` with the numeric cells equal to ``missing`` made NaN (a copy if any is); the
    columns of ``categories`` hold category codes and are left as they are."""
    if missing is None:
        return X
    numeric = np.array([f not in categories for f in features], dtype=bool)
    hit = (X == missing) & numeric  # by column: codes of categories are no cells
    if not hit.any():
        return X
    out = X.copy()
    out[hit] = np.nan
    return out


def category_counts(
    X: np.ndarray, features: list[str], categories: dict[str, list[str]], file: str
) -> np.ndarray | None:
    """Per feature, its number of categories (0: numeric), ``None`` where none is
    categorical; checks that each categorical column holds codes ``0 .. K-1`` or NaN."""
    if not categories:
        return None
    unknown = sorted(set(categories) - set(features))
    if unknown:
        raise InputError(f"categorical features not among the features: {', '.join(unknown)}")
    counts = np.array([len(categories.get(f, ())) for f in features], dtype=np.int64)
    for j in np.flatnonzero(counts):
        col = X[:, j]
        bad = ~np.isnan(col) & ((col != np.round(col)) | (col < 0) | (col >= counts[j]))
        if bad.any():
            raise InputError(
                f"a categorical feature's codes must be 0 .. {counts[j] - 1}",
                file=file,
                row=int(np.argmax(bad)) + 1,
                column=features[j],
            )
    return counts  # at most max_bin each: _check_category_counts, once the guest's is known


def _recoding(
    model: dict[str, list[str]], features: list[str], data: dict[str, list[str]], file: str
) -> Callable[..., np.ndarray]:
    """For continued training: a function that turns a matrix coded by the data's own
    categories (``data``) into one coded by the model's, which its splits use. With
    ``strict`` (the training rows) every category must be one the model knows (the error
    never shows a category); else one it does not know is -1, as in prediction."""
    maps: dict[int, np.ndarray] = {}
    for j, name in enumerate(features):
        if (name in model) != (name in data):
            where = "in the model to continue" if name in model else "here"
            raise InputError(
                f"categorical {where} only: give --categorical as when the model was trained",
                file=file,
                column=name,
            )
        if name in data:
            index = {c: i for i, c in enumerate(model[name])}
            maps[j] = np.array([index.get(c, -1) for c in data[name]], dtype=np.float64)

    def recode(X: np.ndarray, strict: bool = True) -> np.ndarray:
        X = X.copy()
        for j, codes in maps.items():
            col = X[:, j]
            known = ~np.isnan(col) & (col >= 0) & (col < codes.size)
            col[known] = codes[col[known].astype(np.int64)]
            unknown = ~np.isnan(col) & (col < 0)
            if strict and unknown.any():
                raise InputError(
                    "a category the model to continue was not trained on",
                    file=file,
                    row=int(np.argmax(unknown)) + 1,
                    column=features[j],
                )
        return X

    return recode


def _check_category_counts(
    counts: np.ndarray, features: list[str], max_bin: int, file: str
) -> None:
    """A categorical feature's categories are its bins: at most ``max_bin`` of them."""
    over = np.flatnonzero(counts > max_bin)
    if over.size:
        j = int(over[0])
        raise InputError(
            f"{counts[j]} categories, more than max_bin ({max_bin}) bins: raise --max-bin "
            "or merge rare categories",
            file=file,
            column=features[j],
        )


def check_label(
    y: Any,
    objective: str,
    rows: int,
    what: str = "y",
    num_class: int = 1,
    *,
    file: str | None = None,
    column: str | None = None,
    upper_column: str | None = None,
) -> np.ndarray:
    """The label as float64: 0/1 (binary), a class index in ``[0, num_class)``
    (``multi:softprob``), non-negative (``count:poisson``, ``reg:tweedie``), positive
    (``reg:gamma``), in [0, 1] (``reg:logistic``), above -1 (``reg:squaredlogerror``), a
    time, negative where censored, not 0 (``survival:cox``, with one event or more), an
    interval (``survival:aft``: :func:`check_intervals`) or any
    finite number (``reg:squarederror``); else InputError naming
    the row (and ``file`` and ``column``, where the label came from a file)."""

    def bad(message: str, row: int | None = None) -> InputError:
        return InputError(message, row=row, file=file, column=column)

    if objective in INTERVAL:
        return check_intervals(y, rows, what, file=file, columns=(column, upper_column))

    try:
        arr = np.asarray(y, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers") from None
    if arr.size != rows:
        raise InputError(f"{what} has {arr.size} values for {rows} rows")
    if not np.all(np.isfinite(arr)):
        raise bad(f"{what} has a missing or infinite value", int(np.argmin(np.isfinite(arr))) + 1)
    if objective == "multi:softprob":
        wrong = (arr != np.round(arr)) | (arr < 0) | (arr >= num_class)
        if wrong.any():
            raise bad(
                f"{what} must be a class index 0 .. {num_class - 1} (num_class {num_class})",
                int(np.argmax(wrong)) + 1,
            )
    if objective in ("count:poisson", "reg:tweedie") and arr.min() < 0:
        raise bad(f"{what} must be non-negative for {objective}", int(np.argmin(arr)) + 1)
    if objective == "reg:gamma" and arr.min() <= 0:
        raise bad(f"{what} must be positive for reg:gamma", int(np.argmin(arr)) + 1)
    if objective in LOG_LINK and arr.max() <= 0:
        raise bad(f"{what} is 0 everywhere: {objective} needs a positive mean")
    if objective == "reg:logistic" and (arr.min() < 0 or arr.max() > 1):
        wrong = (arr < 0) | (arr > 1)
        raise bad(f"{what} must lie in [0, 1] for reg:logistic", int(np.argmax(wrong)) + 1)
    if objective == "reg:squaredlogerror" and arr.min() <= -1:
        raise bad(f"{what} must be above -1 for reg:squaredlogerror", int(np.argmin(arr)) + 1)
    if objective == "survival:cox":
        if not np.all(arr != 0):
            raise bad(
                f"{what} must be a survival time for survival:cox: t > 0 where the event "
                "was observed, -t where the row was censored at t (0 is neither)",
                int(np.argmin(arr != 0)) + 1,
            )
        if arr.max() < 0:
            raise bad(f"{what} has no observed event (every time is negative: censored)")
    if objective == "binary:logistic":
        if not np.all((arr == 0) | (arr == 1)):
            raise InputError(f"{what} must be binary (0/1) for binary:logistic")
        if arr.min() == arr.max():
            raise InputError(f"{what} has only one class")
    return arr


def check_intervals(
    y: Any,
    rows: int,
    what: str = "y",
    *,
    file: str | None = None,
    columns: tuple[str | None, str | None] = (None, None),
) -> np.ndarray:
    """``survival:aft``'s label as ``(rows, 2)`` float64: each row's lower and upper bound
    of the time, ``0 <= lower <= upper`` with ``upper > 0`` (``upper`` may be infinite:
    censored on the right; ``lower`` 0: on the left; equal: the event was seen then);
    else InputError naming the row (and ``file`` and the bound's column of ``columns``,
    where the bounds came from a file)."""

    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers") from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(
            f"{what} must hold two columns for survival:aft, each row's lower and upper "
            f"bound of the time (got shape {arr.shape})"
        )
    if arr.shape[0] != rows:
        raise InputError(f"{what} has {arr.shape[0]} rows for {rows} rows")
    lower, upper = arr[:, 0], arr[:, 1]
    checks = (  # (rows in error, the bound's column, what is wrong)
        (~np.isfinite(lower), 0, "a lower bound must be a finite number"),
        (np.isnan(upper) | (upper == -np.inf), 1, "an upper bound must be a number or inf"),
        (lower < 0, 0, "a lower bound must not be negative (0: censored on the left)"),
        (upper < lower, 1, "an upper bound must not be below its lower bound"),
        (upper <= 0, 1, "an upper bound must be positive (the time of the event, or inf)"),
    )
    for wrong, bound, message in checks:
        if wrong.any():  # never echo label values
            row = int(np.argmax(wrong)) + 1
            raise InputError(f"{what}: {message}", row=row, file=file, column=columns[bound])
    return arr


def check_weights(w: Any, rows: int) -> np.ndarray | None:
    """The guest's row weights (``None``: every row weighs 1): finite, non-negative, not all 0."""
    if w is None:
        return None
    try:
        arr = np.asarray(w, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError("sample_weight must be numbers") from None
    if arr.size != rows:
        raise InputError(f"sample_weight has {arr.size} values for {rows} rows")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        row = int(np.argmax(bad)) + 1
        raise InputError("sample_weight must be finite and non-negative", row=row)
    if not arr.sum() > 0:
        raise InputError("sample_weight is 0 for every row")
    return arr


# --------------------------------------------------------------------------- tables


def load_table(
    path: str | Path,
    *,
    label: str | None = None,
    id_columns: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    features: list[str] | None = None,
    objective: str = "binary:logistic",
    weight: str | None = None,
    num_class: int | None = None,
    categorical: dict[str, list[str] | None] | None = None,
    label_upper: str | None = None,
) -> PartyData:
    """Read a party's aligned table (CSV or Parquet); missing feature values become NaN.

    :func:`unseen.ml.data.load_party_data` with SecureBoost's rules: missing values
    are allowed (trees send them to the better side), constant columns are kept,
    and the label is 0/1, a class index below ``num_class`` (``multi:softprob``) or, for
    regression, any number. Errors name the file, row (1 = first data row) and column.
    ``categorical``: columns read as categories (:func:`~unseen.ml.data.encode_categories`),
    each with the categories to code by, or ``None`` to take the column's own.
    ``label_upper`` (``survival:aft``): the column of the intervals' upper bounds,
    ``label`` the lower bounds' (:func:`check_intervals`).
    """
    if label_upper is not None and label is None:
        raise ConfigError("label_upper (--label-upper) is the guest's, with its --label")
    if label is not None and (objective in INTERVAL) != (label_upper is not None):
        raise ConfigError(
            "survival:aft needs both bounds of each row's time: --label (the lower bound) "
            "and --label-upper (the upper bound)"
            if objective in INTERVAL
            else f"label_upper (--label-upper) is for survival:aft, not {objective}"
        )
    data = load_party_data(
        path,
        label=label,
        id_columns=id_columns,
        exclude=exclude,
        features=features,
        allow_constant=True,
        allow_missing=True,
        label_kind={"binary:logistic": "binary", "multi:softprob": "class"}.get(objective, "real"),
        weight=weight,
        categorical=categorical or {},  # a text cell elsewhere: hint at --categorical
        allow_no_features=label is not None,  # the guest may bring the label alone
        label_upper=label_upper,
    )
    if data.y is not None and objective in INTERVAL:
        check_intervals(data.y, data.n, "the label", file=data.file, columns=(label, label_upper))
    if data.n == 0:
        raise InputError("no rows", file=data.file)
    if data.y is not None and num_class is not None and objective == "multi:softprob":
        beyond = data.y >= num_class
        if beyond.any():  # never echo label values
            raise InputError(
                f"the label must be a class index below num_class ({num_class})",
                file=data.file,
                row=int(np.argmax(beyond)) + 1,
                column=label,
            )
    return data


# --------------------------------------------------------------------------- training


def _exchanges(
    ctx: Context,
    roles: Roles,
    mode: str,
    role: str,
    params: BoostParams,
    rows: int,
    masks: dict[str, np.ndarray],
    he_options: dict[str, Any] | None = None,
    bins: np.ndarray | None = None,
    max_weight: float = 1.0,
) -> GuestExchange | HostExchange:
    """This party's histogram exchange for ``mode``.

    ``max_weight``: the largest row weight at the guest (``he`` sizes its slots for it).

    ``masks``: per host (at a host: its own, under its name), which of its
    (feature, bin) cells can hold rows; ``rows``: rows of the training set;
    ``bins``: a host's bins of every training row (``ss-dealer-matrix``).
    """
    host_widths = {h: m.shape[0] for h, m in masks.items()}
    width = params.max_bin + 1
    if mode == "plain":
        if role == "guest":
            return PlainGuestExchange(ctx, list(roles.hosts), width)
        return PlainHostExchange(ctx, roles.guest, width)
    if mode == "ss-dealer-matrix":
        from unseen.ml.sbt_matrix import MatrixGuestExchange, MatrixHostExchange

        assert roles.dealer is not None
        if role == "guest":
            return MatrixGuestExchange(
                ctx, list(roles.hosts), roles.dealer, host_widths, width, rows
            )
        assert bins is not None
        return MatrixHostExchange(ctx, roles.guest, roles.dealer, width, bins)
    if mode == "ss-dealer":
        from unseen.ml.sbt_shuffle import ShuffleGuestExchange, ShuffleHostExchange

        assert roles.dealer is not None
        # the first tree is dealt during set-up unless its features are sampled (colsample:
        # the guest tells the dealer how many with the first tree's start) or the first
        # trees are the guest's alone (training may end before the hosts take part)
        ahead = params.colsample_bytree >= 1 and params.guest_only_rounds == 0
        if role == "guest":
            assert host_widths is not None
            return ShuffleGuestExchange(
                ctx,
                list(roles.hosts),
                roles.dealer,
                host_widths,
                width,
                params.objective,
                rows=tree_rows(rows, params)[0] if ahead else None,
                trees=params.joint_trees,
            )
        size = (tree_rows(rows, params)[0], host_widths[ctx.party])
        return ShuffleHostExchange(
            ctx,
            roles.guest,
            roles.dealer,
            width,
            params.objective,
            size if ahead else None,
            trees=params.joint_trees,
            all_rows=size[0] == rows,
        )
    from unseen.ml.sbt_he import HeGuestExchange, HeHostExchange
    from unseen.ml.sbt_he_hidden import HiddenGuestExchange, HiddenHostExchange

    hidden = mode == "he-hidden"
    if role == "guest":
        per_tree, weight = tree_rows(rows, params)
        options: dict[str, Any] = dict(
            masks=masks,
            rows=per_tree,
            objective=params.objective,
            # the largest factor on a row's g, h
            weight=weight * params.scale_pos_weight * max_weight,
            trees=params.joint_trees,
            **(he_options or {}),
        )
        if hidden:  # every depth's ciphertexts cover every training row
            return HiddenGuestExchange(
                ctx, list(roles.hosts), host_widths, width, n_rows=rows, **options
            )
        return HeGuestExchange(ctx, list(roles.hosts), host_widths, width, **options)
    host_side = HiddenHostExchange if hidden else HeHostExchange
    return host_side(ctx, roles.guest, width, masks[ctx.party], tree_rows(rows, params)[0])


def train(
    ctx: Context,
    *,
    mode: str,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    features: list[str] | None = None,
    params: BoostParams | None = None,
    eval_set: tuple[np.ndarray, np.ndarray | None] | None = None,
    ids: list[str] | None = None,
    file: str = "<input>",
    label: str | None = None,
    expect: dict[str, Any] | None = None,
    he_options: dict[str, Any] | None = None,
    roles: Roles | None = None,
    sample_weight: Any = None,
    init_model: PartyModel | None = None,
    label_upper: str | None = None,
    monotone_constraints: dict[str, int] | None = None,
    interaction_constraints: list[list[str]] | None = None,
    categories: dict[str, list[str]] | None = None,
    missing: float | None = None,
) -> PartyModel | None:
    """Run this party's side of SecureBoost training; its model part (``None`` at the dealer).

    The guest passes ``y`` and ``params``; hosts pass ``X`` only, and
    ``expect`` (hyper-parameters they were given) is checked against the
    guest's; the dealer passes neither. ``eval_set`` is ``(X_val, y_val)`` at
    the guest and ``(X_val, None)`` at hosts, for early stopping. ``ids``: the
    rows' identifiers, to check alignment (never sent). ``label``: the label
    column's name, kept in the guest's model for ``unseen predict`` (``label_upper``:
    the upper bounds' column, for ``survival:aft``, whose ``y`` is ``(n, 2)``: each row's
    lower and upper bound of the time).
    ``sample_weight``: the guest's row weights (its g and h are scaled by them, as
    XGBoost's instance weights); never sent.
    ``init_model``: this party's part of a model to continue (XGBoost's ``xgb_model``):
    every data party gives its part of the same model, and the new trees are added to
    it (``n_estimators`` more rounds), starting from its margins on the rows.
    ``monotone_constraints``: the guest's (XGBoost's, by feature name; a host's feature
    as ``"host:feature"``): +1 rising, -1 falling; never sent.
    ``interaction_constraints``: the guest's (XGBoost's, groups of feature names that may
    interact on a tree's paths); never sent.
    ``categories``: this party's categorical features, by name, with their categories
    in code order (:func:`encode_categories`); ``X`` holds their codes ``0 .. K-1``
    (NaN: missing). The categories never leave the party; the guest learns which of a
    host's features are categorical and, from the bin counts, how many categories each has.
    ``missing``: this party's value for a missing numeric cell besides NaN (XGBoost's
    ``missing``, e.g. -999), kept in its model for prediction; each party has its own.
    ``roles``: the result of an earlier :func:`~unseen.ml.sbt_protocol.handshake`
    (the CLI shakes hands before reading its input, so that a bad input reaches
    peers that are already connected); by default the handshake runs here.
    """
    role = "guest" if y is not None else "dealer" if X is None else "host"
    if X is None and y is not None:  # the guest with the label alone: every feature a host's
        X = _no_columns(y)
        if eval_set is not None and eval_set[0] is None and eval_set[1] is not None:
            eval_set = (_no_columns(eval_set[1]), eval_set[1])
    if mode == "plain":
        ctx.log.warning(
            "SecureBoost plain mode is INSECURE: gradients cross in the clear (development only)"
        )
    if roles is None:
        roles = handshake(ctx, role, mode)
    if role == "dealer":
        if mode not in DEALER_MODES:
            raise ConfigError(f"only {' and '.join(DEALER_MODES)} modes have a dealer")
        if mode == "ss-dealer-matrix":
            from unseen.ml.sbt_matrix import serve_matrix_dealer

            serve_matrix_dealer(ctx, roles.guest, list(roles.hosts))
        else:
            from unseen.ml.sbt_shuffle import serve_shuffle_dealer

            serve_shuffle_dealer(ctx, roles.guest, list(roles.hosts))
        return None
    if hasattr(X, "columns"):  # a DataFrame: its column names, its categorical columns
        X, features, categories = frame_matrix(X, features, categories)
    if eval_set is not None and hasattr(eval_set[0], "columns"):
        X_val = frame_matrix(eval_set[0], features, categories)[0]
        eval_set = (X_val, eval_set[1])
    X = check_features(X, no_columns=role == "guest", names=features)
    features = list(features) if features is not None else [f"x{i}" for i in range(X.shape[1])]
    if len(features) != X.shape[1]:
        raise InputError(f"{len(features)} feature names for {X.shape[1]} columns", file=file)
    if init_model is not None and (categories or init_model.categories):
        # continued training: the codes the model's splits were grown on
        recode = _recoding(init_model.categories, features, categories or {}, file)
        X = recode(X)
        if eval_set is not None:
            X_val = check_features(eval_set[0], "the validation features", role == "guest")
            eval_set = (recode(X_val, strict=False), eval_set[1])  # unseen ones stay -1
        categories = {f: init_model.categories[f] for f in categories or {}}
    missing = as_missing(missing)
    if init_model is not None:
        if missing is None:
            missing = init_model.missing
        elif missing != init_model.missing:
            raise ConfigError(
                f"the model to continue read {init_model.missing} as missing, not {missing}"
            )
    X = mark_missing(X, missing, features, categories or {})
    counts = category_counts(X, features, categories or {}, file)
    data_parties = [roles.guest, *roles.hosts]
    check_alignment(ctx, PartyData(X=X, features=features, ids=ids, file=file), data_parties)
    X_eval = (
        mark_missing(
            check_features(eval_set[0], "the validation features", role == "guest"),
            missing,
            features,
            categories or {},
        )
        if eval_set is not None
        else None
    )
    if role == "guest":
        model = _train_guest(
            ctx,
            roles,
            mode,
            X,
            y,
            features,
            params or BoostParams(),
            eval_set,
            X_eval,
            file,
            he_options,
            sample_weight,
            init_model,
            label,
            monotone_constraints,
            interaction_constraints,
            counts,
            label_upper,
        )
        model.label, model.label_upper = label, label_upper
    else:
        model = _train_host(ctx, roles, mode, X, features, expect, X_eval, file, init_model, counts)
    model.categories, model.missing = dict(categories or {}), missing
    return model


def cross_validate(
    ctx: Context,
    *,
    mode: str,
    nfold: int | None = None,
    folds: Any = None,
    stratified: bool = False,
    X: Any = None,
    y: Any = None,
    features: list[str] | None = None,
    params: BoostParams | None = None,
    ids: list[str] | None = None,
    file: str = "<input>",
    label: str | None = None,
    expect: dict[str, Any] | None = None,
    he_options: dict[str, Any] | None = None,
    roles: Roles | None = None,
    sample_weight: Any = None,
    label_upper: str | None = None,
    monotone_constraints: dict[str, int] | None = None,
    interaction_constraints: list[list[str]] | None = None,
    categories: dict[str, list[str]] | None = None,
    missing: float | None = None,
) -> pd.DataFrame | None:
    """K-fold cross-validation, XGBoost's ``xgb.cv``: the guest's table of the validation
    metric per round (``test-<metric>-mean`` and ``-std`` over the folds, indexed by the
    rounds done, from 1); ``None`` at hosts and the dealer.

    Every party runs it as :func:`train` (the same arguments; ``nfold`` at every party,
    checked against the guest's). The guest splits the rows into ``nfold`` folds (a
    random permutation cut in near-equal parts, seeded by ``random_state``; or its own
    ``folds``: a fold number per row; ``stratified``: each class dealt round the folds
    in a secret random order, as ``xgb.cv(stratified=True)``'s folds keep the classes'
    shares) and tells the hosts each row's fold; then, fold by
    fold, the parties train on the other folds' rows, validating on the fold's rows, as
    :func:`train` does with an ``eval_set``, every round. With ``early_stopping_rounds``
    the table ends, as ``xgb.cv``'s, at the round of the best mean metric that the next
    ``early_stopping_rounds`` rounds did not better (each fold still trains every round:
    the folds run one after the other, not side by side). The hosts learn the folds, which
    say nothing of the labels (stratified ones, drawn here or given, tell them that every
    fold holds the same share of each class), and what each fold's training tells them
    (:func:`security_statement`). Each fold's history is in the table's
    ``attrs["folds"]``, each row's fold in ``attrs["fold_of"]``. ``stratified`` is the
    guest's: a host's is not used.
    """
    import pandas as pd

    role = "guest" if y is not None else "dealer" if X is None else "host"
    if X is None and y is not None:  # the guest with the label alone: every feature a host's
        X = _no_columns(y)
    if roles is None:
        roles = handshake(ctx, role, mode, "cv")  # K is the guest's: checked below
    if role == "dealer":
        with ctx.step("cross-validation: folds"):
            told = ctx.recv(roles.guest, "sbt-cv/folds")
        k = _check_nfold(told, nfold)
        for fold in range(k):
            with ctx.scope(f"sbt-cv/{fold}/"):
                train(ctx, mode=mode, roles=roles)
        return None
    if hasattr(X, "columns"):
        X, features, categories = frame_matrix(X, features, categories)
    X = check_features(X, no_columns=role == "guest", names=features)
    features = list(features) if features is not None else [f"x{i}" for i in range(X.shape[1])]
    n = X.shape[0]
    check_alignment(
        ctx, PartyData(X=X, features=features, ids=ids, file=file), [roles.guest, *roles.hosts]
    )
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    stop_after = None  # early stopping: on the folds' mean, as xgb.cv's
    if expect is not None:  # a host: the folds train every round, whatever it was given
        expect = {key: v for key, v in expect.items() if key != "early_stopping_rounds"}
    if role == "guest":
        params = params or BoostParams()
        stop_after = params.early_stopping_rounds
        params = replace(params, early_stopping_rounds=None)
        if stratified and params.objective not in CLASSIFICATION:
            raise ConfigError(f"stratified folds need classes; {params.objective} has none")
        labels = np.asarray(y) if stratified else None
        fold_of = _folds(n, nfold, folds, params.random_state, labels)
        k = int(fold_of.max()) + 1
        with ctx.step("cross-validation: folds"):
            for host in roles.hosts:
                ctx.send(host, "sbt-cv/folds", {"nfold": k})
                ctx.send(host, "sbt-cv/fold-of", fold_of)
            if roles.dealer is not None and mode in DEALER_MODES:
                ctx.send(roles.dealer, "sbt-cv/folds", {"nfold": k})
    else:
        with ctx.step("cross-validation: folds"):
            k = _check_nfold(ctx.recv(roles.guest, "sbt-cv/folds"), nfold)
            fold_of = ctx.recv(roles.guest, "sbt-cv/fold-of")
            if (
                not isinstance(fold_of, np.ndarray)
                or fold_of.shape != (n,)
                or fold_of.dtype != np.int16
                or fold_of.min(initial=0) < 0
                or fold_of.max(initial=0) >= k
            ):
                raise ProtocolError("the guest sent malformed folds")
    histories: list[list[float]] = []
    metric = ""
    for fold in range(k):
        rows, held = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        guest = role == "guest"
        with ctx.scope(f"sbt-cv/{fold}/"), ctx.step(f"cross-validation: fold {fold + 1} of {k}"):
            model = train(
                ctx,
                mode=mode,
                X=X[rows],
                y=np.asarray(y)[rows] if guest else None,
                features=features,
                params=params if guest else None,
                expect=expect,
                eval_set=(X[held], np.asarray(y)[held] if guest else None),
                file=file,
                label=label,
                label_upper=label_upper,
                he_options=he_options,
                roles=roles,
                sample_weight=None if weights is None else weights[rows],
                monotone_constraints=monotone_constraints if guest else None,
                interaction_constraints=interaction_constraints if guest else None,
                categories=categories,
                missing=missing,
            )
        if guest and model is not None:
            histories.append(list(model.history))
            metric = model.params.eval_metric or EVAL_METRICS[model.params.objective][0]
    if role != "guest":
        return None
    table = np.array(histories)  # (folds, rounds)
    if stop_after:  # the rounds xgb.cv keeps: up to the best mean, N rounds without gain after
        sign = -1.0 if metric in MAXIMIZE else 1.0
        means, best = table.mean(axis=0), 0
        for r in range(means.size):
            if sign * means[r] < sign * means[best]:
                best = r
            elif r - best >= stop_after:
                break
        table = table[:, : best + 1]
    frame = pd.DataFrame(
        {f"test-{metric}-mean": table.mean(axis=0), f"test-{metric}-std": table.std(axis=0)}
    )
    frame.index = pd.RangeIndex(1, table.shape[1] + 1, name="rounds")  # boosting rounds done
    frame.attrs["folds"] = histories
    frame.attrs["fold_of"] = fold_of.tolist()  # plain lists: attrs go into Arrow metadata
    frame.attrs["stratified"] = stratified
    return frame


def _folds(
    n: int, nfold: int | None, folds: Any, seed: int | None, labels: np.ndarray | None = None
) -> np.ndarray:
    """Each row's fold: the given ones (checked), or a seeded random permutation of the
    rows cut in ``nfold`` near-equal parts (as ``xgb.cv``; not secret: the hosts are told).

    ``labels``: stratified folds. Each class's rows in a uniform random order, one class
    after the other, are dealt round the folds, so each fold holds ``n_c / nfold`` rows
    of class ``c``, give or take one. The order comes from ``secrets`` whatever ``seed``:
    the hosts see the folds, and with a seed they could guess, they could test guesses of
    the labels against them."""
    if folds is not None and labels is not None:
        raise ConfigError("stratified folds are drawn by the guest: give folds or stratified")
    if folds is not None:
        fold_of = np.asarray(folds)
        if fold_of.shape != (n,) or not np.issubdtype(fold_of.dtype, np.integer):
            raise InputError(f"folds must give each of the {n} rows a fold number")
        k = int(fold_of.max(initial=-1)) + 1
        if fold_of.min(initial=0) < 0 or k < 2 or np.unique(fold_of).size != k:
            raise InputError("folds must number the folds 0 .. K-1 (K >= 2), each with rows")
        if nfold is not None and nfold != k:
            raise ConfigError(f"nfold {nfold}, but the folds given number {k}")
        return fold_of.astype(np.int16)
    nfold = 5 if nfold is None else nfold
    if not 2 <= nfold <= min(n, 1000):
        raise ConfigError(f"nfold must lie in [2, {min(n, 1000)}], not {nfold}")
    fold_of = np.empty(n, dtype=np.int16)
    if labels is not None:
        shuffle = RowSampler()  # seeded by secrets
        classes = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        order = np.concatenate([shuffle.choice(rows, rows.size) for rows in classes])
        fold_of[order] = np.arange(n) % nfold
        return fold_of
    order = np.random.default_rng(seed).permutation(n)  # not secret: shared with the hosts
    for k, part in enumerate(np.array_split(order, nfold)):
        fold_of[part] = k
    return fold_of


def _check_nfold(told: Any, nfold: int | None) -> int:
    """The guest's number of folds (checked), equal to this party's ``nfold`` if given."""
    k = told.get("nfold") if isinstance(told, dict) else None
    if not isinstance(k, int) or not 2 <= k <= 1000:
        raise ProtocolError("the guest sent a malformed cross-validation")
    if nfold is not None and nfold != k:
        raise ConfigError(f"--cv differs from the guest's: {nfold} here, {k} at the guest")
    return k


def _train_guest(
    ctx: Context,
    roles: Roles,
    mode: str,
    X: np.ndarray,
    y: Any,
    features: list[str],
    params: BoostParams,
    eval_set: Any,
    X_eval: np.ndarray | None,
    file: str,
    he_options: dict[str, Any] | None,
    sample_weight: Any = None,
    init: PartyModel | None = None,
    label: str | None = None,
    monotone: dict[str, int] | None = None,
    interactions: list[list[str]] | None = None,
    categories: np.ndarray | None = None,
    label_upper: str | None = None,
) -> PartyModel:
    y = check_label(
        y,
        params.objective,
        X.shape[0],
        num_class=params.num_class,
        file=file,
        column=label,
        upper_column=label_upper,
    )
    if init is not None:
        _check_init(init, "guest", ctx.party, roles, features, file)
        if (init.params.objective, init.params.num_class) != (params.objective, params.num_class):
            raise ConfigError(
                f"the model to continue is {init.params.objective} with num_class "
                f"{init.params.num_class}; training asks for {params.objective} with "
                f"{params.num_class}"
            )
    weights = check_weights(sample_weight, X.shape[0])
    if categories is not None:
        _check_category_counts(categories, features, params.max_bin, file)
    if params.guest_only_rounds and X.shape[1] == 0:
        raise ConfigError(
            "guest_only_rounds grows its trees on the guest's features, and it has none"
        )
    y_eval = None
    if X_eval is not None:
        if eval_set[1] is None:
            raise InputError("the guest's validation set needs labels")
        y_eval = check_label(
            eval_set[1],
            params.objective,
            X_eval.shape[0],
            "the validation label",
            num_class=params.num_class,
        )
        if X_eval.shape[1] != X.shape[1]:
            raise InputError(f"validation has {X_eval.shape[1]} columns, training {X.shape[1]}")
    elif params.early_stopping_rounds:
        raise ConfigError("early_stopping_rounds needs a validation set")
    model_id = ctx.rng.bytes(8).hex()  # ties the parties' parts of one model together
    with ctx.step("setup"):
        for i, host in enumerate(roles.hosts):
            ctx.send(
                host,
                "sbt/setup",
                {
                    # random_state stays with the guest: it seeds the row samples (secret
                    # in he-hidden), the feature samples and the folds, which hosts need not
                    # draw (they are told what they must know of them)
                    "params": {**params.to_json(), "random_state": None},
                    "index": i + 1,
                    "model_id": model_id,
                    "eval_rows": None if X_eval is None else int(X_eval.shape[0]),
                    "init": None if init is None else init.model_id,
                },
            )
        # the compiled loops load while the hosts bin their columns and load theirs (the
        # first use of Numba in a process takes up to a second): not in the first tree
        from unseen.ml import sbt_kernels

        sbt_kernels.warm_up()
        host_features: dict[str, list[str]] = {}
        host_bins: dict[str, np.ndarray] = {}
        host_categorical: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        for host in roles.hosts:
            info = ctx.recv(host, "sbt/host-info")
            if (
                not isinstance(info, dict)
                or not isinstance(info.get("features"), list)
                or len(info.get("n_bins", [])) != len(info["features"])
                or len(info.get("missing", [])) != len(info["features"])
            ):
                raise ProtocolError(f"{host!r} sent malformed feature information")
            host_features[host] = [str(f) for f in info["features"]]
            host_bins[host] = np.asarray(info["n_bins"], dtype=np.int64)
            flags = info.get("categorical", [False] * len(info["features"]))
            if not isinstance(flags, list) or len(flags) != len(info["features"]):
                raise ProtocolError(f"{host!r} sent malformed feature information")
            host_categorical[host] = np.asarray(flags, dtype=bool)
            if np.any(host_bins[host] < 1) or np.any(host_bins[host] > params.max_bin):
                raise ProtocolError(f"{host!r} reports impossible bin counts")
            masks[host] = bin_mask(
                host_bins[host], np.asarray(info["missing"], dtype=bool), params.max_bin + 1
            )
    start = None
    if init is not None:  # the model's margins on our rows: joint prediction, as it scores
        with ctx.step("the model to continue: its margins"):
            hosts = list(roles.hosts)
            on_train = predict_guest(ctx, init.trees, init.base_margin, X, hosts, _INIT_TRAIN)
            on_eval = None
            if X_eval is not None:
                on_eval = predict_guest(
                    ctx, init.trees, init.base_margin, X_eval, hosts, _INIT_EVAL
                )
        start = (init.base_margin, on_train, on_eval)
    top = 1.0 if weights is None else max(1.0, float(weights.max()))
    exchange = _exchanges(
        ctx, roles, mode, "guest", params, X.shape[0], masks, he_options, max_weight=top
    )
    assert isinstance(exchange, GuestExchange)
    guest = Guest(
        ctx,
        X,
        y,
        features,
        params,
        list(roles.hosts),
        host_features,
        host_bins,
        exchange,
        None if X_eval is None or y_eval is None else (X_eval, y_eval),
        weights=weights,
        monotone=monotone,
        interactions=interactions,
        categories=categories,
        host_categorical=host_categorical,
    )
    result = guest.fit(start)
    model = PartyModel(
        party=ctx.party,
        role="guest",
        roles=roles,
        mode=mode,
        params=params,
        features=features,
        trees=result.trees,
        base_margin=result.base_margin,
        host_features=host_features,
        importance_split=result.importance_split,
        importance_gain=result.importance_gain,
        importance_cover=result.importance_cover,
        history=result.history,
        model_id=model_id,
        tree_seconds=result.tree_seconds,
        monotone_constraints=dict(monotone or {}),
        interaction_constraints=[list(g) for g in interactions or []],
    )
    return model if init is None else _continued(init, model)


#: the message keys of the joint prediction that gives a continued model's margins
_INIT_TRAIN, _INIT_EVAL = "sbt-init/train", "sbt-init/eval"


def _check_init(
    init: PartyModel, role: str, party: str, roles: Roles, features: list[str], file: str
) -> None:
    """That ``init`` is this party's part of a model of these parties, on these features."""
    if init.role != role or init.party != party:
        raise InputError(
            f"the model to continue is {init.party!r}'s part as {init.role}, not {party!r}'s "
            f"as {role}",
            file=file,
        )
    if (init.roles.guest, tuple(init.roles.hosts)) != (roles.guest, tuple(roles.hosts)):
        raise ConfigError(
            f"the model to continue was trained by {[init.roles.guest, *init.roles.hosts]}, "
            f"this job has {[roles.guest, *roles.hosts]}"
        )
    if init.features != features:
        raise InputError(
            f"the model to continue has the features {init.features}, the input {features}",
            file=file,
        )


def _continued(init: PartyModel, new: PartyModel) -> PartyModel:
    """``new``'s trees after ``init``'s, as one model (the new model id); at the guest the
    importance of both."""
    trees = PartyTrees(
        me=new.trees.me,
        layouts=[*init.trees.layouts, *new.trees.layouts],
        splits=[*init.trees.splits, *new.trees.splits],
        values=[*init.trees.values, *new.trees.values],
        records=[*init.trees.records, *new.trees.records],
    )

    def total(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}

    cover = None
    if init.importance_cover is not None and new.importance_cover is not None:
        cover = total(init.importance_cover, new.importance_cover)
    return replace(
        new,
        trees=trees,
        base_margin=init.base_margin,
        importance_split=total(init.importance_split, new.importance_split),
        importance_gain=total(init.importance_gain, new.importance_gain),
        importance_cover=cover,
    )


def _train_host(
    ctx: Context,
    roles: Roles,
    mode: str,
    X: np.ndarray,
    features: list[str],
    expect: dict[str, Any] | None,
    X_eval: np.ndarray | None,
    file: str,
    init: PartyModel | None = None,
    categories: np.ndarray | None = None,
) -> PartyModel:
    if init is not None:
        _check_init(init, "host", ctx.party, roles, features, file)
    with ctx.step("setup"):
        setup = ctx.recv(roles.guest, "sbt/setup")
        if not isinstance(setup, dict) or "params" not in setup:
            raise ProtocolError("the guest sent malformed parameters")
        theirs = BoostParams.from_json(setup["params"])
        given = theirs.to_json()
        given["max_delta_step"] = theirs.rule.max_delta_step  # unset: the objective's
        # random_state is the guest's alone (not sent): one given here is not checked
        checked = {k: v for k, v in (expect or {}).items() if k != "random_state"}
        diff = sorted(k for k, v in checked.items() if k not in given or given[k] != v)
        if diff:
            shown = ", ".join(
                f"{k}={checked[k]!r} here, {given.get(k)!r} at the guest" for k in diff
            )
            raise ConfigError(f"hyper-parameters differ from the guest's: {shown}")
        wanted = setup.get("init")
        if wanted != (None if init is None else init.model_id):
            if wanted is None:
                raise ConfigError("this party gave a model to continue, the guest did not")
            raise InputError(
                f"the guest continues model {wanted}: give this party's part of it "
                "(--init-model)"
                + ("" if init is None else f"; {init.model_id} is another model's"),
                file=file,
            )
        eval_rows = setup.get("eval_rows")
        if (eval_rows is None) != (X_eval is None):
            where = "the guest" if eval_rows is not None else ctx.party
            raise InputError(
                f"only {where} has a validation set: give one at every party", file=file
            )
        if X_eval is not None and X_eval.shape[0] != eval_rows:
            raise InputError(
                f"the validation set has {X_eval.shape[0]} rows here but {eval_rows} at the guest",
                file=file,
            )
        if X_eval is not None and X_eval.shape[1] != X.shape[1]:
            raise InputError(
                f"validation has {X_eval.shape[1]} columns, training {X.shape[1]}", file=file
            )
        if categories is not None:
            _check_category_counts(categories, features, theirs.max_bin, file)
        # local: cut points never leave the host
        binner = BinMapper.fit(X, theirs.max_bin, categories)
        missing = np.isnan(X).any(axis=0)
        bins = binner.transform(X)
        # the compiled loops (not used by the he modes' hosts): loaded before the guest,
        # on our answer, starts the first tree (else that tree waits for them)
        if not mode.startswith("he"):
            from unseen.ml import sbt_kernels

            sbt_kernels.warm_up()
        ctx.send(
            roles.guest,
            "sbt/host-info",
            {
                "features": features,
                "n_bins": binner.n_bins().tolist(),
                "missing": missing.tolist(),
                "categorical": [bool(c) for c in (categories if categories is not None else [])]
                or [False] * X.shape[1],
            },
        )
        if mode == "ss-dealer":
            from unseen.ml.sbt_shuffle import announce_features

            assert roles.dealer is not None
            announce_features(ctx, roles.dealer, X.shape[1])
    if init is not None:  # our side of the joint prediction of the continued model's margins
        with ctx.step("the model to continue: its margins"):
            predict_host(ctx, init.trees, X, roles.guest, _INIT_TRAIN)
            if X_eval is not None:
                predict_host(ctx, init.trees, X_eval, roles.guest, _INIT_EVAL)
    mask = bin_mask(binner.n_bins(), missing, theirs.max_bin + 1)
    exchange = _exchanges(
        ctx,
        roles,
        mode,
        "host",
        theirs,
        X.shape[0],
        {ctx.party: mask},
        bins=bins if mode == "ss-dealer-matrix" else None,
    )
    assert isinstance(exchange, HostExchange)
    host = Host(
        ctx,
        X,
        roles.guest,
        int(setup["index"]),
        theirs,
        exchange,
        X_eval,
        binner,
        bins=bins,
        categories=categories,
    )
    trees = host.fit()
    model = PartyModel(
        party=ctx.party,
        role="host",
        roles=roles,
        mode=mode,
        params=theirs,
        features=features,
        trees=trees,
        model_id=str(setup.get("model_id", "")),
    )
    return model if init is None else _continued(init, model)


# --------------------------------------------------------------------------- prediction


def predict(
    ctx: Context,
    model: PartyModel,
    X: Any,
    key: str = "sbt-predict",
    *,
    output_margin: bool = False,
    pred_contribs: bool = False,
    approx_contribs: bool = True,
    pred_interactions: bool = False,
    pred_leaf: bool = False,
) -> np.ndarray | None:
    """Joint prediction: every party runs it with its part and its columns of the same rows.

    The guest gets predictions (probabilities of class 1, ``(n, K)`` class
    probabilities for ``multi:softprob``, or regression values; the margins
    with ``output_margin``); hosts get ``None`` and learn nothing. A DataFrame's
    columns are taken by the model's feature names (in any order; extra ones ignored).
    ``pred_contribs``: at the guest, each row's margin split into a share per feature of
    every party and a bias (:func:`contributions`); the hosts' part is unchanged.
    ``approx_contribs=False`` with ``pred_contribs``: exact SHAP values instead, XGBoost's
    default ``pred_contribs`` (:func:`exact_contributions`). They need the side every row
    takes at every host split, which a host sends only where it passes the same (its
    consent): the guest then learns those sides for the rows scored.
    ``pred_interactions``: at the guest, SHAP interaction values, XGBoost's
    ``pred_interactions`` (:func:`exact_interactions`), from the same sides and with the
    same consent (a host passes ``pred_contribs=True, approx_contribs=False`` or this).
    ``pred_leaf``: at the guest, the leaf each row reaches in every tree, as its node id,
    ``(n, trees)`` (XGBoost's ``pred_leaf``; :func:`predict_leaves`). The guest learns
    the leaves in any prediction (it adds their values), so the hosts' part is the same
    and they are not told.
    """
    X = _prepared(model, X)
    # the guest asks for exact contributions; a host allows them (and learns from the
    # guest's request whether it asks)
    exact = bool(pred_contribs and not approx_contribs) or pred_interactions
    asked = _request(ctx, model, X, key, exact)
    with ctx.step("prediction"):
        if model.role == "guest" and pred_interactions:
            return exact_interactions(ctx, model, X, key)
        if model.role == "guest" and exact:
            return exact_contributions(ctx, model, X, key)
        if model.role == "guest" and pred_contribs:
            return contributions(ctx, model, X, key)
        if asked:  # a host that allows them, asked by the guest
            send_split_sides(ctx, model.trees, X, model.roles.guest, key)
            return None
        if model.role == "guest":
            if pred_leaf:
                return _guest_leaf_predictions(ctx, model, X, key)[1]
            margin = predict_guest(
                ctx, model.trees, model.base_margin, X, list(model.roles.hosts), key
            )
            return margin if output_margin else transform(model.params.objective, margin)
        predict_host(ctx, model.trees, X, model.roles.guest, key)
        return None


def predict_leaves(
    ctx: Context, model: PartyModel, X: Any, key: str = "sbt-predict"
) -> tuple[np.ndarray, np.ndarray] | None:
    """One joint prediction that gives the guest both the predictions (as
    :func:`predict`'s) and each row's leaf in every tree as its node id, ``(n, trees)``
    (XGBoost's ``pred_leaf``: the leaf encoding of GBDT + LR, FATE's SBT feature
    transformer); ``None`` at hosts, which run their usual side."""
    X = _prepared(model, X)
    _request(ctx, model, X, key, exact=False)
    with ctx.step("prediction"):
        if model.role != "guest":
            predict_host(ctx, model.trees, X, model.roles.guest, key)
            return None
        margin, nodes = _guest_leaf_predictions(ctx, model, X, key)
        return transform(model.params.objective, margin), nodes


def _guest_leaf_predictions(
    ctx: Context, model: PartyModel, X: np.ndarray, key: str
) -> tuple[np.ndarray, np.ndarray]:
    """The guest's side: the margins and the leaves' node ids, from one round of masks."""
    leaves = guest_leaves(ctx, model.trees, X, list(model.roles.hosts), key)
    margin = margins_of_leaves(model.trees, model.base_margin, leaves, X.shape[0])
    return margin, leaf_nodes(model.trees, leaves, X.shape[0])


def _prepared(model: PartyModel, X: Any) -> np.ndarray:
    """``X`` as the model's feature matrix at this party: a DataFrame's columns by name,
    checked, its missing-value code marked."""
    if hasattr(X, "columns"):
        X = frame_matrix(X, model.features, model.categories)[0]
    X = check_features(X, no_columns=model.role == "guest", names=model.features)
    if X.shape[1] != len(model.features):
        raise InputError(f"{X.shape[1]} columns, the model has {len(model.features)} features here")
    return mark_missing(X, model.missing, model.features, model.categories)


def _request(ctx: Context, model: PartyModel, X: np.ndarray, key: str, exact: bool) -> bool:
    """Every data party tells the others its rows and model (they must agree) and whether
    it asks for (the guest) or allows (a host) the split sides of exact contributions;
    whether the guest asked, as this party learns it."""
    data_parties = [model.roles.guest, *model.roles.hosts]
    missing = [p for p in data_parties if p not in ctx.parties]
    if missing:
        raise ConfigError(f"prediction needs every party of the model; missing {missing}")
    asked = False
    with ctx.step("prediction: rows"):
        mine = {"rows": int(X.shape[0]), "model_id": model.model_id, "exact_contribs": exact}
        for p in data_parties:
            if p != ctx.party:
                ctx.send(p, f"{key}/rows", mine)
        for p in data_parties:
            if p == ctx.party:
                continue
            theirs = ctx.recv(p, f"{key}/rows")
            if not isinstance(theirs, dict):
                raise ProtocolError(f"{p!r} sent a malformed prediction request")
            if theirs.get("model_id") != model.model_id:
                raise InputError(f"{p!r} holds a part of another model (model ids differ)")
            if theirs.get("rows") != X.shape[0]:
                raise InputError(
                    f"{X.shape[0]} rows here but {theirs.get('rows')} at {p!r}: inputs are not aligned"
                )
            if p == model.roles.guest:
                asked = bool(theirs.get("exact_contribs"))
            _check_exact_consent(model, p, exact, bool(theirs.get("exact_contribs")))
    return asked


#: the interaction values held at once by :func:`interaction_summary` (32 MB of them)
_INTERACTION_BLOCK = 2**22


def interaction_summary(
    ctx: Context, model: PartyModel, X: Any, key: str = "sbt-predict"
) -> tuple[np.ndarray, np.ndarray]:
    """The guest's side of one joint prediction (the hosts run :func:`predict` with exact
    contributions allowed): each row's exact SHAP values, as :func:`exact_contributions`,
    and the mean absolute SHAP interaction value of every pair of features over the rows
    (and classes), ``(F + 1, F + 1)`` (:func:`exact_interactions`), from the same split
    sides, a block of rows at a time (the whole tensor holds ``n (F + 1)^2`` numbers a
    class)."""
    if model.role != "guest":
        raise ConfigError("interaction values are the guest's (a host allows them)")
    X = _prepared(model, X)
    _request(ctx, model, X, key, exact=True)
    n, size = X.shape[0], len(contribution_names(model))
    classes = int(np.size(model.base_margin))
    shares, total = np.zeros((n, classes, size)), np.zeros((size, size))
    step = max(1, _INTERACTION_BLOCK // (classes * size * size))
    with ctx.step("prediction"):
        for rows, part in _interaction_blocks(ctx, model, X, key, step):
            shares[rows] = part.sum(axis=-1)
            total += np.abs(part).sum(axis=(0, 1))
    return shares if np.ndim(model.base_margin) else shares[:, 0], total / max(1, n * classes)


def frame_matrix(
    frame: Any,
    features: list[str] | None = None,
    categories: dict[str, list[str]] | None = None,
) -> tuple[np.ndarray, list[str], dict[str, list[str]]]:
    """A DataFrame's feature columns as a float matrix: ``(X, features, categories)``.

    ``features`` picks columns by name (default: all). Categorical columns (pandas
    ``category``, ``object`` or ``string`` dtype, or named in ``categories``) hold their
    codes (:func:`~unseen.ml.data.encode_categories`): by the categories given, or, for
    a column not in ``categories``, its own (a ``category`` dtype's in its order, else
    its distinct values sorted)."""
    import pandas as pd

    names = [str(c) for c in frame.columns]
    features = names if features is None else list(features)
    missing = [f for f in features if f not in names]
    if missing:
        raise InputError(
            f"no column {missing[0]!r} (the features are {features})", column=missing[0]
        )
    given = dict(categories or {})
    X = np.empty((len(frame), len(features)))
    found: dict[str, list[str]] = {}
    for j, name in enumerate(features):
        col = frame[frame.columns[names.index(name)]]
        dtype = col.dtype
        text = (
            isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
        )
        if name in given or text:
            known = given.get(name)
            if known is None and isinstance(dtype, pd.CategoricalDtype):
                known = [str(c).strip() for c in dtype.categories]
            X[:, j], found[name] = encode_categories(col.to_numpy(dtype=object), known)
        else:
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            X[:, j] = check_features(values.reshape(-1, 1), name)[:, 0]
    return X, features, found


def _check_exact_consent(model: PartyModel, peer: str, mine: bool, theirs: bool) -> None:
    """Exact contributions show the guest the side every scored row takes at every host
    split: the guest asks for them, and every host must allow them (``mine``: this party
    asks, or allows; ``theirs``: the peer's)."""
    how = "unseen predict --exact-contribs, or predict_contribs(..., approx=False)"
    if model.role == "guest" and mine and not theirs:
        raise ConfigError(
            f"exact contributions show this guest the side every row takes at every split "
            f"of {peer!r}'s, which {peer!r} has not allowed ({how} there)"
        )
    if model.role != "guest" and peer == model.roles.guest and theirs and not mine:
        raise ConfigError(
            "the guest asks for exact contributions, which would show it the side every row "
            f"takes at every split of this party's, also off the row's path: {how} here "
            "allows it"
        )


def contribution_names(model: PartyModel) -> list[str]:
    """The columns of :func:`contributions`: the guest's features, each host's as
    ``"host:feature"``, then ``"bias"``."""
    return [name for party in _all_features(model).values() for name in party] + ["bias"]


def _all_features(model: PartyModel) -> dict[str, list[str]]:
    """Per party (the guest's first, then the hosts' in the model's order), its features as
    the guest names them: the order of all features together."""
    return named_features(model.features, {h: model.host_features[h] for h in model.roles.hosts})


def contributions(ctx: Context, model: PartyModel, X: np.ndarray, key: str) -> np.ndarray:
    """The guest's side of joint prediction, each row's margin split into a share per
    feature of :func:`contribution_names` and a bias, as XGBoost's
    ``pred_contribs=True, approx_contribs=True`` (:mod:`unseen.ml.sbt_contribs`):
    ``(n, F + 1)``, for several classes ``(n, K, F + 1)``; they add up to the margins."""
    _check_covers(model)
    leaves = guest_leaves(ctx, model.trees, X, list(model.roles.hosts), key)

    def saabas(
        t: int, layout: TreeLayout, feature: np.ndarray, n_all: int
    ) -> tuple[np.ndarray, float]:
        records = model.trees.records[t]
        shares, root = leaf_contributions(
            layout, feature, records.cover, model.trees.values[t], n_all
        )
        return shares[leaves[t]], root

    return _sum_contributions(model, X.shape[0], saabas)


def exact_contributions(ctx: Context, model: PartyModel, X: np.ndarray, key: str) -> np.ndarray:
    """The guest's side of joint prediction with exact SHAP values, as XGBoost's
    ``pred_contribs=True`` (TreeSHAP, :func:`~unseen.ml.sbt_contribs.tree_shap`): the
    shape and columns of :func:`contributions`, adding up to the margins. Every host
    sends the side each row takes at each of its splits, also off the row's path, where
    it allows it; that is what the guest learns beyond the scores."""
    _check_covers(model)
    sides = guest_split_sides(ctx, model.trees, X, list(model.roles.hosts), key)
    threads = FeatureThreads()  # the rows in parts, one per core

    def shap(
        t: int, layout: TreeLayout, feature: np.ndarray, n_all: int
    ) -> tuple[np.ndarray, float]:
        cover, value = model.trees.records[t].cover, model.trees.values[t]
        return tree_shap(layout, feature, cover, value, sides[t], n_all, threads)

    try:
        return _sum_contributions(model, X.shape[0], shap)
    finally:
        threads.close()


def exact_interactions(ctx: Context, model: PartyModel, X: np.ndarray, key: str) -> np.ndarray:
    """The guest's side of joint prediction with SHAP interaction values, as XGBoost's
    ``pred_interactions`` (:func:`~unseen.ml.sbt_contribs.tree_shap_interactions`):
    ``(n, F + 1, F + 1)`` over the features of :func:`contribution_names` and the bias, for
    several classes ``(n, K, F + 1, F + 1)``. Row ``i`` of a row's matrix adds up to feature
    ``i``'s exact SHAP value; the bias sits at ``[F, F]`` and interacts with nothing. The
    hosts send what they send for exact contributions (with the same consent), and the
    guest learns nothing more."""
    (whole,) = (part for _, part in _interaction_blocks(ctx, model, X, key, X.shape[0]))
    return whole if np.ndim(model.base_margin) else whole[:, 0]


def _interaction_blocks(
    ctx: Context, model: PartyModel, X: np.ndarray, key: str, step: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """The split sides from the hosts, then the interaction values of ``step`` rows at a
    time: each block's rows and its ``(rows, K, F + 1, F + 1)`` values (``K`` = 1 but for
    several classes)."""
    _check_covers(model)
    sides = guest_split_sides(ctx, model.trees, X, list(model.roles.hosts), key)
    n_all, features = _split_features(model)
    base = np.asarray(model.base_margin, dtype=np.float64)
    classes = base.size if base.ndim else 1
    threads = FeatureThreads()  # the rows in parts, one per core
    try:
        for start in range(0, X.shape[0], max(1, step)):
            rows = slice(start, min(X.shape[0], start + step))
            out = np.zeros((rows.stop - start, classes, n_all + 1, n_all + 1))
            out[:, :, n_all, n_all] = base
            for t, (layout, records) in enumerate(
                zip(model.trees.layouts, model.trees.records, strict=True)
            ):
                values = model.trees.values[t]
                shares, root = tree_shap_interactions(
                    layout, features[t], records.cover, values, sides[t][rows], n_all, threads
                )
                out[:, t % classes, :n_all, :n_all] += shares
                out[:, t % classes, n_all, n_all] += root
            yield rows, out
    finally:
        threads.close()


def _check_covers(model: PartyModel) -> None:
    if any(np.isnan(r.cover[0]) for r in model.trees.records):
        raise ConfigError(
            "contributions need each node's cover, which this model was saved without: "
            "train it again"
        )


def _sum_contributions(
    model: PartyModel,
    n: int,
    tree_shares: Callable[[int, TreeLayout, np.ndarray, int], tuple[np.ndarray, float]],
) -> np.ndarray:
    """Both kinds of contributions over the trees: ``tree_shares(t, layout, feature,
    n_all)`` gives tree ``t``'s shares ``(n, n_all)`` and root mean, ``feature`` its inner
    nodes' features as indices of all ``n_all`` features (:func:`contribution_names`);
    the base margin joins the bias. ``(n, F + 1)``, for several classes ``(n, K, F + 1)``."""
    n_all, features = _split_features(model)
    base = np.asarray(model.base_margin, dtype=np.float64)
    classes = base.size if base.ndim else 1
    out = np.zeros((n, classes, n_all + 1))
    out[:, :, n_all] = base
    for t, layout in enumerate(model.trees.layouts):
        shares, root = tree_shares(t, layout, features[t], n_all)
        out[:, t % classes, :n_all] += shares
        out[:, t % classes, n_all] += root
    return out if base.ndim else out[:, 0]


def _split_features(model: PartyModel) -> tuple[int, list[np.ndarray]]:
    """How many features all parties have together (:func:`contribution_names` less the
    bias), and per tree each node's split feature as an index of them (-1 at leaves)."""
    counts = [len(names) for names in _all_features(model).values()]
    offsets = np.cumsum([0, *counts[:-1]])
    features = []
    for layout, records in zip(model.trees.layouts, model.trees.records, strict=True):
        inner = np.asarray(layout.left) >= 0
        owner = np.maximum(np.asarray(layout.owner), 0)
        features.append(np.where(inner, offsets[owner] + records.feature, -1))
    return sum(counts), features


@register_predictor(MODEL_TYPE)
def predict_party(
    ctx: Context,
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
    data: Any,
    *,
    to: str | None = None,
    contribs: bool = False,
    exact: bool = False,
    interactions: bool = False,
    leaves: bool = False,
) -> Any:
    """``unseen predict`` for SecureBoost models: this party's side of joint prediction.

    ``data`` has ``X`` and ``features`` (a :class:`~unseen.ml.data.PartyData`);
    columns are picked by the model's feature names. Only the guest, which
    holds the leaf weights, can learn the scores. ``contribs`` (the guest's): the
    scores, each row's margin split per feature (:func:`contributions`, whose sum
    gives the scores: one joint prediction) and the shares' names; the hosts' part
    is the same either way. ``exact``: at the guest, exact SHAP values
    (:func:`exact_contributions`); at a host, its consent to them (and to interaction
    values). ``interactions`` (the guest's): the scores, the exact contributions where
    ``contribs`` (else ``None``), the names, and the mean absolute SHAP interaction value
    of every pair of features (:func:`interaction_summary`: one joint prediction).
    ``leaves`` (the guest's): the scores and each row's leaf in every tree
    (:func:`predict_leaves`: one joint prediction); a host's part is the same.
    """
    model = PartyModel.from_parts(meta, arrays)
    if to is not None and to != model.roles.guest:
        raise ConfigError(f"only the guest {model.roles.guest!r} can learn SecureBoost scores")
    X = np.asarray(data.X, dtype=np.float64)
    names = list(getattr(data, "features", model.features))
    if names != model.features:
        missing = [f for f in model.features if f not in names]
        if missing:
            raise InputError(
                f"no column {missing[0]!r} (the model needs {model.features})",
                file=getattr(data, "file", None),
                column=missing[0],
            )
        X = X[:, [names.index(f) for f in model.features]]
    if interactions and model.role == "guest":
        exact_shares, pairs = interaction_summary(ctx, model, X)
        scores = transform(model.params.objective, exact_shares.sum(axis=-1))
        return scores, exact_shares if contribs else None, contribution_names(model), pairs
    if leaves and model.role == "guest":
        return predict_leaves(ctx, model, X)
    if contribs and model.role == "guest":
        shares = predict(ctx, model, X, pred_contribs=True, approx_contribs=not exact)
        assert shares is not None
        scores = transform(model.params.objective, shares.sum(axis=-1))
        return scores, shares, contribution_names(model)
    return predict(ctx, model, X, pred_contribs=exact, approx_contribs=not exact)


# --------------------------------------------------------------------------- plaintext reference


def xgboost_params(
    *,
    objective: str = "binary:logistic",
    max_depth: int,
    learning_rate: float,
    max_bin: int,
    base_score: float,
    reg_lambda: float = 1.0,
    min_child_weight: float = 1.0,
    nthread: int = 1,
) -> dict[str, Any]:
    """XGBoost's ``hist`` parameters for SecureBoost's hyper-parameters (plaintext reference)."""
    return {
        "objective": objective,
        "max_depth": max_depth,
        "eta": learning_rate,
        "max_bin": max_bin,
        "tree_method": "hist",
        "base_score": base_score,
        "reg_lambda": reg_lambda,
        "min_child_weight": min_child_weight,
        "nthread": nthread,
    }


def secureboost_bins(
    X_train: np.ndarray, X_test: np.ndarray, max_bin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices as SecureBoost's bin indices (float, NaN kept), cut points from
    ``X_train`` column by column -- as every party bins its own columns. XGBoost on these
    with ``max_bin=256`` (one bin per index) is the model SecureBoost equals."""
    bm = BinMapper.fit(X_train, max_bin)
    return tuple(  # type: ignore[return-value]
        np.where(np.isnan(X), np.nan, bm.transform(X)).astype(np.float64) for X in (X_train, X_test)
    )


def xgboost_reference(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    *,
    n_estimators: int,
    same_bins: bool = False,
    **params: Any,
) -> np.ndarray:
    """Plaintext XGBoost on the joined data with SecureBoost's hyper-parameters (see
    :func:`xgboost_params`); the test predictions. ``same_bins``: on SecureBoost's bins.
    For tests, the demo and benchmarks only: no real party holds the joined data."""
    import xgboost as xgb  # the native API: the sklearn wrapper needs scikit-learn

    if same_bins:
        X_train, X_test = secureboost_bins(X_train, X_test, params["max_bin"])
        params = {**params, "max_bin": 256}
    booster = xgb.train(
        xgboost_params(base_score=float(np.mean(y_train)), **params),
        xgb.DMatrix(X_train, label=y_train),
        n_estimators,
    )
    return np.asarray(booster.predict(xgb.DMatrix(X_test)))


# --------------------------------------------------------------------------- scikit-learn style


class _SecureBoost:
    """Shared by the classifier and the regressor; see the module docstring."""

    objective = "binary:logistic"  # the default
    #: what ``objective=`` may name (one only: it is no parameter of the class)
    objectives: tuple[str, ...] = ("binary:logistic",)

    def __init__(
        self,
        *,
        objective: str | None = None,
        n_estimators: int = 100,
        max_depth: int = 6,
        learning_rate: float = 0.3,
        max_bin: int = 32,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        min_child_weight: float = 1.0,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        colsample_bylevel: float = 1.0,
        colsample_bynode: float = 1.0,
        scale_pos_weight: float = 1.0,
        max_delta_step: float | None = None,
        base_score: float | None = None,
        early_stopping_rounds: int | None = None,
        goss: tuple[float, float] | None = None,
        random_state: int | None = None,
        tweedie_variance_power: float = 1.5,
        quantile_alpha: float = 0.5,
        huber_slope: float = 1.0,
        aft_loss_distribution: str = "normal",
        aft_loss_distribution_scale: float = 1.0,
        eval_metric: str | None = None,
        monotone_constraints: dict[str, int] | None = None,
        interaction_constraints: list[list[str]] | None = None,
        guest_only_rounds: int = 0,
        max_cat_to_onehot: int = 4,
        max_cat_threshold: int = 64,
        missing: float | None = None,
        mode: str = "ss-dealer",
        he_options: dict[str, Any] | None = None,
    ) -> None:
        objective = type(self).objective if objective is None else objective
        if objective not in self.objectives:
            raise ConfigError(
                f"{type(self).__name__} takes objective {', '.join(self.objectives)}, "
                f"not {objective!r}"
            )
        self.params = BoostParams(
            objective=objective,
            tweedie_variance_power=tweedie_variance_power,
            quantile_alpha=quantile_alpha,
            huber_slope=huber_slope,
            aft_loss_distribution=aft_loss_distribution,
            aft_loss_distribution_scale=aft_loss_distribution_scale,
            eval_metric=eval_metric,
            n_estimators=n_estimators,
            max_depth=max_depth,
            learning_rate=learning_rate,
            max_bin=max_bin,
            reg_lambda=reg_lambda,
            reg_alpha=reg_alpha,
            gamma=gamma,
            min_child_weight=min_child_weight,
            subsample=subsample,
            colsample_bytree=colsample_bytree,
            colsample_bylevel=colsample_bylevel,
            colsample_bynode=colsample_bynode,
            scale_pos_weight=scale_pos_weight,
            max_delta_step=max_delta_step,
            base_score=base_score,
            early_stopping_rounds=early_stopping_rounds,
            goss=goss,
            random_state=random_state,
            guest_only_rounds=guest_only_rounds,
            max_cat_to_onehot=max_cat_to_onehot,
            max_cat_threshold=max_cat_threshold,
        )
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
        if monotone_constraints is not None and not isinstance(monotone_constraints, dict):
            raise ConfigError(
                "monotone_constraints is a dict of feature name to +1 (rising) or -1 "
                "(falling); a host's feature as 'host:feature'"
            )
        self.monotone_constraints = monotone_constraints
        self.interaction_constraints = interaction_constraints
        as_missing(missing)  # checked; kept as given (scikit-learn's clone compares identity)
        self.missing = missing
        self.mode = mode
        self.he_options = he_options
        self.model_: PartyModel | None = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments, as scikit-learn's ``get_params``: ``clone`` and
        ``type(est)(**est.get_params())`` make an unfitted copy. ``deep`` changes
        nothing (no parameter is an estimator)."""
        # the very objects passed (scikit-learn's clone checks identity), not copies
        params = {f.name: getattr(self.params, f.name) for f in fields(self.params)}
        del params["num_class"]  # the label's
        if len(self.objectives) == 1:  # the class's
            del params["objective"]
        return {
            **params,
            "monotone_constraints": self.monotone_constraints,
            "interaction_constraints": self.interaction_constraints,
            "missing": self.missing,
            "mode": self.mode,
            "he_options": self.he_options,
        }

    def set_params(self, **params: Any) -> _SecureBoost:
        """Change constructor arguments, checked as the constructor checks them; a fitted
        model is kept until the next ``fit``."""
        unknown = sorted(set(params) - set(self.get_params()))
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) {', '.join(unknown)} for {type(self).__name__}"
            )
        checked = type(self)(**{**self.get_params(), **params})  # raises before any change
        self.params, self.mode, self.he_options = checked.params, checked.mode, checked.he_options
        self.monotone_constraints = checked.monotone_constraints
        self.interaction_constraints = checked.interaction_constraints
        self.missing = checked.missing
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = {k: v for k, v in self.get_params().items() if v != defaults[k]}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def fit(
        self,
        ctx: Context,
        X: Any = None,
        y: Any = None,
        *,
        feature_names: list[str] | None = None,
        eval_set: tuple[Any, Any] | None = None,
        ids: list[str] | None = None,
        sample_weight: Any = None,
        init_model: Any = None,
    ) -> _SecureBoost:
        """Train jointly: the guest passes ``y`` (and ``sample_weight``, if rows weigh
        differently), hosts only ``X``, the dealer nothing. ``init_model``: continue a
        model (XGBoost's ``xgb_model``): every data party passes its part of it (a fitted
        estimator, a :class:`PartyModel` or a model directory); ``n_estimators`` more
        rounds are added."""
        init = _init_part(init_model)
        return self._fit(ctx, X, y, self.params, feature_names, eval_set, ids, sample_weight, init)

    def _fit(
        self,
        ctx: Context,
        X: Any,
        y: Any,
        params: BoostParams,
        feature_names: list[str] | None,
        eval_set: tuple[Any, Any] | None,
        ids: list[str] | None,
        sample_weight: Any,
        init: PartyModel | None = None,
    ) -> _SecureBoost:
        self.model_ = train(
            ctx,
            mode=self.mode,
            X=X,
            y=y,
            features=feature_names,
            params=params if y is not None else None,
            expect=None,
            eval_set=(eval_set[0], eval_set[1] if y is not None else None) if eval_set else None,
            ids=ids,
            he_options=self.he_options,
            sample_weight=sample_weight,
            init_model=init,
            monotone_constraints=self.monotone_constraints if y is not None else None,
            interaction_constraints=self.interaction_constraints if y is not None else None,
            missing=self.missing,
        )
        return self

    def cv(
        self,
        ctx: Context,
        X: Any = None,
        y: Any = None,
        *,
        nfold: int | None = None,
        folds: Any = None,
        stratified: bool = False,
        feature_names: list[str] | None = None,
        ids: list[str] | None = None,
        sample_weight: Any = None,
    ) -> pd.DataFrame | None:
        """K-fold cross-validation with these parameters (XGBoost's ``xgb.cv``): at the
        guest a table of the validation metric per round, mean and standard deviation
        over the folds; ``None`` elsewhere (:func:`cross_validate`). Every party calls
        it, as :meth:`fit`; ``nfold`` (default 5) or ``folds`` (a fold number per row),
        and ``stratified`` (folds that keep the classes' shares), at the guest. No model
        is kept."""
        y, params = self._cv_labels(y)
        guest = y is not None
        return cross_validate(
            ctx,
            mode=self.mode,
            nfold=nfold,
            folds=folds,
            stratified=stratified,
            X=X,
            y=y,
            features=feature_names,
            params=params if guest else None,
            ids=ids,
            he_options=self.he_options,
            sample_weight=sample_weight,
            monotone_constraints=self.monotone_constraints if guest else None,
            interaction_constraints=self.interaction_constraints if guest else None,
            missing=self.missing,
        )

    def _cv_labels(self, y: Any) -> tuple[Any, BoostParams]:
        """The guest's labels for training, and the parameters they call for."""
        return y, self.params

    def _predict_key(self) -> str:
        """The message keys of this estimator's next joint prediction: one per call, so
        that a job may predict several times (every party calls in the same order)."""
        self._predictions = getattr(self, "_predictions", 0) + 1
        n = self._predictions
        return "sbt-predict" if n == 1 else f"sbt-predict-{n}"

    def _model(self) -> PartyModel:
        if self.model_ is None:
            raise ConfigError("not fitted at this party (or this party is the dealer)")
        return self.model_

    def predict_contribs(self, ctx: Context, X: Any, approx: bool = True) -> np.ndarray | None:
        """Joint prediction with each row's margin split into a share per feature of every
        party and a bias (XGBoost's ``pred_contribs`` with ``approx_contribs``: Saabas's
        per-split attributions, :mod:`unseen.ml.sbt_contribs`): ``(n, F + 1)``, for
        several classes ``(n, K, F + 1)``, at the guest (columns:
        :attr:`contribution_names_`); ``None`` at hosts, whose part is as for prediction.

        ``approx=False``: exact SHAP values (XGBoost's default ``pred_contribs``), which
        show the guest the side every row takes at every host split; a host allows that
        by calling this with ``approx=False`` too (:func:`exact_contributions`)."""
        return predict(
            ctx,
            self._model(),
            X,
            self._predict_key(),
            pred_contribs=True,
            approx_contribs=approx,
        )

    def predict_interactions(self, ctx: Context, X: Any) -> np.ndarray | None:
        """Joint prediction with SHAP interaction values (XGBoost's ``pred_interactions``):
        ``(n, F + 1, F + 1)``, for several classes ``(n, K, F + 1, F + 1)``, at the guest
        (rows and columns: :attr:`contribution_names_`; each row of a matrix adds up to
        that feature's exact SHAP value, the bias at the last diagonal entry); ``None`` at
        hosts. They need what exact contributions need: every host allows it by calling
        this, or ``predict_contribs(..., approx=False)``, too."""
        return predict(ctx, self._model(), X, self._predict_key(), pred_interactions=True)

    @property
    def contribution_names_(self) -> list[str]:
        """The columns of :meth:`predict_contribs` (the guest's features, each host's as
        ``"host:feature"``, then ``"bias"``); at the guest."""
        if self._model().role != "guest":
            raise ConfigError("contributions are known at the guest only")
        return contribution_names(self._model())

    def apply(self, ctx: Context, X: Any) -> np.ndarray | None:
        """Each row's leaf in every tree, as its node id (XGBoost's and scikit-learn's
        ``apply``, ``pred_leaf``): ``(n, trees)`` at the guest, trees in order (for
        several classes, a round's trees class by class); ``None`` at hosts, whose part
        is as for prediction. One-hot, they are the features of GBDT + LR (FATE's SBT
        feature transformer). The guest learns nothing it does not learn in prediction."""
        return predict(ctx, self._model(), X, self._predict_key(), pred_leaf=True)

    def predict_margin(self, ctx: Context, X: Any) -> np.ndarray | None:
        """The raw margins at the guest (``(n, K)`` for several classes); ``None`` at hosts."""
        return predict(ctx, self._model(), X, self._predict_key(), output_margin=True)

    @property
    def feature_importances_(self) -> dict[str, float]:
        return self._model().feature_importance("total_gain")

    @property
    def n_trees_(self) -> int:
        return self._model().n_trees

    def trees_to_dataframe(self) -> pd.DataFrame:
        """Every node of every tree, as this party sees it (see
        :meth:`PartyModel.trees_to_dataframe`): XGBoost's columns."""
        return self._model().trees_to_dataframe()

    def save(self, directory: str | Path) -> Path:
        return self._model().save(directory)

    @classmethod
    def load(cls, directory: str | Path) -> _SecureBoost:
        part = PartyModel.load(directory)
        params = asdict(part.params)
        del params["num_class"]
        if len(cls.objectives) == 1:
            del params["objective"]
        est = cls(
            mode=part.mode,
            monotone_constraints=part.monotone_constraints or None,
            interaction_constraints=part.interaction_constraints or None,
            **params,
        )
        est.model_ = part
        return est


class SecureBoostClassifier(_SecureBoost):
    """Classification: binary (``binary:logistic``) or, when the guest's ``y`` has more
    than two classes, multi-class (``multi:softprob``: a tree per class each round, as
    XGBoost's ``XGBClassifier``). Labels may be any values; ``classes_`` lists them in
    order, and they become 0, 1, ... for training."""

    objective = "binary:logistic"

    def fit(
        self,
        ctx: Context,
        X: Any = None,
        y: Any = None,
        *,
        feature_names: list[str] | None = None,
        eval_set: tuple[Any, Any] | None = None,
        ids: list[str] | None = None,
        sample_weight: Any = None,
        init_model: Any = None,
    ) -> SecureBoostClassifier:
        params, classes = self.params, None
        init = _init_part(init_model)
        if y is not None and init is not None and init.role == "guest":
            # the continued model's classes, in its order (labels it does not know: an error)
            params = replace(
                params, objective=init.params.objective, num_class=init.params.num_class
            )
            classes = (
                np.asarray(init.classes)
                if init.classes is not None
                else np.arange(max(2, init.params.num_class))
            )
            y = _codes_of(y, classes, "the label")
            if eval_set is not None:
                eval_set = (eval_set[0], _codes_of(eval_set[1], classes))
        elif y is not None:
            y, classes = _class_codes(y)
            if classes is not None and len(classes) > 2:
                params = replace(params, objective="multi:softprob", num_class=len(classes))
            if eval_set is not None and classes is not None:
                eval_set = (eval_set[0], _codes_of(eval_set[1], classes))
        self._fit(ctx, X, y, params, feature_names, eval_set, ids, sample_weight, init)
        if self.model_ is not None and classes is not None and not _are_indices(classes):
            self.model_.classes = [c.item() if hasattr(c, "item") else c for c in classes]
        return self

    def _cv_labels(self, y: Any) -> tuple[Any, BoostParams]:
        params = self.params
        if y is not None:  # labels of any kind, as fit takes them
            y, classes = _class_codes(y)
            if classes is not None and len(classes) > 2:
                params = replace(params, objective="multi:softprob", num_class=len(classes))
        return y, params

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the order of ``predict_proba``'s columns (the guest's)."""
        m = self._model()
        if m.classes is not None:
            return np.asarray(m.classes)
        return np.arange(max(2, m.params.num_class))

    def predict_proba(self, ctx: Context, X: Any) -> np.ndarray | None:
        """``(n, classes)`` class probabilities at the guest; ``None`` at hosts."""
        p = predict(ctx, self._model(), X, self._predict_key())
        if p is None:
            return None
        return p if p.ndim == 2 else np.stack([1 - p, p], axis=1)

    def predict(self, ctx: Context, X: Any) -> np.ndarray | None:
        """The most probable class label of each row at the guest; ``None`` at hosts."""
        p = self.predict_proba(ctx, X)
        if p is None:
            return None
        # binary: class 1 from probability 0.5 on, as before (argmax would break ties to 0)
        index = p.argmax(axis=1) if p.shape[1] > 2 else (p[:, 1] >= 0.5).astype(np.int64)
        return np.asarray(self.classes_[index])


def _init_part(init_model: Any) -> PartyModel | None:
    """This party's part of a model to continue: from a fitted estimator, a
    :class:`PartyModel` or a model directory (``None``: none)."""
    if init_model is None or isinstance(init_model, PartyModel):
        return init_model
    if isinstance(init_model, _SecureBoost):
        return init_model._model()
    return PartyModel.load(init_model)


def _class_codes(y: Any) -> tuple[Any, np.ndarray | None]:
    """``y`` as class indices 0, 1, ... and the sorted class labels. ``y`` as it is (and
    ``None``) when it is numbers with a missing one, which the label check reports by
    row; InputError naming the row for a missing label of another kind (None)."""
    arr = np.asarray(y).ravel()
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        return y, None
    if arr.dtype.kind == "O":
        missing = [i for i, v in enumerate(arr) if v is None or v != v]  # None or NaN
        if missing:
            raise InputError("y has a missing value", row=missing[0] + 1)
    try:
        classes, codes = np.unique(arr, return_inverse=True)
    except TypeError:
        raise InputError("y mixes labels of different types") from None
    return codes.astype(np.float64), classes


def _are_indices(classes: np.ndarray) -> bool:
    """Whether the labels are 0, 1, ... themselves (then the model keeps no class list)."""
    if classes.dtype.kind not in "iuf":
        return False
    return bool(np.array_equal(classes, np.arange(classes.size)))


def _codes_of(y: Any, classes: np.ndarray, what: str = "the validation label") -> np.ndarray:
    """Labels as the training classes' indices; InputError naming the first row with a
    class the training labels do not have."""
    arr = np.asarray(y).ravel()
    index = np.searchsorted(classes, arr)
    known = (index < classes.size) & (classes[np.minimum(index, classes.size - 1)] == arr)
    if not known.all():
        raise InputError(
            f"{what} has a class the training label does not",
            row=int(np.argmin(known)) + 1,
        )
    return index.astype(np.float64)


class SecureBoostRegressor(_SecureBoost):
    """Regression: squared error (``reg:squarederror``, the default) or, as XGBoost's, a
    log link for counts (``count:poisson``), positive amounts (``reg:gamma``) or amounts
    with zeros such as insurance claims (``reg:tweedie``, variance power
    ``tweedie_variance_power`` in (1, 2)); ``predict`` gives the mean (``exp`` of the
    margin for the log-link losses). Robust and quantile regression, as XGBoost's
    ``reg:absoluteerror`` (the median) and ``reg:quantileerror`` (the ``quantile_alpha``
    quantile): each leaf set to a quantile of its rows' residuals once its tree is
    grown; XGBoost's ``reg:pseudohubererror`` (``huber_slope``), squared error near
    the label and absolute error far from it; ``reg:logistic`` (labels in [0, 1], shares
    or rates, predicted through the logistic link) and ``reg:squaredlogerror`` (the squared
    error of ``log(1 + y)``: relative errors, for targets spread over orders of
    magnitude). Survival, as XGBoost's ``survival:cox``: Cox's proportional hazards, the
    label a time (``-t`` where the row was censored at ``t``); ``predict`` gives the
    hazard ratio, ``exp`` of the margin. And ``survival:aft``, the accelerated failure
    time model (:mod:`unseen.ml.aft`; ``aft_loss_distribution`` and
    ``aft_loss_distribution_scale``): ``y`` is ``(n, 2)``, each row's lower and upper
    bound of the time (``inf`` above: censored on the right); ``predict`` gives times."""

    objective = "reg:squarederror"
    objectives = tuple(o for o in OBJECTIVES if o not in CLASSIFICATION)

    def predict(self, ctx: Context, X: Any) -> np.ndarray | None:
        return predict(ctx, self._model(), X, self._predict_key())
