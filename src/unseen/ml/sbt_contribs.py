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
from numba import njit

from unseen.ml.sbt_kernels import FeatureThreads
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
    threads: FeatureThreads | None = None,
) -> tuple[np.ndarray, float]:
    """Exact SHAP values of one tree for every row, as XGBoost's ``pred_contribs``
    (``approx_contribs=False``): the path-dependent TreeSHAP of S. M. Lundberg, G. G. Erion
    and S.-I. Lee, "Consistent individualized feature attribution for tree ensembles"
    (arXiv:1802.03888, 2018), Algorithm 2, as XGBoost implements it (a feature met twice
    on a path has its earlier split unwound and redone). The expectations weigh a node's
    children by their training covers, so the rows' shares do not depend on one another.

    ``goes_left``: ``(n, nodes)``, the side each row takes at every inner node -- also
    where its path does not pass, which is why exact SHAP needs every party's answer at
    every split of its own. ``feature[j]``: inner node ``j``'s feature, an index of all
    features. Returns the shares ``(n, n_features)`` and the tree's root mean (its part of
    the bias); for every row the shares and the root mean add up to the row's leaf value.
    ``threads``: the rows in parts, one per core (the compiled loop releases the GIL).
    """
    walk = _Walk(layout, feature, cover, value, goes_left, n_features, threads)
    return walk.shap(), walk.root_mean


def tree_shap_interactions(
    layout: TreeLayout,
    feature: np.ndarray,
    cover: np.ndarray,
    value: np.ndarray,
    goes_left: np.ndarray,
    n_features: int,
    threads: FeatureThreads | None = None,
) -> tuple[np.ndarray, float]:
    """SHAP interaction values of one tree for every row, as XGBoost's
    ``pred_interactions``: ``(n, n_features, n_features)`` and the tree's root mean.

    For each feature ``i`` the tree splits on, TreeSHAP is run twice with ``i``
    conditioned on (every row follows its own side at ``i``'s splits) and off (every row
    follows both sides, weighed by cover) -- Lundberg, Erion and Lee (2018), section
    4.2, the ``condition`` of XGBoost's TreeShap; off the diagonal ``phi[i, k]`` is half
    the difference of feature ``k``'s values between the two, and ``phi[i, i]`` is ``i``'s
    SHAP value less its interactions, so that each row of the matrix adds up to the
    feature's SHAP value. A feature the tree does not split on has no interaction. Same
    arguments as :func:`tree_shap` (and the same split sides: nothing more is needed).
    """
    walk = _Walk(layout, feature, cover, value, goes_left, n_features, threads)
    phi = walk.shap()
    n = phi.shape[0]
    out = np.zeros((n, n_features, n_features))
    for i in np.unique(walk.feature[walk.left >= 0]).tolist():
        on, off = walk.shap(condition=1, on_feature=i), walk.shap(condition=-1, on_feature=i)
        out[:, i, :] = (on - off) / 2.0
        out[:, i, i] = 0.0
        out[:, i, i] = phi[:, i] - out[:, i, :].sum(axis=1)
    return out, walk.root_mean


