"""Reports: pass rate per point × standard, backlog (to be written)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/reports", tags=["reports"])
