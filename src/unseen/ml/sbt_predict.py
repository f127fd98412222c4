"""Joint prediction with a SecureBoost model, and what the guest can learn from it:
feature contributions (Saabas's and exact SHAP values), SHAP interaction values, and
each row's leaf in every tree.

Every party runs the same call with its part of the model and its columns of the same
rows; only the guest, which holds the leaf values, learns scores. What each call
reveals is stated in :func:`predict` and ``docs/security.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from unseen.ml.model_io import register_predictor
from unseen.ml.sbt_contribs import leaf_contributions, tree_shap, tree_shap_interactions
from unseen.ml.sbt_kernels import FeatureThreads
from unseen.ml.sbt_model import MODEL_TYPE, PartyModel, check_features, frame_matrix, mark_missing
from unseen.ml.sbt_protocol import (
    guest_leaves,
    guest_split_sides,
    leaf_nodes,
    margins_of_leaves,
    named_features,
    predict_guest,
    predict_host,
    send_split_sides,
)
from unseen.ml.sbt_tree import TreeLayout, scores_of, transform
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, InputError, ProtocolError

if TYPE_CHECKING:
    pass


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
    if pred_leaf:
        both = predict_leaves(ctx, model, X, key)
        return None if both is None else both[1]
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
            margin = predict_guest(
                ctx, model.trees, model.base_margin, X, list(model.roles.hosts), key
            )
            return margin if output_margin else transform(model.params.objective, margin)
        predict_host(ctx, model.trees, X, model.roles.guest, key)
        return None


def predict_leaves(
    ctx: Context,
    model: PartyModel,
    X: Any,
    key: str = "sbt-predict",
    *,
    output_margin: bool = False,
) -> tuple[np.ndarray, np.ndarray] | None:
    """One joint prediction that gives the guest both the predictions (as
    :func:`predict`'s; the margins with ``output_margin``) and each row's leaf in every
    tree as its node id, ``(n, trees)`` (XGBoost's ``pred_leaf``: the leaf encoding of
    GBDT + LR, FATE's SBT feature transformer); ``None`` at hosts, which run their usual
    side."""
    X = _prepared(model, X)
    _request(ctx, model, X, key, exact=False)
    with ctx.step("prediction"):
        if model.role != "guest":
            predict_host(ctx, model.trees, X, model.roles.guest, key)
            return None
        # one round of leaf masks gives the guest both
        leaves = guest_leaves(ctx, model.trees, X, list(model.roles.hosts), key)
        margin = margins_of_leaves(model.trees, model.base_margin, leaves, X.shape[0])
        nodes = leaf_nodes(model.trees, leaves, X.shape[0])
        return (margin if output_margin else transform(model.params.objective, margin)), nodes


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
    holds the leaf weights, can learn the scores (:func:`~unseen.ml.sbt_tree.scores_of`:
    each class's probability for ``multi:softmax`` as well, the margin for
    ``binary:hinge``). ``contribs`` (the guest's): the scores, each row's margin split
    per feature (:func:`contributions`, whose sum gives the scores: one joint
    prediction) and the shares' names; the hosts' part is the same either way. ``exact``: at the guest, exact SHAP values
    (:func:`exact_contributions`); at a host, its consent to them (and to interaction
    values). ``interactions`` (the guest's): the scores, the exact contributions where
    ``contribs`` (else ``None``), the names, and the mean absolute SHAP interaction value
    of every pair of features (:func:`interaction_summary`: one joint prediction).
    ``leaves`` (the guest's): the scores and each row's leaf in every tree
    (:func:`predict_leaves`: one joint prediction); a host's part is the same.
    """
    model = PartyModel.from_parts(meta, arrays)
    objective = model.params.objective
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
        scores = scores_of(objective, exact_shares.sum(axis=-1))
        return scores, exact_shares if contribs else None, contribution_names(model), pairs
    if leaves and model.role == "guest":
        both = predict_leaves(ctx, model, X, output_margin=True)
        assert both is not None
        return scores_of(objective, both[0]), both[1]
    if contribs and model.role == "guest":
        shares = predict(ctx, model, X, pred_contribs=True, approx_contribs=not exact)
        assert shares is not None
        return scores_of(objective, shares.sum(axis=-1)), shares, contribution_names(model)
    if model.role == "guest" and not exact:
        margin = predict(ctx, model, X, output_margin=True)
        assert margin is not None
        return scores_of(objective, margin)
    return predict(ctx, model, X, pred_contribs=exact, approx_contribs=not exact)
