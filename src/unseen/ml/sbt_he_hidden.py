"""``he-hidden`` SecureBoost: ``he`` with the instance spaces hidden from the hosts.

In classic SecureBoost (``he``, :mod:`unseen.ml.sbt_he`) a host learns which rows
reach every node, because it sums the guest's encrypted gradients node by node.
Those instance spaces follow the labels: a host can tell, for instance, which of
its rows the first tree put with the rows of large gradients. Here a host never
learns them. The guest hides each row's node inside the encrypted value itself,
as in the basic protocol of Pivot (Y. Wu, S. Cai, X. Xiao, G. Chen, B. C. Ooi,
"Privacy preserving vertical federated learning for tree-based models", PVLDB
13(11), 2020, section 4.2: the passive parties combine an encrypted indicator
vector of the node's samples with the encrypted gradients, so that they obtain
encrypted per-bin statistics without knowing the node's samples), with the
guest holding the key as in SecureBoost (Pivot's threshold decryption and MPC
split search are not used: the guest learns the per-bin sums, as in ``he``).
The indicator and the gradients are one plaintext per row: a row's packed
``(g, h)`` is shifted into the slot of its node, so one sum per (feature, bin)
holds every node's sum at once.

Per depth, with ``w`` the bits of one packed ``(g, h)`` and ``S`` the node slots
a plaintext holds (``S = packing_bits // w``: 26 for Paillier-2048 and 8 for
OU-2048 at 100,000 logistic rows):

1. **Guest.** For every training row it encrypts ``(g + h 2^(w/2)) 2^(w s)``, ``s``
   the row's slot among the nodes whose sums it needs, or ``0`` for a row in no
   such node (a leaf, a larger sibling whose sums come by subtraction, or a row
   outside the tree's sample): ``n`` fresh ciphertexts, all alike to the host
   (``ceil(nodes / S)`` per row when the nodes exceed one plaintext).
2. **Host.** For each (feature, bin) it multiplies the ciphertexts of the rows
   in that bin -- every row: it cannot tell which are zero. Slot ``s`` of the
   plaintext sum is node ``s``'s per-bin sum. It re-randomises the sums and
   returns them (and which (feature, bin) cells hold any row: known from set-up).
3. **Guest.** Decrypts, unpacks each node's sums.
4. **Routing.** For each split of a host, the host sends the side of *every*
   row (it does not know the node's rows); the guest moves the node's rows. The
   guest's own splits, and other hosts' splits, are never sent to a host.

Leakage (semi-honest parties, IND-CPA of the scheme):

- a **host** sees only ciphertexts, the tree shapes, and which of its own
  (feature, bin) splits were chosen at which node (as in ``he``); not which rows
  reach any node, not a node's size, not the tree's row sample (drawn from an
  AES-CTR stream, :class:`~unseen.ml.sbt_protocol.RowSampler`);
- the **guest** learns what it learns in ``he`` and, for each host split chosen,
  which side every training row falls on, not only the node's rows. That is a little
  more than joint prediction of the training rows
  (:func:`unseen.ml.sbt_protocol.predict_guest`) tells it: a row's side at a host
  split below one of the host's that sends the row the other way.

Cost against ``he``: the guest encrypts every row at every depth instead of
once per tree, and the host multiplies every row's ciphertext into its bins at
every depth (``he``: only the rows of the nodes summed, about half).
"""

from __future__ import annotations

import numpy as np

from unseen.crypto.he import object_array
from unseen.crypto.packing import SlotLayout, pack_ciphertexts
from unseen.ml.sbt_he import _NS, HeGuestExchange, HeHostExchange
from unseen.runtime.context import Context
from unseen.runtime.errors import ProtocolError

_HIDDEN = f"{_NS}-hidden"


