"""The operators' web page: server-rendered pages (Jinja2) whose scripts use the JSON API with the
login cookie. The role decides what a person sees: operators review, supervisors also dispatch and
read reports, admins also see the cameras. Pages are not part of the OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined
from sqlalchemy.orm import Session

from serve import reports
from serve.api.deps import DB, services
from serve.auth import Principal, Role, principal_for, request_token
from serve.errors import APIError
from serve.review import RejectReason
from serve.services import Services
from serve.web.i18n import LANG_COOKIE, language, messages

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.undefined = StrictUndefined  # a missing word or value is an error, not a blank

router = APIRouter(include_in_schema=False)

# (path, message key, the role it needs)
NAV = (("/review", "nav.review", Role.OPERATOR), ("/cases", "nav.cases", Role.OPERATOR),
       ("/reports", "nav.reports", Role.SUPERVISOR), ("/cameras", "nav.cameras", Role.ADMIN))


def _viewer(request: Request, session: Session) -> Principal | None:
    try:
        return principal_for(session, request_token(request))
    except APIError:
        return None


def _render(request: Request, template: str, principal: Principal | None, status: int = 200, **context) -> Response:
    lang = language(request)
    words = messages(lang)
    nav = [(path, words[key]) for path, key, role in NAV if principal and principal.role.includes(role)]
    return templates.TemplateResponse(request, template, status_code=status, context={
        "lang": lang, "t": words, "words_json": json.dumps(words, ensure_ascii=False), "me": principal,
        "nav": nav, "path": request.url.path, "lang_cookie": LANG_COOKIE, **context})


def _page(request: Request, session: Session, role: Role, template: str, **context) -> Response:
    """The page for people with `role`; the login page for nobody; a 403 page for too low a role."""
    principal = _viewer(request, session)
    if principal is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': here})}", status_code=303)
    if not principal.role.includes(role):
        return _render(request, "forbidden.html", principal, status=403)
    return _render(request, template, principal, **context)


def _city_context(svc: Services) -> str:
    """What the scripts need to name things: codes, points, departments, cameras, reasons (JSON)."""
    city, rulebook = svc.config.city, svc.config.rulebook
    departments = sorted({p.department for p in city.points} | {r.department for r in rulebook.rules.values()})
    return json.dumps({
        "timezone": city.timezone,
        "codes": [{"code": code, "name": rule.name, "name_en": rule.name_en, "standard": rule.standard,
                   "department": rule.department} for code, rule in rulebook.rules.items()],
        "point_types": sorted({p.type for p in city.points}),
        "departments": departments,
        "cameras": [{"id": c.id, "name": c.name} for c in city.cameras],
        "reject_reasons": [r.value for r in RejectReason],
    }, ensure_ascii=False)


@router.get("/")
def home(request: Request, session: Session = DB):
    return RedirectResponse("/review" if _viewer(request, session) else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/review", session: Session = DB):
    if not next.startswith("/") or next.startswith("//"):
        next = "/review"  # only this site's pages
    return _render(request, "login.html", _viewer(request, session), next=next)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, session: Session = DB, svc: Services = Depends(services)):
    return _page(request, session, Role.OPERATOR, "review.html", city=_city_context(svc))


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, session: Session = DB, svc: Services = Depends(services)):
    return _page(request, session, Role.OPERATOR, "cases.html", city=_city_context(svc))


@router.get("/cameras", response_class=HTMLResponse)
def cameras_page(request: Request, session: Session = DB, svc: Services = Depends(services)):
    return _page(request, session, Role.ADMIN, "cameras.html", city=_city_context(svc))


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, session: Session = DB, svc: Services = Depends(services)):
    return _page(request, session, Role.SUPERVISOR, "reports.html", city=_city_context(svc))


@router.get("/reports/weekly", response_class=HTMLResponse)
def weekly_page(request: Request, last_day: date | None = Query(None, alias="to"), session: Session = DB,
                svc: Services = Depends(services)):
    """一周一通报: the week ending `to` (default today, city time), beside the week before it."""
    now, city, rulebook = datetime.now(UTC), svc.config.city, svc.config.rulebook
    last_day = last_day or now.astimezone(city.tz).date()
    first_day = last_day - timedelta(days=6)
    week = reports.pass_rate(session, city, rulebook, first_day, last_day, now)
    before = reports.pass_rate(session, city, rulebook, first_day - timedelta(days=7), first_day - timedelta(days=1), now)
    return _page(request, session, Role.SUPERVISOR, "weekly.html", week=week, before=before,
                 backlog=reports.backlog(session, now), generated=now.astimezone(city.tz),
                 problems=[row for row in week.sheet if row.failed])


STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}


@router.get("/static/{name}")
def static(name: str):
    path = STATIC / name
    if "/" in name or path.suffix not in STATIC_TYPES or not path.is_file():
        raise APIError(404, "not_found", f"no static file {name!r}")
    return FileResponse(path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
