"""People log in and out: a session token as a cookie (web page) and in the body (API clients)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from serve import auth
from serve.api.deps import DB, person, services
from serve.auth import SESSION_COOKIE, Principal
from serve.errors import error_responses
from serve.services import Services

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class SessionOut(BaseModel):
    token: str
    username: str
    role: str
    expires_in_s: int


class Me(BaseModel):
    username: str
    role: str


@router.post("/login", response_model=SessionOut, responses=error_responses(401, 422))
def login(body: Credentials, response: Response, session: Session = DB, svc: Services = Depends(services)):
    ttl = timedelta(hours=svc.settings.session_hours)
    token, user = auth.login(session, body.username, body.password, ttl)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True, samesite="strict")
    return SessionOut(token=token, username=user.username, role=user.role, expires_in_s=int(ttl.total_seconds()))


@router.post("/logout", status_code=204, responses=error_responses(401))
def logout(request: Request, response: Response, principal: Principal = Depends(person), session: Session = DB):
    auth.logout(session, auth.request_token(request))
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", response_model=Me, responses=error_responses(401))
def me(principal: Principal = Depends(person)):
    return Me(username=principal.username, role=principal.role)
