"""The FastAPI app: `create_app(settings)` wires the services, routers, errors, logs and metrics."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy import func, select

from serve import web
from serve.api import admin, evidence, incidents, ingest, login, ops, reports
from serve.auth import Role, create_user
from serve.errors import install_error_handlers
from serve.logs import configure_logging, request_id_var
from serve.models import User
from serve.services import Services
from serve.settings import Settings

log = logging.getLogger("citypatrol.app")

DESCRIPTION = """AI video patrol for civilized-city inspection: cameras post frames, rules turn detections
into violations at evaluation points, operators review them, supervisors dispatch and report.

Errors are JSON `{"code", "message", "request_id"}`; `code` is stable and machine-readable."""


def ensure_admin(services: Services) -> None:
    """First start: create the admin user, from the environment or with a password printed once."""
    with services.sessions.begin() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
        password = services.settings.admin_password or secrets.token_urlsafe(12)
        create_user(session, services.settings.admin_username, password, Role.ADMIN, "Administrator")
    if not services.settings.admin_password:
        print(f"citypatrol: created user {services.settings.admin_username!r} with one-time password: {password}",
              flush=True)
    log.info("admin user created", extra={"username": services.settings.admin_username})


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = services or Services.start(settings)
        ensure_admin(app.state.services)
        log.info("citypatrol ready", extra=app.state.services.versions())
        yield
        app.state.services.close()

    app = FastAPI(title="citypatrol", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request.state.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        response.headers["X-Request-ID"] = request_id
        route = request.scope.get("route")
        metrics = getattr(request.app.state, "services", None)
        if metrics is not None:
            metrics.metrics.http_requests.labels(getattr(route, "path", "unmatched"), response.status_code).inc()
        log.debug("request", extra={"method": request.method, "path": request.url.path,
                                    "status": response.status_code, "ms": round((time.perf_counter() - started) * 1e3, 1)})
        return response

    for router in (ops.router, login.router, ingest.router, incidents.router, reports.router, evidence.router, admin.router,
                   web.router):
        app.include_router(router)
    return app
