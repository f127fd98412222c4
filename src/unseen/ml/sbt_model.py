"""A party's part of a SecureBoost model, and the checks of what a party brings to training.

:class:`PartyModel` is what each party keeps (the guest: every node but the hosts'
thresholds, with the leaf values; a host: its own splits with their thresholds, and the
shape of the rest), saved and loaded per party. The checks turn a party's features,
label and weights into arrays, or an :class:`~unseen.runtime.errors.InputError` naming
the file, row and column; :func:`load_table` reads an aligned table with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unseen.ml.data import PartyData, encode_categories, load_party_data
from unseen.ml.model_io import load_model_part, save_model_part
from unseen.ml.objectives import BINARY, INTERVAL, LOG_LINK, MULTICLASS, label_kind
from unseen.ml.sbt_protocol import (
    BoostParams,
    NodeRecords,
    PartyTrees,
    Roles,
)
from unseen.ml.sbt_tree import LocalSplits, TreeLayout
from unseen.runtime.errors import ConfigError, InputError, ProtocolError

if TYPE_CHECKING:
    import pandas as pd

MODEL_TYPE = "secureboost"


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
    # guest: the training rows' scores in bands (edges, shares), the reference of the
    # population stability index at prediction; None for several classes
    training_scores: dict[str, Any] | None = None
    # this party's categorical features: name -> its categories, in code order
    categories: dict[str, list[str]] = field(default_factory=dict)
    # this party's training columns in bands (edges, shares, missing share), the reference
    # of its features' stability in later data; its own, never sent; empty: saved before
    feature_bands: dict[str, dict[str, Any]] = field(default_factory=dict)
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

    def plot_tree(self, path: str | Path, tree: int = 0) -> Path | None:
        """Tree ``tree`` as this party sees it, drawn as a PNG at ``path`` (XGBoost's
        ``plot_tree``; :func:`~unseen.ml.report.write_tree_chart`): the guest every node
        with a host's split by its feature and bin, a host its own thresholds and the
        shape of the rest. ``None`` and nothing written without matplotlib."""
        from unseen.ml.report import write_tree_chart

        if not 0 <= tree < self.n_trees:
            raise ConfigError(f"no tree {tree}: the model has {self.n_trees}")
        title = f"tree {tree} as {self.party} ({self.role}) sees it"
        return write_tree_chart(path, self.trees_to_dataframe(), tree, title)

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
                **(
                    {"training_scores": self.training_scores}
                    if self.training_scores is not None
                    else {}
                ),
            }
        if self.feature_bands:
            meta["feature_bands"] = self.feature_bands
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
                training_scores=_training_scores(meta.get("training_scores")),
                feature_bands=_feature_bands(meta.get("feature_bands", {})),
            )
        except (KeyError, IndexError, ValueError, TypeError, ProtocolError, ConfigError) as e:
            raise InputError(f"malformed SecureBoost model: {e}", file=where) from None


def _training_scores(saved: Any) -> dict[str, Any] | None:
    """A saved score reference, checked: ``edges`` and one more ``shares``, or for several
    classes such bands per class (``classes``) and the likeliest class's shares
    (``predicted``, one per class); ``None`` if none."""
    if saved is None:
        return None
    if "classes" in saved:
        classes = [_training_scores(c) for c in saved["classes"]]
        predicted = [float(v) for v in saved["predicted"]]
        if len(predicted) != len(classes):
            raise ValueError("training_scores: a share of the likeliest class per class")
        return {"classes": classes, "predicted": predicted}
    return _bands(saved, "training_scores")


def _feature_bands(saved: Any) -> dict[str, dict[str, Any]]:
    """Saved feature bands, checked: per feature ``edges``, one more ``shares`` and the
    ``missing`` share."""
    return {
        str(name): {
            **_bands(bands, f"feature_bands of {name!r}"),
            "missing": float(bands["missing"]),
        }
        for name, bands in dict(saved).items()
    }


def _bands(saved: Any, what: str) -> dict[str, list[float]]:
    """Saved bands ``edges`` and ``shares`` (one more share than edges), checked."""
    edges = [float(v) for v in saved["edges"]]
    shares = [float(v) for v in saved["shares"]]
    if len(shares) != len(edges) + 1:
        raise ValueError(f"{what}: one share more than edges")
    return {"edges": edges, "shares": shares}


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


def no_columns(y: Any) -> np.ndarray:
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
    return counts  # at most max_bin each: check_category_counts, once the guest's is known


def recoding(
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


def check_category_counts(counts: np.ndarray, features: list[str], max_bin: int, file: str) -> None:
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
    (``multi:softprob``, ``multi:softmax``), non-negative (``count:poisson``,
    ``reg:tweedie``), positive (``reg:gamma``), in [0, 1] (``reg:logistic``), above -1
    (``reg:squaredlogerror``), a time, negative where censored, not 0 (``survival:cox``,
    with one event or more), an interval (``survival:aft``: :func:`check_intervals`) or
    any finite number (``reg:squarederror``); else InputError naming
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
    if objective in MULTICLASS:
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
    if objective in BINARY:
        wrong = (arr != 0) & (arr != 1)
        if wrong.any():
            raise bad(f"{what} must be binary (0/1) for {objective}", int(np.argmax(wrong)) + 1)
        if arr.min() == arr.max():
            raise bad(f"{what} has only one class")
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
        label_kind=label_kind(objective),
        weight=weight,
        categorical=categorical or {},  # a text cell elsewhere: hint at --categorical
        allow_no_features=label is not None,  # the guest may bring the label alone
        label_upper=label_upper,
    )
    if data.y is not None and objective in INTERVAL:
        check_intervals(data.y, data.n, "the label", file=data.file, columns=(label, label_upper))
    if data.n == 0:
        raise InputError("no rows", file=data.file)
    if data.y is not None and num_class is not None and objective in MULTICLASS:
        beyond = data.y >= num_class
        if beyond.any():  # never echo label values
            raise InputError(
                f"the label must be a class index below num_class ({num_class})",
                file=data.file,
                row=int(np.argmax(beyond)) + 1,
                column=label,
            )
    return data


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
