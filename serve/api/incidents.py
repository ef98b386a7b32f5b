"""Incidents: listing, detail, review and dispatch actions (to be written)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])
