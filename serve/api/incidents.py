"""Incidents for people: the list, one incident in full, and the review and dispatch actions.

Reading needs a login (any role). Operators confirm, reject and correct; supervisors (and admins)
also dispatch, resolve, close and reopen (serve/review.py holds the state machine). Every action
answers with the incident as it is afterwards; a state that does not allow it is a 409 with
`code` `invalid_transition` (or `not_a_violation_yet`, `verification_required`, `camera_not_verified`).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from serve.api.deps import DB, person, read_body, services
from serve.auth import Principal, principal_for, request_token
from serve.errors import APIError, error_responses
from serve.incident_views import IncidentDetail, IncidentFilter, IncidentPage, incident_detail, list_incidents
from serve.models import Incident
from serve.review import CaseDesk, RejectReason, Verification
from serve.services import Services

router = APIRouter(prefix="/v1/incidents", tags=["incidents"], responses=error_responses(401))
ACTION_ERRORS = error_responses(403, 404, 409, 422)
IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the incident's id")]  # an SQL INTEGER


class ActionIn(BaseModel):
    comment: str | None = Field(None, max_length=2000, description="kept in the audit log")


class RejectIn(ActionIn):
    reason: RejectReason


class CorrectIn(ActionIn):
    code: str | None = Field(None, min_length=1, max_length=32,
                             description="the right event code (one the rulebook lists)")
    box: list[Annotated[float, Field(ge=0, le=1)]] | None = Field(
        None, min_length=4, max_length=4,
        description="the right box, relative xyxy [x1, y1, x2, y2] (x1 < x2, y1 < y2)")


class DispatchIn(ActionIn):
    department: str | None = Field(None, min_length=1, max_length=128,
                                   description="default: the rule's department (the corrected code's, if corrected)")


class ResolveIn(ActionIn):
    note: str = Field(min_length=1, max_length=4000, description="what the department did")
    photo_base64: str | None = Field(None, description="a JPEG of the place afterwards, base64",
                                     pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


class CloseIn(ActionIn):
    verification: Verification | None = Field(
        None, description="camera: the incident cleared after dispatch; inspection: checked on site. "
                          "Default: camera, if it did")


class ReopenIn(BaseModel):
    comment: str = Field(min_length=1, max_length=2000, description="why the disposal did not hold")


def single_valued_query(request: Request) -> None:
    """A query parameter given twice is ambiguous (alternatives are comma-separated): refuse it."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise APIError(422, "parameter_repeated", f"give {', '.join(repeated)} once; separate alternatives by commas")


@router.get("", response_model=IncidentPage, summary="List incidents (newest first)", responses=error_responses(422),
            dependencies=[Depends(single_valued_query)])
def list_(filters: Annotated[IncidentFilter, Query()], limit: int = Query(50, ge=1, le=500),
          offset: int = Query(0, ge=0, le=2**31 - 1), svc: Services = Depends(services), session: Session = DB,
          _: Principal = Depends(person)):
    """Comma-separated values of one filter are alternatives. Errors: 422 `invalid_request`, `parameter_repeated`."""
    return list_incidents(session, svc.config.city, filters, limit, offset, datetime.now(UTC))


@router.get("/{incident_id}", response_model=IncidentDetail, responses=error_responses(404, 422))
def detail(incident_id: IncidentId, svc: Services = Depends(services), session: Session = DB,
           _: Principal = Depends(person)):
    """Errors: 404 `incident_not_found`."""
    return incident_detail(session, svc.config.city, svc.config.rulebook, incident_id, datetime.now(UTC))


def _desk(svc: Services, session: Session, principal: Principal) -> CaseDesk:
    return CaseDesk(session, svc.config.rulebook, svc.evidence, principal)


def _after(svc: Services, session: Session, incident: Incident) -> IncidentDetail:
    return incident_detail(session, svc.config.city, svc.config.rulebook, incident.id, datetime.now(UTC))


@router.post("/{incident_id}/confirm", response_model=IncidentDetail, responses=ACTION_ERRORS,
             summary="Operator: a real violation, as detected")
def confirm(incident_id: IncidentId, body: ActionIn | None = None, svc: Services = Depends(services),
            session: Session = DB, principal: Principal = Depends(person)):
    """Errors: 403 `forbidden_role`; 404 `incident_not_found`; 409 `invalid_transition`, `not_a_violation_yet`."""
    body = body or ActionIn()
    return _after(svc, session, _desk(svc, session, principal).confirm(incident_id, body.comment))


@router.post("/{incident_id}/reject", response_model=IncidentDetail, responses=ACTION_ERRORS,
             summary="Operator: a false alarm, with a reason")
def reject(incident_id: IncidentId, body: RejectIn, svc: Services = Depends(services), session: Session = DB,
           principal: Principal = Depends(person)):
    """Errors: 403 `forbidden_role`; 404 `incident_not_found`; 409 `invalid_transition`, `not_a_violation_yet`; 422
    `comment_required` (reason `other`).
    """
    return _after(svc, session, _desk(svc, session, principal).reject(incident_id, body.reason, body.comment))