def _cell_layout(pair_layout: SlotLayout, n_slots: int, group: int) -> SlotLayout:
    """How a host packs the (feature, bin) sums of node group ``group`` for the return
    trip: each sum fills as many ``(g, h)`` slots as the group has nodes, and as many
    sums share a ciphertext as fit (at the root, one node: 26 sums a Paillier plaintext)."""
    per_ct = pair_layout.n_slots
    nodes = min(per_ct, n_slots - group * per_ct)
    return SlotLayout(pair_layout.slot_bits * nodes, per_ct // nodes)


class HiddenGuestExchange(HeGuestExchange):
    """The guest's side: encrypt every row's ``(g, h)`` in its node's slot, each depth."""

    hides_instance_space = True

    def __init__(self, ctx: Context, hosts: list[str], *args: object, n_rows: int, **kw: object):
        """As :class:`~unseen.ml.sbt_he.HeGuestExchange`; ``n_rows``: the training rows
        (every tree's ciphertexts cover all of them)."""
        super().__init__(ctx, hosts, *args, **kw)  # type: ignore[arg-type]
        self.n_rows = n_rows
        self._pairs: list[int] = []  # each training row's packed (g, h); 0 outside the tree
        self._rows = np.arange(0)

    def begin_tree(
        self, tree: int, g: np.ndarray, h: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        gq, hq = self._fixed_point(g, h)
        scale = float(1 << self.frac_bits)
        self._rows = np.arange(self.n_rows) if rows is None else np.asarray(rows)
        pairs = [0] * self.n_rows
        shift = self.slot_bits
        for i, a, b in zip(self._rows.tolist(), gq.tolist(), hq.tolist(), strict=True):
            pairs[i] = a + (b << shift)
        self._pairs = pairs
        return gq / scale, hq / scale

    def histograms(
        self, tree: int, depth: int, slot: np.ndarray, n_slots: int
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        per_ct = self.layout.n_slots  # node slots in one plaintext
        groups = -(-n_slots // per_ct)
        width = self.layout.slot_bits  # a packed (g, h) pair
        node = np.full(self.n_rows, -1, dtype=np.int64)
        node[self._rows] = slot  # the tree's rows; the others are in no node summed
        cts = []
        for q in range(groups):
            lo = q * per_ct
            plain = object_array(
                [
                    p << (width * (s - lo)) if lo <= s < lo + per_ct else 0
                    for p, s in zip(self._pairs, node.tolist(), strict=True)
                ]
            )
            cts.append(self.pk.to_bytes(self._encrypt_rows(plain)))
        stacked = np.stack(cts)  # (groups, rows, ciphertext bytes)
        for host in self.hosts:
            self.ctx.send(host, f"{_HIDDEN}/{tree}/{depth}/gh", stacked)
        self.ahead.fill_to(groups * self.n_rows)  # for the next depth, made while hosts sum
        scale = float(1 << self.frac_bits)
        out = {}
        for host in self.hosts:
            mask, cols = self.masks[host], self.features.get(host)
            if cols is not None:  # the host summed only the tree's sample of its features
                mask = mask[cols]
            keep = self._recv_cells(host, f"{_HIDDEN}/{tree}/{depth}/cells", mask.shape)
            if np.any(keep & ~mask):
                raise ProtocolError(f"{host!r} reports rows in bins that cannot hold any")
            count = int(keep.sum())
            layouts = [_cell_layout(self.layout, n_slots, q) for q in range(groups)]
            sums = self._recv_sums(
                host,
                f"{_HIDDEN}/{tree}/{depth}/sums",
                sum(lay.packed_count(count) for lay in layouts),
            )
            g_full = np.zeros((n_slots, *mask.shape))
            h_full = np.zeros((n_slots, *mask.shape))
            start = 0
            for q, lay in enumerate(layouts):
                used = lay.packed_count(count)
                nodes = lay.slot_bits // self.layout.slot_bits  # node slots in this group
                try:
                    cells = lay.unpack(self.sk.decrypt_signed(sums[start : start + used]), count)
                    pairs = SlotLayout(self.layout.slot_bits, nodes).unpack(cells)
                    gh = self.pair.unpack(pairs).astype(np.float64) / scale
                except OverflowError:
                    raise ProtocolError(f"{host!r} sent sums out of range") from None
                start += used
                by_node = gh.reshape(count, nodes, 2).transpose(1, 0, 2)  # (node, cell, g/h)
                lo = q * self.layout.n_slots
                g_full[lo : lo + nodes, keep] = by_node[..., 0]
                h_full[lo : lo + nodes, keep] = by_node[..., 1]
            out[host] = (g_full, h_full)
        return out


class HiddenHostExchange(HeHostExchange):
    """A host's side: sum every row's ciphertext per (feature, bin), knowing no node."""

    hides_instance_space = True
    arrives = "the tree's start (encrypted gradients come at every depth)"

    def begin_tree(self, tree: int, bins: np.ndarray, rows: np.ndarray | None = None) -> None:
        self.bins = bins = self._tree_bins(bins)
        f_count = bins.shape[1]
        # the (feature, bin) cells that hold any row: the same at every depth of the tree
        cell = np.arange(f_count) * self.width + bins.astype(np.int64)
        self.keep = np.bincount(cell.ravel(), minlength=f_count * self.width) > 0

    def histograms(self, tree: int, depth: int, slot: np.ndarray, n_slots: int) -> None:
        pk, width_bytes = self.pk, self.pk.ciphertext_bytes
        rows = self.bins.shape[0]
        got = self.ctx.recv(self.guest, f"{_HIDDEN}/{tree}/{depth}/gh")
        if (
            not isinstance(got, np.ndarray)
            or got.dtype != np.uint8
            or got.ndim != 3
            or got.shape[1:] != (rows, width_bytes)
        ):
            raise ProtocolError("the guest sent malformed ciphertexts")
        if got.shape[0] != -(-n_slots // self.layout.n_slots):
            raise ProtocolError(
                f"the guest sent {got.shape[0]} ciphertexts a row for {n_slots} nodes"
            )
        one_node = np.zeros(rows, dtype=np.int64)  # every row: its node is in the plaintext
        packed = []
        for q, group in enumerate(got):
            sums = self._sums_by_cell(group, one_node, self.bins, 1)
            cells = object_array([v for v, k in zip(sums, self.keep.tolist(), strict=True) if k])
            if cells.size:  # as many cells a ciphertext as the group's node slots leave room for
                packed += list(pack_ciphertexts(pk, cells, _cell_layout(self.layout, n_slots, q)))
        fresh = pk.rerandomize(object_array(packed)) if packed else object_array([])
        self.ctx.send(self.guest, f"{_HIDDEN}/{tree}/{depth}/cells", np.packbits(self.keep))
        self.ctx.send(self.guest, f"{_HIDDEN}/{tree}/{depth}/sums", pk.to_bytes(fresh))


__all__ = ["HiddenGuestExchange", "HiddenHostExchange"]
