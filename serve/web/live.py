"""JSON the web page needs beyond the incidents and reports API: the live stream of violations
(server-sent events), each camera's latest frame with its zones, and the pass-rate trend by week."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from serve import reports
from serve.api.deps import DB, person, require, services
from serve.auth import Principal, Role
from serve.errors import error_responses
from serve.models import CaseStatus, Frame, Incident
from serve.services import Services

router = APIRouter(prefix="/v1/web", tags=["web page"], responses=error_responses(401, 403))

POLL_S = 1.0  # how often the stream looks for new violations
HEARTBEAT_S = 15.0  # a comment line keeps proxies from closing a quiet stream
# A stream ends after this long and the browser reconnects at once (EventSource does): a server
# that is shutting down waits for open responses, and would otherwise wait for every open page.
STREAM_S = 30.0


def violation_counts(svc: Services) -> dict[str, int]:
    """Violations ever raised and those awaiting review: a new violation changes the first."""
    with svc.sessions.begin() as session:
        raised, awaiting, newest = session.execute(select(
            func.count(Incident.id),
            func.count(Incident.id).filter(Incident.case_status == CaseStatus.NEW),
            func.max(Incident.violation_at),
        ).where(Incident.violation_at.is_not(None))).one()
    return {"violations": raised, "awaiting_review": awaiting, "newest_at": newest.isoformat() if newest else None}


@router.get("/live", include_in_schema=False)
async def live(request: Request, svc: Services = Depends(services), _: Principal = Depends(person)):
    """Server-sent events: `event: violations` with the counts when the stream opens and whenever a
    violation is raised or reviewed (the page then reloads its queue with its own filters). Each
    stream lasts STREAM_S and the browser reconnects. Not in the OpenAPI document (a stream)."""

    async def stream() -> AsyncIterator[str]:
        last, quiet, ends = None, 0.0, time.monotonic() + STREAM_S
        yield "retry: 1000\n\n"
        while time.monotonic() < ends and not await request.is_disconnected():
            counts = await run_in_threadpool(violation_counts, svc)
            if counts != last:
                last, quiet = counts, 0.0
                yield f"event: violations\ndata: {json.dumps(counts)}\n\n"
            elif quiet >= HEARTBEAT_S:
                quiet = 0.0
                yield ": heartbeat\n\n"
            await asyncio.sleep(POLL_S)
            quiet += POLL_S

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class LatestFrame(BaseModel):
    frame_id: str
    captured_at: datetime
    width: int | None
    height: int | None
    image_url: str


class ZoneOut(BaseModel):
    id: str
    kind: str
    polygon: list[tuple[float, float]] = Field(description="relative (0–1) image coordinates")
    description: str


class ViewOut(BaseModel):
    point_id: str
    point_name: str | None
    point_type: str | None
    zones: list[ZoneOut]


class CameraView(BaseModel):
    id: str
    name: str
    latest: LatestFrame | None = Field(description="the newest frame kept as evidence (or all frames, if kept)")
    views: list[ViewOut]


@router.get("/cameras", response_model=list[CameraView],
            summary="Each camera's latest kept frame with the zones of its evaluation points")
def cameras(svc: Services = Depends(services), session: Session = DB, _: Principal = Depends(require(Role.ADMIN))):
    city = svc.config.city
    newest = (select(Frame.camera_id, func.max(Frame.captured_at).label("at"))
              .where(Frame.image_sha256.is_not(None)).group_by(Frame.camera_id).subquery())
    frames = {f.camera_id: f for f in session.scalars(select(Frame).join(
        newest, (Frame.camera_id == newest.c.camera_id) & (Frame.captured_at == newest.c.at))
        .where(Frame.image_sha256.is_not(None)))}
    points = {p.id: p for p in city.points}
    out = []
    for camera in city.cameras:
        frame = frames.get(camera.id)
        latest = None if frame is None else LatestFrame(
            frame_id=frame.frame_id, captured_at=frame.captured_at, width=frame.width, height=frame.height,
            image_url=f"/v1/evidence/{frame.image_sha256}.jpg")
        views = [ViewOut(point_id=v.point, point_name=getattr(points.get(v.point), "name", None),
                         point_type=getattr(points.get(v.point), "type", None),
                         zones=[ZoneOut(id=z.id, kind=z.kind, polygon=z.polygon, description=z.description)
                                for z in v.zones]) for v in camera.views]
        out.append(CameraView(id=camera.id, name=camera.name, latest=latest, views=views))
    return out


class WeekRate(BaseModel):
    first_day: date
    last_day: date
    overall: reports.GroupRate
    by_point_type: list[reports.GroupRate]
    by_department: list[reports.GroupRate]


@router.get("/trend", response_model=list[WeekRate], responses=error_responses(422),
            summary="Pass rate per week (7 days ending today, and the weeks before), oldest first")
def trend(weeks: int = Query(8, ge=1, le=52), svc: Services = Depends(services), session: Session = DB,
          _: Principal = Depends(require(Role.SUPERVISOR))):
    now, city = datetime.now(UTC), svc.config.city
    today = now.astimezone(city.tz).date()
    out = []
    for back in range(weeks - 1, -1, -1):
        last_day = today - timedelta(days=7 * back)
        report = reports.pass_rate(session, city, svc.config.rulebook, last_day - timedelta(days=6), last_day, now)
        out.append(WeekRate(first_day=report.first_day, last_day=report.last_day, overall=report.overall,
                            by_point_type=report.by_point_type, by_department=report.by_department))
    return out
