"""Who is asking: people (username + password → session token) and cameras (per-camera API keys).

People carry a role — operator (review), supervisor (dispatch, close, reports), admin (cameras,
keys, users, config reload) — and each role includes the ones before it. The web page sends the
session token as a cookie, API clients as `Authorization: Bearer …`; cameras send their key as
`X-Camera-Key` (or a bearer token). Secrets are stored only as digests (serve/security.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from serve.errors import APIError
from serve.models import AuthSession, CameraKey, User
from serve.security import hash_password, new_token, token_digest, verify_password

SESSION_COOKIE = "citypatrol_session"


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank


@dataclass(frozen=True)
class Principal:
    """An authenticated person."""

    user_id: int
    username: str
    role: Role

    def require(self, role: Role) -> None:
        if not self.role.includes(role):
            raise APIError(403, "forbidden_role", f"this needs the {role} role; {self.username} is {self.role}")


MIN_PASSWORD_LENGTH = 8


def create_user(session: Session, username: str, password: str, role: Role, display_name: str = "") -> User:
    if session.scalar(select(User).where(User.username == username)):
        raise APIError(409, "user_exists", f"user {username!r} already exists")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise APIError(422, "password_too_short", f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    user = User(username=username, password_hash=hash_password(password), role=role.value,
                display_name=display_name or username, active=True, created_at=datetime.now(UTC))
    session.add(user)
    session.flush()
    return user


def login(session: Session, username: str, password: str, ttl: timedelta) -> tuple[str, User]:
    """A new session token for valid credentials; the same error for unknown user and wrong password."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not verify_password(password, user.password_hash):
        raise APIError(401, "login_failed", "unknown user or wrong password")
    token = new_token("cps")
    now = datetime.now(UTC)
    session.add(AuthSession(token_digest=token_digest(token), user_id=user.id, created_at=now, expires_at=now + ttl))
    return token, user


def logout(session: Session, token: str) -> None:
    session.execute(update(AuthSession).where(AuthSession.token_digest == token_digest(token)).values(revoked=True))


def request_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def principal_for(session: Session, token: str | None) -> Principal:
    if not token:
        raise APIError(401, "not_authenticated", "log in first (session cookie or bearer token)")
    row = session.scalar(select(AuthSession).where(AuthSession.token_digest == token_digest(token)))
    if row is None or row.revoked or row.expires_at <= datetime.now(UTC):
        raise APIError(401, "session_invalid", "the session is unknown, expired or logged out")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise APIError(401, "session_invalid", "the user is disabled")
    return Principal(user.id, user.username, Role(user.role))


def issue_camera_key(session: Session, camera_id: str, issued_by: str) -> str:
    """A new key for `camera_id`, shown once; the camera's older keys stop working (rotation)."""
    now = datetime.now(UTC)
    session.execute(
        update(CameraKey).where(CameraKey.camera_id == camera_id, CameraKey.revoked_at.is_(None)).values(revoked_at=now)
    )
    key = new_token("cpk")
    session.add(CameraKey(camera_id=camera_id, key_digest=token_digest(key), created_at=now, created_by=issued_by))
    return key


def camera_key_from(request: Request) -> str | None:
    key = request.headers.get("x-camera-key")
    if key:
        return key.strip()
    token = request_token(request)
    return token if token and token.startswith("cpk_") else None


def check_camera_key(session: Session, camera_id: str, key: str | None) -> None:
    if not key:
        raise APIError(401, "camera_key_missing", "send the camera's API key in the X-Camera-Key header")
    row = session.scalar(select(CameraKey).where(CameraKey.key_digest == token_digest(key)))
    if row is None or row.revoked_at is not None:
        raise APIError(401, "camera_key_invalid", "the camera key is unknown or was rotated")
    if row.camera_id != camera_id:
        raise APIError(403, "camera_key_wrong_camera", f"this key belongs to another camera, not {camera_id}")
