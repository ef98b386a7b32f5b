"""FastAPI dependencies shared by the routers: the database session, the person, the role check."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from serve.auth import Principal, Role, principal_for, request_token
from serve.services import Services


def services(request: Request) -> Services:
    return request.app.state.services


def db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it raises."""
    with services(request).sessions.begin() as session:
        yield session


def person(request: Request, session: Session = Depends(db)) -> Principal:
    return principal_for(session, request_token(request))


def require(role: Role) -> Callable[..., Principal]:
    """A dependency that lets through people with `role` or a higher one (403 otherwise)."""

    def check(principal: Principal = Depends(person)) -> Principal:
        principal.require(role)
        return principal

    check.__name__ = f"require_{role}"
    return check
