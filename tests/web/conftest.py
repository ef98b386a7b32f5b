"""The web page in a real browser: Debian's Chromium driven by Playwright, against a real server
(tests/conftest.py `run_server`) on a real database. Screenshots of the pages go to docs/screenshots/.

Chromium comes from `scripts/system-deps.sh` (Debian's package), never from `playwright install`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from serve.db import normalise_url
from serve.settings import Settings

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parent.parent / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("CITYPATROL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ADMIN_PASSWORD = "admin-pass-1234"
PASSWORD = "password-123"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM}: run scripts/system-deps.sh (Debian's chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def web_live(tmp_path, database_url, test_model, run_server):
    """A real server with the web tests' city, on SQLite or PostgreSQL."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, model=test_model,
                        cameras_config=HERE / "city.yaml", admin_password=ADMIN_PASSWORD)
    service, stop = run_server(settings)
    yield service
    stop()


@pytest.fixture
def db(web_live) -> Iterator[sessionmaker[Session]]:
    """Sessions on the server's database, to check what the page's actions stored."""
    engine = create_engine(normalise_url(web_live.settings.resolved_database_url))
    yield sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def open_page(browser, web_live) -> Iterator[Callable]:
    """`open_page(username, password)`: a fresh browser context (own cookies), logged in through
    the login page; closed before the server stops."""
    contexts, errors = [], []

    def open_(username: str, password: str = PASSWORD):
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=web_live.base_url)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        page.goto("/")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/review")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def screenshot(web_live) -> Callable:
    """Save a screenshot of the page to docs/screenshots/<name>.png (from the SQLite runs only), in
    256 colours: a third of the size, and they are committed."""

    def shoot(page, name: str) -> None:
        if web_live.settings.resolved_database_url.startswith("sqlite"):
            from PIL import Image

            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
            image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(SCREENSHOTS / f"{name}.png", optimize=True)

    return shoot


@pytest.fixture
def post_frames(web_live, street_jpeg, camera_times) -> Callable:
    """`post_frames(camera_id, frames)`: the street photo from a camera, 90 s apart up to now, until
    its incidents have become violations; returns the incidents of the last answer."""
    keys: dict[str, str] = {}

    def post(camera_id: str, frames: int = 8, prefix: str = "") -> list[dict]:
        key = keys.setdefault(camera_id, web_live.camera_key(camera_id))
        answers = [web_live.post_frame(camera_id, key, street_jpeg, f"{prefix}{camera_id}-{i}", at)
                   for i, at in enumerate(camera_times(frames, 90))]
        assert all(a.status_code == 200 for a in answers), answers[-1].text
        return answers[-1].json()["incidents"]

    return post
