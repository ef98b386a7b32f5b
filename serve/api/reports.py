"""Reports for supervisors: the pass-rate score sheet (JSON or CSV) and the backlog (serve/reports.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from serve import reports
from serve.api.deps import DB, require, services
from serve.api.incidents import single_valued_query
from serve.auth import Principal, Role
from serve.errors import error_responses
from serve.incident_views import iso_text
from serve.services import Services

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=error_responses(401, 403))
supervisor = require(Role.SUPERVISOR)
IsoDate = Annotated[date, BeforeValidator(iso_text)]


@router.get(
    "/pass-rate", response_model=reports.PassRateReport, responses={
        **error_responses(422), 200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                      "description": "the report (JSON), or its score sheet as CSV with format=csv"}},
    summary="Pass rate per evaluation point × 测评 standard, one observation per day",
    dependencies=[Depends(single_valued_query)],
)
def pass_rate(
    first_day: IsoDate | None = Query(None, alias="from",
                                      description="first day (city time); default: 6 days before `to`"),
    last_day: IsoDate | None = Query(None, alias="to", description="last day, included (city time); default: today"),
    format: Literal["json", "csv"] = "json",
    svc: Services = Depends(services), session: Session = DB, _: Principal = Depends(supervisor),
):
    """One row per point × standard; see serve/reports.py. Errors: 422 `invalid_request`, `parameter_repeated`."""
    now, city = datetime.now(UTC), svc.config.city
    last_day = last_day or now.astimezone(city.tz).date()
    first_day = first_day or last_day - timedelta(days=6)
    report = reports.pass_rate(session, city, svc.config.rulebook, first_day, last_day, now)
    if format == "csv":
        return Response(reports.sheet_csv(report), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="pass-rate-{first_day}-{last_day}.csv"'})
    return report


@router.get("/backlog", response_model=reports.BacklogReport,
            summary="Open and overdue cases and disposal time per department; review statistics per code and model")
def backlog(session: Session = DB, _: Principal = Depends(supervisor)):
    return reports.backlog(session, datetime.now(UTC))
