"""Administration: camera keys, users, and reloading the configs and model without a restart."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cv.config import ConfigError
from cv.model_card import ModelCardError
from cv.zones import UnknownCamera
from serve import auth
from serve.api.deps import DB, require, services
from serve.auth import Principal, Role
from serve.errors import APIError, error_responses
from serve.models import AuditEntry, CameraKey, User
from serve.services import Services

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=error_responses(401, 403))
admin_only = require(Role.ADMIN)


class CameraOut(BaseModel):
    id: str
    name: str
    points: list[str]
    key_issued_at: datetime | None


class CameraKeyOut(BaseModel):
    camera_id: str
    key: str = Field(description="shown once: store it in the camera; only its digest is kept")


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=256)
    role: Role
    display_name: str = Field("", max_length=128)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    active: bool


def _audit(session: Session, principal: Principal, action: str, after: dict) -> None:
    session.add(AuditEntry(at=datetime.now(UTC), actor=principal.username, action=action, after=after))


@router.get("/cameras", response_model=list[CameraOut])
def cameras(svc: Services = Depends(services), session: Session = DB, _: Principal = Depends(admin_only)):
    issued = dict(session.execute(select(CameraKey.camera_id, CameraKey.created_at).where(CameraKey.revoked_at.is_(None))).all())
    return [CameraOut(id=c.id, name=c.name, points=[v.point for v in c.views], key_issued_at=issued.get(c.id))
            for c in svc.config.city.cameras]


@router.post("/cameras/{camera_id}/keys", response_model=CameraKeyOut, status_code=201,
             summary="Issue (or rotate) a camera's API key", responses=error_responses(404))
def issue_key(camera_id: str, svc: Services = Depends(services), session: Session = DB,
              principal: Principal = Depends(admin_only)):
    try:
        svc.config.city.camera(camera_id)
    except UnknownCamera:
        raise APIError(404, "camera_unknown", f"no camera {camera_id!r} in the camera config") from None
    key = auth.issue_camera_key(session, camera_id, principal.username)
    _audit(session, principal, "camera_key", {"camera_id": camera_id})
    return CameraKeyOut(camera_id=camera_id, key=key)


@router.get("/users", response_model=list[UserOut])
def users(session: Session = DB, _: Principal = Depends(admin_only)):
    return [UserOut(id=u.id, username=u.username, display_name=u.display_name, role=u.role, active=u.active)
            for u in session.scalars(select(User).order_by(User.id))]


@router.post("/users", response_model=UserOut, status_code=201, responses=error_responses(409, 422))
def add_user(body: UserIn, session: Session = DB, principal: Principal = Depends(admin_only)):
    user = auth.create_user(session, body.username, body.password, body.role, body.display_name)
    _audit(session, principal, "user_create", {"username": user.username, "role": user.role})
    return UserOut(id=user.id, username=user.username, display_name=user.display_name, role=user.role, active=True)


@router.post("/reload", summary="Reload camera config, rulebook and model (validated first)",
             responses=error_responses(422))
def reload(svc: Services = Depends(services), session: Session = DB,
           principal: Principal = Depends(admin_only)) -> dict:
    try:
        return {"reloaded": True, **svc.reload(session, principal.username)}
    except ConfigError as exc:
        raise APIError(422, "config_invalid", f"nothing was reloaded: {exc}") from None
    except ModelCardError as exc:
        raise APIError(422, "model_invalid", f"nothing was reloaded: {exc}") from None
