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

from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unseen.ml.data import PartyData, check_alignment
from unseen.ml.metrics import feature_bands, feature_stability
from unseen.ml.objectives import BINARY, CLASSIFICATION, OBJECTIVES
from unseen.ml.sbt_binning import BinMapper, bin_mask
from unseen.ml.sbt_model import (
    MODEL_TYPE,
    PartyModel,
    as_missing,
    category_counts,
    check_category_counts,
    check_features,
    check_intervals,
    check_label,
    check_weights,
    frame_matrix,
    load_table,
    mark_missing,
    no_columns,
    recoding,
)
from unseen.ml.sbt_predict import (
    contribution_names,
    contributions,
    exact_contributions,
    exact_interactions,
    interaction_summary,
    predict,
    predict_leaves,
    predict_party,
)
from unseen.ml.sbt_protocol import (
    DEALER_MODES,
    MODES,
    BoostParams,
    Guest,
    GuestExchange,
    Host,
    HostExchange,
    PartyTrees,
    PlainGuestExchange,
    PlainHostExchange,
    Roles,
    RowSampler,
    handshake,
    predict_guest,
    predict_host,
    tree_rows,
)
from unseen.ml.sbt_tree import EVAL_METRICS, MAXIMIZE, scores_of
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, InputError, ProtocolError

if TYPE_CHECKING:
    import pandas as pd

#: the public API: training, cross-validation and the estimators here; a party's model
#: part and the input checks (:mod:`unseen.ml.sbt_model`) and prediction
#: (:mod:`unseen.ml.sbt_predict`) re-exported
__all__ = [
    "MODEL_TYPE",
    "PartyModel",
    "SecureBoostClassifier",
    "SecureBoostRegressor",
    "check_features",
    "check_intervals",
    "check_label",
    "check_weights",
    "contribution_names",
    "contributions",
    "cross_validate",
    "exact_contributions",
    "exact_interactions",
    "feature_bands",
    "feature_stability",
    "frame_matrix",
    "interaction_summary",
    "load_table",
    "mark_missing",
    "predict",
    "predict_leaves",
    "predict_party",
    "secureboost_bins",
    "security_statement",
    "train",
    "xgboost_params",
    "xgboost_reference",
]

# the model part and the input checks, and prediction, re-exported: the public API is here
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
        X = no_columns(y)
        if eval_set is not None and eval_set[0] is None and eval_set[1] is not None:
            eval_set = (no_columns(eval_set[1]), eval_set[1])
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
        recode = recoding(init_model.categories, features, categories or {}, file)
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
    model.feature_bands = feature_bands(X, features, categories)
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
        X = no_columns(y)
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
        check_category_counts(categories, features, params.max_bin, file)
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
        training_scores=_score_reference(params.objective, result.train_margin),
    )
    return model if init is None else _continued(init, model)


