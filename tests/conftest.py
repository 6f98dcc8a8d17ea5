"""Shared test fixtures: where the team's real-world logs live (beside the checkout, maybe absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REALWORLD = REPO.parent / "shared" / "realworld"


@pytest.fixture
def realworld() -> Path:
    """../shared/realworld, or skip the test when it is not beside this checkout."""
    if not REALWORLD.is_dir():
        pytest.skip("../shared/realworld is not present")
    return REALWORLD