class _Walk:
    """One tree and the rows' split sides, ready for the compiled loop (:func:`_shap_rows`)."""

    def __init__(
        self,
        layout: TreeLayout,
        feature: np.ndarray,
        cover: np.ndarray,
        value: np.ndarray,
        goes_left: np.ndarray,
        n_features: int,
        threads: FeatureThreads | None,
    ) -> None:
        self.left = np.ascontiguousarray(layout.left, dtype=np.int64)
        self.right = np.ascontiguousarray(layout.right, dtype=np.int64)
        self.feature = np.ascontiguousarray(feature, dtype=np.int64)
        self.cover = np.ascontiguousarray(cover, dtype=np.float64)
        self.value = np.ascontiguousarray(value, dtype=np.float64)
        self.goes_left = np.ascontiguousarray(goes_left, dtype=np.bool_)
        self.depth = _depth(self.left, self.right)
        self.n_features, self.threads = n_features, threads
        self.root_mean = float(node_means(layout, self.cover, self.value)[0])

    def shap(self, condition: int = 0, on_feature: int = -1) -> np.ndarray:
        """Every row's SHAP values, ``(n, n_features)``; ``condition`` 1 or -1: with
        feature ``on_feature`` conditioned on or off."""
        phi = np.zeros((self.goes_left.shape[0], self.n_features))

        def rows(span: slice) -> None:
            _shap_rows(
                self.left,
                self.right,
                self.feature,
                self.cover,
                self.value,
                self.goes_left[span],
                self.depth,
                phi[span],
                condition,
                on_feature,
            )

        if self.threads is None:
            rows(slice(None))
        else:
            self.threads.map(self.goes_left.shape[0], rows)
        return phi


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """The tree's depth (edges from the root to its deepest leaf)."""
    depth = np.zeros(left.size, dtype=np.int64)
    for j in range(left.size):  # parents first
        if left[j] >= 0:
            depth[left[j]] = depth[right[j]] = depth[j] + 1
    return int(depth.max(initial=0))


#: rows that go through a tree together (their paths' weights stay in a core's cache)
_BLOCK = 128


