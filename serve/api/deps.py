"""FastAPI dependencies shared by the routers: the database session, the person, the role check."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from serve.auth import Principal, Role, principal_for, request_token
from serve.services import Services


def services(request: Request) -> Services:
    return request.app.state.services


def _transaction(request: Request) -> Iterator[Session]:
    with services(request).sessions.begin() as session:
        yield session


# One transaction per request, committed when the handler returns — before the response is sent
# (scope "function"; FastAPI's default would commit after sending, so a client could act on an
# answer whose change is not yet visible). Use `session: Session = DB` everywhere, so that a
# request has exactly one session (dependencies are shared per request only with equal scopes).
DB = Depends(_transaction, scope="function")


def person(request: Request, session: Session = DB) -> Principal:
    return principal_for(session, request_token(request))


def require(role: Role) -> Callable[..., Principal]:
    """A dependency that lets through people with `role` or a higher one (403 otherwise)."""

    def check(principal: Principal = Depends(person)) -> Principal:
        principal.require(role)
        return principal

    check.__name__ = f"require_{role}"
    return check