@router.post("/{incident_id}/correct", response_model=IncidentDetail, responses=ACTION_ERRORS,
             summary="Operator: a real violation, with another code and/or box (kept for retraining)")
def correct(incident_id: IncidentId, body: CorrectIn, svc: Services = Depends(services), session: Session = DB,
            principal: Principal = Depends(person)):
    """Errors: 403 `forbidden_role`; 404 `incident_not_found`; 409 `invalid_transition`, `not_a_violation_yet`; 422
    `code_unknown`, `correction_empty`, `box_invalid`.
    """
    incident = _desk(svc, session, principal).correct(incident_id, body.code, body.box, body.comment)
    return _after(svc, session, incident)


@router.post("/{incident_id}/dispatch", response_model=IncidentDetail, responses=ACTION_ERRORS,
             summary="Supervisor: send to a department; the disposal clock starts")
def dispatch(incident_id: IncidentId, body: DispatchIn | None = None, svc: Services = Depends(services),
             session: Session = DB, principal: Principal = Depends(person)):
    """Errors: 403 `forbidden_role`; 404 `incident_not_found`; 409 `invalid_transition`."""
    body = body or DispatchIn()
    return _after(svc, session, _desk(svc, session, principal).dispatch(incident_id, body.department, body.comment))


async def _resolution_from(request: Request, limit: int) -> tuple[ResolveIn, bytes | None]:
    """(feedback, photo bytes) from JSON (photo as base64) or multipart (fields note, comment, file photo)."""
    body = await read_body(request, limit, too_large_code="photo_too_large")
    photo: bytes | None = None
    try:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data":
            request._body = body  # Starlette parses the form from the body we already read (and bounded)
            form = await request.form()
            upload = form.get("photo")
            photo = None if upload is None or isinstance(upload, str) else await upload.read()
            fields = {name: value for name in ("note", "comment") if isinstance(value := form.get(name), str)}
            feedback = ResolveIn.model_validate(fields)
        else:
            feedback = ResolveIn.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    if feedback.photo_base64 is not None:  # valid base64: the schema's pattern says so
        photo = base64.b64decode(feedback.photo_base64)
    return feedback, photo


@router.post(
    "/{incident_id}/resolve", response_model=IncidentDetail, responses=error_responses(403, 404, 409, 413, 415, 422),
    summary="Supervisor: the department's feedback, with an optional photo (JSON with base64, or multipart)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": ResolveIn.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["note"], "properties": {
            "note": {"type": "string", "minLength": 1, "maxLength": 4000},
            "comment": {"type": "string", "maxLength": 2000},
            "photo": {"type": "string", "format": "binary"}}}},
    }}},
)
async def resolve(incident_id: IncidentId, request: Request, svc: Services = Depends(services)):
    """Errors: 403 `forbidden_role`; 404 `incident_not_found`; 409 `invalid_transition`; 413 `photo_too_large` (the
    upload limit); 415 `photo_not_jpeg`; 422 `note_required`, `invalid_request`, `image_truncated` and the other
    image codes.
    """
    # Not the per-request transaction: on SQLite it would hold the write lock while the photo uploads.
    principal = await run_in_threadpool(_authenticate, svc, request)
    feedback, photo = await _resolution_from(request, svc.settings.max_frame_bytes)

    def apply() -> IncidentDetail:
        with svc.sessions.begin() as session:
            incident = _desk(svc, session, principal).resolve(incident_id, feedback.note, photo, feedback.comment)
            return _after(svc, session, incident)

    return await run_in_threadpool(apply)


def _authenticate(svc: Services, request: Request) -> Principal:
    with svc.sessions.begin() as session:
        return principal_for(session, request_token(request))


@router.post("/{incident_id}/close", response_model=IncidentDetail, responses=ACTION_ERRORS,
             summary="Supervisor: close a resolved case after verification (camera or on site)")
def close(incident_id: IncidentId, body: CloseIn | None = None, svc: Services = Depends(services),
          session: Session = DB, principal: Principal = Depends(person)):
    """Errors: 403 `forbidden_role`; 404 `incident_not_found`; 409 `invalid_transition`, `verification_required`
    (the camera has not seen the place clean since dispatch: close with `inspection`), `camera_not_verified`.
    """
    body = body or CloseIn()
    return _after(svc, session, _desk(svc, session, principal).close(incident_id, body.verification, body.comment))


@router.post("/{incident_id}/reopen", response_model=IncidentDetail, responses=ACTION_ERRORS,
             summary="Supervisor: back to the department with a new deadline")
def reopen(incident_id: IncidentId, body: ReopenIn, svc: Services = Depends(services), session: Session = DB,
           principal: Principal = Depends(person)):
    """Errors: 403 `forbidden_role`; 404 `incident_not_found`; 409 `invalid_transition`; 422 `comment_required`."""
    return _after(svc, session, _desk(svc, session, principal).reopen(incident_id, body.comment))
