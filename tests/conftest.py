"""Shared fixtures: fresh party identities on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from unseen.runtime.launch import make_parties


@pytest.fixture
def parties_file(tmp_path: Path) -> Path:
    """A parties file for 'bank' and 'telecom' with fresh keys, on free loopback ports."""
    return make_parties(tmp_path / "keys", ["bank", "telecom"])
