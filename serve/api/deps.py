"""What the routers share: the database session, the person, the role check, bounded body reading."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from serve.auth import Principal, Role, principal_for, request_token
from serve.errors import APIError
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


async def read_body(request: Request, limit: int, too_large_code: str) -> bytes:
    """The body, refusing past `limit` bytes without reading the rest (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise APIError(413, too_large_code, f"the upload is {int(declared):,} bytes; the limit is {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, too_large_code, f"the upload exceeds the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
