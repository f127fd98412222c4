"""Encryption randomness made ahead, in the background: the offline half of encryption.

An encryption in either scheme is a plaintext part times a random encryption of
zero (Paillier: ``(1 + m n) h_s^r mod n^2``; OU: ``G^m H^r mod n``). The second
part does not depend on the plaintext and is nearly all of the cost
(``r_bits / w`` table multiplications against one, or a handful for ``G^m`` with
small ``m``). A party that encrypts in rounds -- SecureBoost's guest encrypts
every row's gradients once a tree -- can make the next round's encryptions of
zero while it waits for the other parties, and then encrypt at the cost of the
plaintext part alone: encryption split into an offline and an online phase
(precomputed noise for Paillier is studied, with other speed-ups, in Jost, Lam,
Maximov and Smeets, "Encryption performance improvements of the Paillier
cryptosystem", IACR ePrint 2015/864). Every value here is one full, fresh
encryption of zero; none is derived from another (unlike that paper's faster
noise generation, which this module does not use).

:class:`RandomnessFiller` keeps a public key's pool
(:meth:`~unseen.crypto.he.HEPublicKey.precompute_randomness`) topped up to a
target in a thread, in parts, through the lowest-priority worker pool
(:mod:`unseen.crypto.parallel`, nice 19): where parties share cores it takes
only the cycles the job's own steps leave idle. Encryptions take what the pool
holds and make the rest with fresh randomness, so a pool that is short only
costs the time it would have saved.

Security: every value is a fresh encryption of zero from :mod:`secrets`
randomness with the scheme's own distribution, held in this process's memory
only and used once (taken out of the pool when used). Nothing about it crosses
the wire that an encryption made on the spot would not send.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from unseen.crypto.he import HEPublicKey

log = logging.getLogger(__name__)

#: memory a pool may hold (ciphertexts plus Python's overhead per value)
POOL_BUDGET_BYTES = 256 << 20
#: encryptions of zero made per call to the worker pool
PART = 8192


def pool_capacity(pk: HEPublicKey, budget: int | None = None) -> int:
    """How many precomputed encryptions of zero fit in ``budget`` bytes
    (default :data:`POOL_BUDGET_BYTES`) for this key."""
    return max(0, (POOL_BUDGET_BYTES if budget is None else budget) // (pk.ciphertext_bytes + 40))


class RandomnessFiller:
    """Keep ``pk``'s pool of encryptions of zero topped up to a target, in the background.

    ``using``: a key whose ``encrypt_raw`` makes them faster with the same
    distribution (a Paillier private key, through CRT); default: ``pk``.
    :meth:`fill_to` sets the target and wakes the thread; :meth:`stop` ends it
    after the part in progress, and so does ``ended()`` turning true (checked at
    least every second: a job that fails ends its filler too). Failures in the
    thread stop the filling (logged); encryptions then use fresh randomness, as
    without a pool.
    """

    def __init__(
        self,
        pk: HEPublicKey,
        *,
        using: Any = None,
        part: int = PART,
        ended: Callable[[], bool] = lambda: False,
    ) -> None:
        self.pk, self.using, self.part, self.ended = pk, using, part, ended
        self._target = 0
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="he-randomness", daemon=True)
        self._thread.start()

    def fill_to(self, count: int) -> None:
        """Make encryptions of zero until the pool holds ``count`` (capped by memory)."""
        with self._wake:
            self._target = min(count, pool_capacity(self.pk))
            self._wake.notify()

    def stop(self) -> None:
        """Stop after the part in progress (does not wait for it)."""
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def _next_part(self) -> int:
        """Blocks until there is work: the size of the next part, or 0 once stopped."""
        with self._wake:
            while True:
                if self._stopped or self.ended():
                    return 0
                missing = self._target - self.pk.precomputed
                if missing > 0:
                    return min(self.part, missing)
                self._wake.wait(timeout=1.0)

    def _run(self) -> None:
        while count := self._next_part():
            try:
                self.pk.precompute_randomness(count, background=True, using=self.using)
            except Exception as e:  # noqa: BLE001 - only the speed-up is lost
                log.debug("encryption randomness ahead stopped: %r", e)
                return
