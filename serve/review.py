"""Review and dispatch: what people do with a violation, a state machine over `Incident.case_status`.

    new ─confirm/correct─▶ confirmed ─dispatch─▶ dispatched ─resolve─▶ resolved ─close─▶ closed
     └──────reject──────▶ rejected                    ▲                    │               │
                                                      └───────reopen───────┴───────────────┘

Operators review (confirm, reject, correct); a review may be revised until the case is dispatched.
Supervisors dispatch, resolve (the department's feedback), close and reopen. Only incidents that
became violations can be reviewed. Each action is checked against the person's role and the case's
state and written to the audit log (who, when, the case fields it changed before and after, comment)
in the caller's transaction, so the change and its audit entry commit together or not at all.

A case is overdue when its deadline has passed and the department has not reported it handled in
time: dispatched and past the deadline, or resolved only after it and not yet closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from cv.image import decode_image, read_header
from cv.rulebook import Rulebook
from serve.auth import Principal, Role
from serve.errors import APIError
from serve.evidence import EvidenceStore
from serve.models import AuditEntry, CaseStatus, Incident, IncidentStatus


class Action(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    CORRECT = "correct"
    DISPATCH = "dispatch"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"


class ReviewOutcome(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CORRECTED = "corrected"  # a real violation, with another code and/or a redrawn box


class RejectReason(StrEnum):
    FALSE_DETECTION = "false_detection"  # the model saw something that is not there
    EXEMPT_LOCATION = "exempt_location"  # there, but allowed there (a marked bay, an approved stall)
    DUPLICATE = "duplicate"  # another incident is the same event
    NOT_A_VIOLATION = "not_a_violation"  # there, but not against the standard
    OTHER = "other"  # say why in the comment


class Verification(StrEnum):
    CAMERA = "camera"  # the camera saw the place clean after dispatch (the incident cleared)
    INSPECTION = "inspection"  # a person checked on site


@dataclass(frozen=True)
class Step:
    role: Role
    allowed_from: frozenset[CaseStatus]
    needs_violation: bool = False  # reviews: the incident must have become a violation


_REVIEWABLE = frozenset({CaseStatus.NEW, CaseStatus.CONFIRMED, CaseStatus.REJECTED})
STEPS: dict[Action, Step] = {
    Action.CONFIRM: Step(Role.OPERATOR, _REVIEWABLE, needs_violation=True),
    Action.REJECT: Step(Role.OPERATOR, _REVIEWABLE, needs_violation=True),
    Action.CORRECT: Step(Role.OPERATOR, _REVIEWABLE, needs_violation=True),
    Action.DISPATCH: Step(Role.SUPERVISOR, frozenset({CaseStatus.CONFIRMED})),
    Action.RESOLVE: Step(Role.SUPERVISOR, frozenset({CaseStatus.DISPATCHED})),
    Action.CLOSE: Step(Role.SUPERVISOR, frozenset({CaseStatus.RESOLVED})),
    Action.REOPEN: Step(Role.SUPERVISOR, frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})),
}

# The incident's columns that people's actions change (what the audit log records).
CASE_FIELDS = (
    "case_status", "review_outcome", "reviewed_by", "reviewed_at", "reject_reason", "corrected_code",
    "corrected_box", "dispatched_to", "dispatched_at", "deadline_at", "resolved_at", "resolution_note",
    "resolution_photo_sha256", "closed_at", "close_verification",
)  # fmt: skip


def case_fields(incident: Incident) -> dict:
    """The case columns as JSON values."""
    values = {name: getattr(incident, name) for name in CASE_FIELDS}
    return {name: v.isoformat() if isinstance(v, datetime) else v for name, v in values.items()}


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """SQL: past the deadline without the department's feedback in time, and not closed."""
    return and_(
        Incident.case_status.in_((CaseStatus.DISPATCHED, CaseStatus.RESOLVED)),
        Incident.deadline_at.is_not(None),  # never NULL, so NOT (…) selects the cases that are not overdue
        Incident.deadline_at < now,
        or_(Incident.resolved_at.is_(None), Incident.resolved_at > Incident.deadline_at),
    )


