"""Detector models under test (the stand-in, plus any shipped model) and real frames to run them on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cv.model_card import shipped_models


@pytest.fixture(scope="session", params=["standin", *[p.name for p in shipped_models()]])
def any_model(request, test_model) -> Path:
    """Each model the runtime must handle: the stand-in always, the shipped ones when present."""
    if request.param == "standin":
        return test_model
    return next(p for p in shipped_models() if p.name == request.param)


@pytest.fixture(scope="session")
def street_images(shared_dir) -> list[Path]:
    """Real frames of mixed sizes and aspect ratios: facades (wide, up to 1280) and 640² street photos."""
    facades = sorted((shared_dir / "datasets" / "facades" / "images").glob("*.jpg"))
    vehicles = sorted((shared_dir / "datasets" / "street_vehicles" / "images").glob("*.jpg"))
    garbage = sorted((shared_dir / "datasets" / "garbage_bags" / "images").glob("*.jpg"))
    rng = np.random.default_rng(0)
    pick = lambda files, n: [files[i] for i in sorted(rng.choice(len(files), n, replace=False))]  # noqa: E731
    return pick(facades, 24) + pick(vehicles, 8) + pick(garbage, 4)
