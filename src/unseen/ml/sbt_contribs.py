"""Per-feature contributions to a SecureBoost model's margins, at the guest.

Each row's margin is split into a share per feature of every party and a bias, as
XGBoost's ``predict(pred_contribs=True, approx_contribs=True)``: Saabas's method
(A. Saabas, "Interpreting random forests", 2014; as in the ``treeinterpreter``
package and XGBoost). Every node has a mean value, its leaves' values weighed by
their training covers (hessian sums); along the row's path, each split's feature
takes the change of mean from the node to the child the row goes to, and the bias
is the root's mean plus the base margin. The shares and the bias add up to the
margin; reason codes for a credit decision read the largest shares.

It needs only the leaf each row reaches, which joint prediction gives the guest
(:func:`unseen.ml.sbt_protocol.guest_leaves`), and the guest's part of the model
(covers, leaf values, which feature of which party each split uses): nothing is
sent beyond prediction's messages and the guest learns nothing more.

Exact SHAP values (XGBoost's default ``pred_contribs``, :func:`tree_shap`) need the side
a row takes at every host split, also off its path, which the hosts' leaf masks do not
show where the host's own splits send the row elsewhere. A host sends those sides only
with its consent (``unseen predict --exact-contribs``), and the guest then learns them
for the rows scored: a bit per row and host split.
"""

from __future__ import annotations

import numpy as np

from unseen.ml.sbt_tree import TreeLayout


def node_means(layout: TreeLayout, cover: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Every node's mean value: a leaf's value; an inner node's, its children's means
    weighed by their covers over its own cover (XGBoost's node mean values)."""
    mean = np.array(value, dtype=np.float64)
    for j in range(layout.n_nodes - 1, -1, -1):  # children have larger ids
        a, b = layout.left[j], layout.right[j]
        if a >= 0:
            mean[j] = (cover[a] * mean[a] + cover[b] * mean[b]) / cover[j]
    return mean


def leaf_contributions(
    layout: TreeLayout, feature: np.ndarray, cover: np.ndarray, value: np.ndarray, n_features: int
) -> tuple[np.ndarray, float]:
    """Per leaf (in ``layout.leaves()`` order), the shares of the features on its path
    (``(leaves, n_features)``), and the tree's root mean (its part of the bias).
    ``feature[j]``: inner node ``j``'s feature, an index of all features."""
    mean = node_means(layout, cover, value)
    share = {0: np.zeros(n_features)}
    for j in range(layout.n_nodes):  # parents first
        if layout.left[j] < 0:
            continue
        for child in (layout.left[j], layout.right[j]):
            share[child] = share[j].copy()
            share[child][feature[j]] += mean[child] - mean[j]
    leaves = layout.leaves()
    return np.stack([share[int(v)] for v in leaves]), float(mean[0])


# --------------------------------------------------------------------------- exact TreeSHAP


def tree_shap(
    layout: TreeLayout,
    feature: np.ndarray,
    cover: np.ndarray,
    value: np.ndarray,
    goes_left: np.ndarray,
    n_features: int,
) -> tuple[np.ndarray, float]:
    """Exact SHAP values of one tree for every row, as XGBoost's ``pred_contribs``
    (``approx_contribs=False``): the path-dependent TreeSHAP of S. M. Lundberg, G. G. Erion
    and S.-I. Lee, "Consistent individualized feature attribution for tree ensembles"
    (arXiv:1802.03888, 2018), Algorithm 2, with XGBoost's handling of a feature met twice
    on a path (the earlier split is unwound and redone). The expectations weigh a node's
    children by their training covers, so the rows' shares do not depend on one another.

    ``goes_left``: ``(n, nodes)``, the side each row takes at every inner node -- also
    where its path does not pass, which is why exact SHAP needs every party's answer at
    every split of its own. ``feature[j]``: inner node ``j``'s feature, an index of all
    features. Returns the shares ``(n, n_features)`` and the tree's root mean (its part of
    the bias); for every row the shares and the root mean add up to the row's leaf value.

    The recursion visits every node once per tree with all rows at a time: the path's
    features and "zero fractions" (cover ratios) are the same for every row, only the
    "one fractions" (does the row follow this path) and the permutation weights differ.
    """
    n = goes_left.shape[0]
    phi = np.zeros((n, n_features))
    left, right = np.asarray(layout.left), np.asarray(layout.right)
    ones = np.ones(n)

    def extend(path: _Path, zero: float, one: np.ndarray, feat: int) -> None:
        depth = len(path.feat)  # the new element's index
        path.feat.append(feat)
        path.zero.append(zero)
        path.one.append(one)
        path.w.append(ones.copy() if depth == 0 else np.zeros(n))
        for i in range(depth - 1, -1, -1):
            path.w[i + 1] = path.w[i + 1] + one * path.w[i] * ((i + 1) / (depth + 1))
            path.w[i] = zero * path.w[i] * ((depth - i) / (depth + 1))

    def unwound_weights(path: _Path, k: int) -> tuple[list[np.ndarray], np.ndarray]:
        """The weights with element ``k`` taken out (XGBoost's UnwindPath for the first
        ``depth`` of them), and their sum (UnwoundPathSum)."""
        depth = len(path.feat) - 1
        one, zero = path.one[k], path.zero[k]
        follows = one != 0
        safe_one = np.where(follows, one, 1.0)
        nxt = path.w[depth]
        out: list[np.ndarray] = [ones] * depth
        for i in range(depth - 1, -1, -1):
            a = nxt * (depth + 1) / ((i + 1) * safe_one)
            b = path.w[i] * (depth + 1) / (zero * (depth - i)) if zero else np.zeros(n)
            out[i] = np.where(follows, a, b)
            nxt = np.where(follows, path.w[i] - a * zero * ((depth - i) / (depth + 1)), nxt)
        return out, np.sum(out, axis=0) if out else np.zeros(n)

    def recurse(j: int, parent: _Path, zero: float, one: np.ndarray, feat: int) -> None:
        path = parent.copy()
        extend(path, zero, one, feat)
        if left[j] < 0:  # a leaf: each feature on the path gets its share of the value
            for i in range(1, len(path.feat)):
                w = unwound_weights(path, i)[1]
                phi[:, path.feat[i]] += w * (path.one[i] - path.zero[i]) * value[j]
            return
        f = int(feature[j])
        incoming_zero, incoming_one = 1.0, ones
        if f in path.feat:  # split on this feature before: undo that, redo it here
            k = path.feat.index(f)
            incoming_zero, incoming_one = path.zero[k], path.one[k]
            path.w = unwound_weights(path, k)[0]
            del path.feat[k], path.zero[k], path.one[k]
        side = goes_left[:, j]
        a, b = int(left[j]), int(right[j])
        recurse(a, path, cover[a] / cover[j] * incoming_zero, incoming_one * side, f)
        recurse(b, path, cover[b] / cover[j] * incoming_zero, incoming_one * ~side, f)

    recurse(0, _Path(), 1.0, ones, -1)
    return phi, float(node_means(layout, cover, value)[0])


class _Path:
    """TreeSHAP's unique path: per element its feature, zero fraction (a cover ratio, the
    same for every row), one fraction and permutation weight (one per row)."""

    def __init__(self) -> None:
        self.feat: list[int] = []
        self.zero: list[float] = []
        self.one: list[np.ndarray] = []
        self.w: list[np.ndarray] = []

    def copy(self) -> _Path:
        out = _Path()
        out.feat, out.zero, out.one, out.w = [*self.feat], [*self.zero], [*self.one], [*self.w]
        return out