class CaseDesk:
    """People's actions on incidents, in the caller's session (one transaction per request)."""

    def __init__(self, session: Session, rulebook: Rulebook, evidence: EvidenceStore, actor: Principal,
                 now: datetime | None = None):
        self.session, self.rulebook, self.evidence, self.actor = session, rulebook, evidence, actor
        self.now = now or datetime.now(UTC)

    def confirm(self, incident_id: int, comment: str | None = None) -> Incident:
        with self._act(Action.CONFIRM, incident_id, comment) as incident:
            self._review(incident, ReviewOutcome.CONFIRMED)
        return incident

    def reject(self, incident_id: int, reason: RejectReason, comment: str | None = None) -> Incident:
        with self._act(Action.REJECT, incident_id, comment) as incident:
            if reason == RejectReason.OTHER and not comment:
                raise APIError(422, "comment_required", "a rejection for another reason needs a comment saying why")
            self._review(incident, ReviewOutcome.REJECTED, reject_reason=reason)
        return incident

    def correct(self, incident_id: int, code: str | None = None, box: list[float] | None = None,
                comment: str | None = None) -> Incident:
        """A real violation, but of another code (one the rulebook knows) and/or with a redrawn box;
        both are kept as labels for retraining. Each correction replaces the previous one."""
        with self._act(Action.CORRECT, incident_id, comment) as incident:
            if code is not None and code not in self.rulebook.rules:
                raise APIError(422, "code_unknown",
                               f"no event code {code!r} in the rulebook; known: {', '.join(self.rulebook.rules)}")
            new_code = code if code != incident.code else None
            if new_code is None and box is None:
                raise APIError(422, "correction_empty", "a correction needs another code or a corrected box")
            if box is not None and not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
                raise APIError(422, "box_invalid", "a box is relative xyxy: 0 ≤ x1 < x2 ≤ 1 and 0 ≤ y1 < y2 ≤ 1")
            self._review(incident, ReviewOutcome.CORRECTED, corrected_code=new_code,
                         corrected_box=None if box is None else [float(v) for v in box])
        return incident

    def dispatch(self, incident_id: int, department: str | None = None, comment: str | None = None) -> Incident:
        """Send the case to a department (default: its rule's) and start the disposal clock."""
        with self._act(Action.DISPATCH, incident_id, comment) as incident:
            default_department, limit_h = self._disposal_terms(incident)
            incident.dispatched_to = department or default_department
            self._start_clock(incident, limit_h)
        return incident

    def resolve(self, incident_id: int, note: str, photo: bytes | None = None, comment: str | None = None) -> Incident:
        """The department's feedback: what it did, optionally with a photo (JPEG) of the place."""
        with self._act(Action.RESOLVE, incident_id, comment) as incident:
            if not note.strip():
                raise APIError(422, "note_required", "say what the department did (the feedback note)")
            incident.resolution_note = note.strip()
            incident.resolution_photo_sha256 = None if photo is None else self._store_photo(photo)
            incident.resolved_at = self.now
            incident.case_status = CaseStatus.RESOLVED
        return incident

    def close(self, incident_id: int, verification: Verification | None = None, comment: str | None = None) -> Incident:
        """Close after verification: the camera's (the incident cleared after dispatch) or a person's
        on site. Without `verification`, the camera's is used when there is one."""
        with self._act(Action.CLOSE, incident_id, comment) as incident:
            camera_saw_clean = incident.status == IncidentStatus.CLEARED and incident.ended_at is not None and (
                incident.ended_at >= incident.dispatched_at
            )
            if verification is None and not camera_saw_clean:
                raise APIError(409, "verification_required",
                               "the camera has not seen the place clean since dispatch: verify on site and close "
                               "with verification=inspection")
            if verification == Verification.CAMERA and not camera_saw_clean:
                raise APIError(409, "camera_not_verified",
                               f"the camera has not seen the place clean since dispatch (it is {incident.status})")
            incident.close_verification = verification or Verification.CAMERA
            incident.closed_at = self.now
            incident.case_status = CaseStatus.CLOSED
        return incident

    def reopen(self, incident_id: int, comment: str) -> Incident:
        """Back to the department: the disposal did not hold. The clock starts again."""
        with self._act(Action.REOPEN, incident_id, comment) as incident:
            if not comment or not comment.strip():
                raise APIError(422, "comment_required", "say why the case is reopened")
            _, limit_h = self._disposal_terms(incident)
            incident.resolved_at = incident.resolution_note = incident.resolution_photo_sha256 = None
            incident.closed_at = incident.close_verification = None
            self._start_clock(incident, limit_h)
        return incident

    @contextmanager
    def _act(self, action: Action, incident_id: int, comment: str | None) -> Iterator[Incident]:
        """Check role and state, lock the incident, let the action change it, audit what changed."""
        step = STEPS[action]
        self.actor.require(step.role)
        incident = self.session.get(Incident, incident_id, with_for_update=True)
        if incident is None:
            raise APIError(404, "incident_not_found", f"no incident {incident_id}")
        if incident.case_status not in step.allowed_from:
            allowed = ", ".join(sorted(step.allowed_from))
            raise APIError(409, "invalid_transition", f"cannot {action} a case that is {incident.case_status}; "
                                                      f"{action} needs one that is {allowed}")
        if step.needs_violation and incident.violation_at is None:
            raise APIError(409, "not_a_violation_yet", f"incident {incident_id} is a {incident.status}, never a "
                                                       "violation: only violations are reviewed")
        before = case_fields(incident)
        yield incident
        after = case_fields(incident)
        changed = [name for name in CASE_FIELDS if before[name] != after[name]]
        self.session.add(AuditEntry(
            at=self.now, actor=self.actor.username, action=action.value, incident_id=incident.id,
            before={name: before[name] for name in changed}, after={name: after[name] for name in changed},
            comment=comment or None,
        ))  # fmt: skip

    def _review(self, incident: Incident, outcome: ReviewOutcome, reject_reason: RejectReason | None = None,
                corrected_code: str | None = None, corrected_box: list[float] | None = None) -> None:
        # A review replaces the previous one whole: no stale reason or correction survives a revision.
        incident.review_outcome = outcome
        incident.case_status = CaseStatus.REJECTED if outcome == ReviewOutcome.REJECTED else CaseStatus.CONFIRMED
        incident.reviewed_by, incident.reviewed_at = self.actor.username, self.now
        incident.reject_reason = reject_reason
        incident.corrected_code, incident.corrected_box = corrected_code, corrected_box

    def _disposal_terms(self, incident: Incident) -> tuple[str, float]:
        """Default department and time limit: the incident's rule's, or the corrected code's rule's."""
        corrected = self.rulebook.rules.get(incident.corrected_code) if incident.corrected_code else None
        if corrected is not None:
            return corrected.department, corrected.disposal_limit_h
        return incident.department, incident.disposal_limit_h

    def _start_clock(self, incident: Incident, limit_h: float) -> None:
        incident.dispatched_at = self.now
        incident.deadline_at = self.now + timedelta(hours=limit_h)
        incident.case_status = CaseStatus.DISPATCHED

    def _store_photo(self, photo: bytes) -> str:
        if read_header(photo[:65536]).format != "jpeg":  # evidence is served as image/jpeg
            raise APIError(415, "photo_not_jpeg", "the resolution photo must be a JPEG")
        decode_image(photo)  # a corrupt or truncated photo is refused (ImageError → 4xx), not stored
        return self.evidence.put(photo)
