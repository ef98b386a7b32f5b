"""Fixtures shared by every test area (each area has its own conftest.py in its folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO.parent / "shared").resolve()


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "datasets").is_dir():
        pytest.fail(f"../shared/datasets not found at {SHARED}: the suite runs with ../shared beside the clone")
    return SHARED


@pytest.fixture(scope="session")
def rulebook():
    """The shipped rulebook, validated against the taxonomy."""
    from cv.rulebook import Rulebook

    return Rulebook.load()


@pytest.fixture(scope="session")
def scenario_city():
    """A small city of rectangular zones that the rule and incident scenarios run in."""
    from cv.zones import CityConfig

    return CityConfig.load(REPO / "tests" / "rules" / "scenario_city.yaml")
