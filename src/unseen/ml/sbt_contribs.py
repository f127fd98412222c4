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
sent beyond prediction's messages and the guest learns nothing more. Exact TreeSHAP
(XGBoost's default ``pred_contribs``) is not offered: it needs the side a row takes at
every host split, also off its path, which the hosts' leaf masks do not show where the
host's own splits send the row elsewhere.
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
