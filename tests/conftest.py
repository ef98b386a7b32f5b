"""Fixtures shared by every test area (each area has its own conftest.py in its folder).

Databases: every database test runs on a SQLite file and on the local PostgreSQL
(`CITYPATROL_TEST_POSTGRES_URL`, default postgresql://postgres@127.0.0.1:5432/test), each test in a
schema of its own, dropped afterwards. If PostgreSQL cannot be reached the PostgreSQL variants are
skipped, visibly; with CI=true they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO.parent / "shared").resolve()
POSTGRES_URL = os.environ.get("CITYPATROL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "datasets").is_dir():
        pytest.fail(f"../shared/datasets not found at {SHARED}: the suite runs with ../shared beside the clone")
    return SHARED


@pytest.fixture(scope="session")
def test_model(shared_dir) -> Path:
    """The stand-in detector (training/standin.py): a real exported ONNX model with its card."""
    from training.standin import standin_model

    return standin_model(shared_dir / "weights" / "yolov5n-coco.pt")[0]


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


def _postgres_or_skip() -> None:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}".strip()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'citypatrol.sqlite3'}"
        return
    _postgres_or_skip()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