@njit(cache=True, nogil=True)
def _shap_rows(left, right, feature, cover, value, goes_left, depth, phi, condition, on_feature):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Every row's SHAP values of one tree into ``phi``, a block of rows at a time;
    ``condition`` 1 or -1: with feature ``on_feature`` conditioned on or off (0: none).

    XGBoost's recursive TreeShap, with an explicit stack and every row of a block at each
    step: the tree is walked in the same order for every row (depth first); a path's
    features and zero fractions (cover ratios) are the same for all rows, its one
    fractions (0 or 1: does the row follow it) and permutation weights are per row. A
    node's path lives in its own segment of one buffer, after its parent's, which its
    subtree leaves as it was. Divisions by small integers are looked up (``ratio[a, b]
    = a / b``); a one fraction, 0 or 1, is never divided by."""
    size = (depth + 3) * (depth + 4) // 2 + 2
    room = 2 * depth + 4
    ratio = np.zeros((depth + 4, depth + 4))
    for a in range(depth + 4):
        for b in range(1, depth + 4):
            ratio[a, b] = a / b
    feat = np.empty(size, dtype=np.int64)
    zero = np.empty(size)
    one = np.empty((size, _BLOCK))
    w = np.empty((size, _BLOCK))
    s_node = np.empty(room, dtype=np.int64)
    s_depth = np.empty(room, dtype=np.int64)
    s_parent = np.empty(room, dtype=np.int64)
    s_feat = np.empty(room, dtype=np.int64)
    s_zero = np.empty(room)
    s_one = np.empty((room, _BLOCK))
    s_share = np.empty((room, _BLOCK))  # the condition fraction: how much of the row is here
    nxt, total, incoming = np.empty(_BLOCK), np.empty(_BLOCK), np.empty(_BLOCK)
    share = np.empty(_BLOCK)  # this node's condition fractions (its stack slot is reused)
    n = goes_left.shape[0]
    for r0 in range(0, n, _BLOCK):
        m = min(_BLOCK, n - r0)
        # the root: no parent path, fractions 1 and a feature of none (-1)
        s_node[0], s_depth[0], s_parent[0], s_feat[0], s_zero[0] = 0, 0, 0, -1, 1.0
        s_one[0, :m] = 1.0
        s_share[0, :m] = 1.0
        top = 1
        while top > 0:
            top -= 1
            j, d, parent = s_node[top], s_depth[top], s_parent[top]
            base = parent + d + 1
            share[:m] = s_share[top, :m]
            # a split on the conditioned feature is not on the path: its children keep the
            # parent's path (d elements and the last, d + 1) and extend nothing
            extend = condition == 0 or s_feat[top] != on_feature
            for i in range(d if extend else d + 1):  # the parent's path
                feat[base + i], zero[base + i] = feat[parent + i], zero[parent + i]
                one[base + i, :m] = one[parent + i, :m]
                w[base + i, :m] = w[parent + i, :m]
            if extend:  # ExtendPath: element d, then the permutation weights
                z = s_zero[top]
                feat[base + d], zero[base + d] = s_feat[top], z
                one[base + d, :m] = s_one[top, :m]
                w[base + d, :m] = 1.0 if d == 0 else 0.0
                for i in range(d - 1, -1, -1):
                    up, keep = ratio[i + 1, d + 1], z * ratio[d - i, d + 1]
                    for r in range(m):
                        w[base + i + 1, r] += one[base + d, r] * w[base + i, r] * up
                        w[base + i, r] *= keep
            if left[j] < 0:  # a leaf: each feature on the path takes its share of the value
                for i in range(1, d + 1):  # UnwoundPathSum of element i
                    zi = zero[base + i]
                    inv_z = 1.0 / zi
                    for r in range(m):
                        nxt[r], total[r] = w[base + d, r], 0.0
                    for k in range(d - 1, -1, -1):
                        up, down = ratio[d + 1, k + 1], zi * ratio[d - k, d + 1]
                        back = ratio[d + 1, d - k] * inv_z
                        for r in range(m):
                            if one[base + i, r] != 0.0:
                                t = nxt[r] * up
                                total[r] += t
                                nxt[r] = w[base + k, r] - t * down
                            else:
                                total[r] += w[base + k, r] * back
                    f = feat[base + i]
                    for r in range(m):
                        phi[r0 + r, f] += total[r] * (one[base + i, r] - zi) * value[j] * share[r]
                continue
            f = feature[j]
            incoming_zero = 1.0
            incoming[:m] = 1.0
            for k in range(d + 1):  # split on this feature before: undo that, redo it here
                if feat[base + k] != f:
                    continue
                zk = zero[base + k]
                incoming_zero = zk
                incoming[:m] = one[base + k, :m]
                inv_z = 1.0 / zk
                for r in range(m):  # UnwindPath of element k
                    nxt[r] = w[base + d, r]
                for i in range(d - 1, -1, -1):
                    up, down = ratio[d + 1, i + 1], zk * ratio[d - i, d + 1]
                    back = ratio[d + 1, d - i] * inv_z
                    for r in range(m):
                        if incoming[r] != 0.0:
                            t = w[base + i, r]
                            w[base + i, r] = nxt[r] * up
                            nxt[r] = t - w[base + i, r] * down
                        else:
                            w[base + i, r] *= back
                for i in range(k, d):
                    feat[base + i], zero[base + i] = feat[base + i + 1], zero[base + i + 1]
                    one[base + i, :m] = one[base + i + 1, :m]
                d -= 1
                break
            conditioned = condition != 0 and f == on_feature
            if conditioned:  # the children do not extend the path (see above)
                d -= 1
            # both children onto the stack (right first: the left subtree runs before it)
            for child in (right[j], left[j]):
                goes = child == left[j]
                s_node[top], s_depth[top], s_parent[top], s_feat[top] = child, d + 1, base, f
                ratio_c = cover[child] / cover[j]
                s_zero[top] = ratio_c * incoming_zero
                for r in range(m):
                    hot = goes_left[r0 + r, j] == goes
                    s_one[top, r] = incoming[r] if hot else 0.0
                    if not conditioned:
                        s_share[top, r] = share[r]
                    elif condition > 0:  # on: the row follows its own side only
                        s_share[top, r] = share[r] if hot else 0.0
                    else:  # off: the row follows both sides, weighed by their covers
                        s_share[top, r] = share[r] * ratio_c
                top += 1
