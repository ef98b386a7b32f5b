"""Operations: liveness, readiness (database and model), Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from serve.api.deps import DB, services
from serve.errors import APIError, error_responses
from serve.models import Incident
from serve.services import Services

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Database reachable and model loaded", responses=error_responses(503))
def readyz(svc: Services = Depends(services)) -> dict:
    try:
        with svc.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 — any database failure means not ready
        raise APIError(503, "database_unavailable", f"database not reachable: {type(exc).__name__}") from exc
    return {"status": "ready", **svc.versions(), "queue": svc.queue.waiting}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(svc: Services = Depends(services), session: Session = DB) -> Response:
    svc.metrics.queue_depth.set(svc.queue.waiting)
    svc.metrics.incidents.clear()
    counts = session.execute(select(Incident.code, Incident.status, func.count()).group_by(Incident.code, Incident.status))
    for code, status, count in counts:
        svc.metrics.incidents.labels(code, status).set(count)
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")