def _score_reference(objective: str, margin: np.ndarray | None) -> dict[str, Any] | None:
    """The training rows' scores in ten bands (:func:`~unseen.ml.metrics.score_bands`),
    kept in the guest's model for the stability index of later scores; for several
    classes, each class's probability in ten bands and the likeliest class's shares
    (:func:`~unseen.ml.metrics.class_score_bands`); ``None`` with no rows."""
    if margin is None or not margin.size:
        return None
    from unseen.ml.metrics import class_score_bands, score_bands

    scores = scores_of(objective, margin)
    if scores.ndim == 2:
        return class_score_bands(scores)
    edges, shares = score_bands(scores)
    return {"edges": edges.tolist(), "shares": shares.tolist()}


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
            check_category_counts(categories, features, theirs.max_bin, file)
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
        fair_c: float = 1.0,
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
            fair_c=fair_c,
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

    def score_stability(self, scores: Any) -> float:
        """The population stability index of ``scores`` (this model's predictions of new
        rows, at the guest) against the training rows' scores, which the guest's model
        part keeps in ten bands: below 0.1 stable, 0.1-0.25 a shift worth a look, above
        0.25 shifted (:func:`~unseen.ml.metrics.stability_index`). No label is needed."""
        from unseen.ml.metrics import stability_index

        reference = self._model().training_scores
        if reference is None or "edges" not in reference:
            raise ConfigError(
                "no training scores to compare with: the guest's part of a model with one "
                "score a row keeps them (several classes: class_stability)"
            )
        edges, shares = np.asarray(reference["edges"]), np.asarray(reference["shares"])
        return stability_index(edges, shares, scores)

    def class_stability(self, proba: Any) -> dict[str, Any]:
        """Several classes: the stability of new rows' class probabilities (``n x K``, at
        the guest) against the training rows', as ``per_class`` (the PSI of each class's
        probability) and ``predicted`` (the PSI of the likeliest class's shares)
        (:func:`~unseen.ml.metrics.class_stability`). No label is needed."""
        from unseen.ml.metrics import class_stability

        reference = self._model().training_scores
        if reference is None or "classes" not in reference:
            raise ConfigError(
                "no class probabilities to compare with: the guest's part of a model of "
                "several classes keeps them (one score a row: score_stability)"
            )
        return class_stability(reference, np.asarray(proba, dtype=np.float64))

    def predict_margin(self, ctx: Context, X: Any) -> np.ndarray | None:
        """The raw margins at the guest (``(n, K)`` for several classes); ``None`` at hosts."""
        return predict(ctx, self._model(), X, self._predict_key(), output_margin=True)

    @property
    def feature_importances_(self) -> dict[str, float]:
        return self._model().feature_importance("total_gain")

    @property
    def n_trees_(self) -> int:
        return self._model().n_trees

    def plot_tree(self, path: str | Path, tree: int = 0) -> Path | None:
        """Tree ``tree`` as this party sees it, as a PNG at ``path`` (see
        :meth:`PartyModel.plot_tree`); ``None`` without matplotlib."""
        return self._model().plot_tree(path, tree)

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
        if len(cls.objectives) == 1 or params["objective"] not in cls.objectives:
            del params["objective"]  # the class's, or the label's (several classes)
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
    order, and they become 0, 1, ... for training. ``objective`` for two classes:
    ``binary:logistic`` (the default), ``binary:logitraw`` (the same model: its
    ``predict_proba`` are the same probabilities, from the log-odds the model predicts)
    or ``binary:hinge`` (classes only: ``predict``, no ``predict_proba``)."""

    objective = "binary:logistic"
    objectives = BINARY

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
            params = self._several(params, classes)
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
            params = self._several(params, classes)
        return y, params

    @staticmethod
    def _several(params: BoostParams, classes: np.ndarray | None) -> BoostParams:
        """``params`` for the classes of ``y``: multi:softprob for more than two (from
        binary:logistic; the other binary objectives are for two classes only)."""
        if classes is None or len(classes) <= 2:
            return params
        if params.objective != "binary:logistic":
            raise ConfigError(
                f"{params.objective} is for two classes; y has {len(classes)}: leave "
                "objective unset for a tree per class (multi:softprob)"
            )
        return replace(params, objective="multi:softprob", num_class=len(classes))

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the order of ``predict_proba``'s columns (the guest's)."""
        m = self._model()
        if m.classes is not None:
            return np.asarray(m.classes)
        return np.arange(max(2, m.params.num_class))

    def predict_proba(self, ctx: Context, X: Any) -> np.ndarray | None:
        """``(n, classes)`` class probabilities at the guest; ``None`` at hosts."""
        model = self._model()
        if model.params.objective == "binary:hinge":
            raise ConfigError("binary:hinge predicts classes, no probabilities: use predict")
        margin = predict(ctx, model, X, self._predict_key(), output_margin=True)
        if margin is None:
            return None
        p = scores_of("binary:logistic" if margin.ndim == 1 else "multi:softprob", margin)
        return p if p.ndim == 2 else np.stack([1 - p, p], axis=1)

    def predict(self, ctx: Context, X: Any) -> np.ndarray | None:
        """The most probable class label of each row at the guest; ``None`` at hosts."""
        if self._model().params.objective == "binary:hinge":  # the side of the margin
            margin = predict(ctx, self._model(), X, self._predict_key(), output_margin=True)
            return None if margin is None else np.asarray(self.classes_[(margin > 0) * 1])
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
    magnitude). FATE's robust losses: ``reg:fair`` (``fair_c``) and ``reg:logcosh``, both
    about squared error near the label and absolute error far from it. Survival, as XGBoost's ``survival:cox``: Cox's proportional hazards, the
    label a time (``-t`` where the row was censored at ``t``); ``predict`` gives the
    hazard ratio, ``exp`` of the margin. And ``survival:aft``, the accelerated failure
    time model (:mod:`unseen.ml.aft`; ``aft_loss_distribution`` and
    ``aft_loss_distribution_scale``): ``y`` is ``(n, 2)``, each row's lower and upper
    bound of the time (``inf`` above: censored on the right); ``predict`` gives times."""

    objective = "reg:squarederror"
    objectives = tuple(o for o in OBJECTIVES if o not in CLASSIFICATION)

    def predict(self, ctx: Context, X: Any) -> np.ndarray | None:
        return predict(ctx, self._model(), X, self._predict_key())
