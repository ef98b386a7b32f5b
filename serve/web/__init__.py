"""The operators' web page (issue 7): pages in `pages.py`, the JSON it needs beyond the API in `live.py`."""

from fastapi import APIRouter

from serve.web import live, pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(live.router)
