"""Reports for supervisors: the pass-rate score sheet and the disposal and review backlog.

Pass rate, like an inspection's score sheet (DOMAIN.md): each evaluation point is assessed on each
测评 standard it can fail — a rule of that standard applies to the point's type and one of the
point's camera zones is of a kind the rule watches — once per observation window. The window is one
calendar day in the city's time zone. A window is an observation when a camera that sees the point
sent a frame that day (or a confirmed violation was open then); the point fails the standard in
that window when a confirmed violation of it (an operator confirmed or corrected it; the corrected
code decides the standard) was open at any time that day: from when it became a violation until
the camera saw it gone, or the case was closed, or now. The pass rate is passed / observations.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cv.rulebook import Rulebook
from cv.zones import CityConfig, EvaluationPoint
from serve.models import CaseStatus, Frame, Incident
from serve.review import ReviewOutcome, overdue_condition

WINDOW = "one calendar day in the city's time zone"
ONE_DAY = timedelta(days=1)
CONFIRMED_OUTCOMES = (ReviewOutcome.CONFIRMED, ReviewOutcome.CORRECTED)


class SheetRow(BaseModel):
    point_id: str
    point_name: str
    point_type: str
    department: str = Field(description="the point's owning department")
    district: str
    keeper: str
    standard: str
    codes: list[str] = Field(description="event codes of this standard that apply at the point")
    observations: int
    passed: int
    failed: int
    pass_rate: float | None = Field(description="passed / observations; null without observations")
    failed_days: list[date]


class GroupRate(BaseModel):
    name: str
    points: int
    observations: int
    passed: int
    failed: int
    pass_rate: float | None


class PassRateReport(BaseModel):
    city: str
    timezone: str
    first_day: date
    last_day: date
    window: str = Field(description="what one observation covers")
    overall: GroupRate
    by_point_type: list[GroupRate] = Field(description="worst first")
    by_department: list[GroupRate] = Field(description="worst first (the points' owning departments)")
    by_district: list[GroupRate] = Field(description="worst first")
    sheet: list[SheetRow]


@dataclass
class _Assessment:
    point: EvaluationPoint
    standard: str
    codes: set[str] = field(default_factory=set)
    failed_days: set[date] = field(default_factory=set)


def day_start(day: date, city: CityConfig) -> datetime:
    return datetime.combine(day, time.min, tzinfo=city.tz)


def pass_rate(session: Session, city: CityConfig, rulebook: Rulebook, first_day: date, last_day: date,
              now: datetime) -> PassRateReport:
    """The score sheet for the days `first_day` … `last_day` (city time, both included; none if reversed)."""
    assessments = _assessments(city, rulebook)
    observed: dict[str, set[date]] = defaultdict(set)
    useful = _useful_days(session, city, first_day, last_day, now)
    if useful is not None:
        for day in _days(*useful):
            for point_id in _observed_points(session, city, day):
                observed[point_id].add(day)
        _mark_failures(session, city, rulebook, assessments, *useful, now)

    sheet = []
    for (point_id, standard), a in sorted(assessments.items()):
        failed = sorted(a.failed_days)
        observations = len(observed[point_id] | a.failed_days)
        passed = observations - len(failed)
        sheet.append(SheetRow(
            point_id=point_id, point_name=a.point.name, point_type=a.point.type, department=a.point.department,
            district=a.point.district, keeper=a.point.keeper, standard=standard, codes=sorted(a.codes),
            observations=observations, passed=passed, failed=len(failed), pass_rate=_rate(passed, observations),
            failed_days=failed,
        ))  # fmt: skip
    return PassRateReport(
        city=city.city, timezone=city.timezone, first_day=first_day, last_day=last_day, window=WINDOW,
        overall=_group("all", sheet),
        by_point_type=_groups(sheet, lambda r: r.point_type),
        by_department=_groups(sheet, lambda r: r.department),
        by_district=_groups(sheet, lambda r: r.district),
        sheet=sheet,
    )


def _assessments(city: CityConfig, rulebook: Rulebook) -> dict[tuple[str, str], _Assessment]:
    """(point, standard) pairs a camera can assess: a rule of the standard applies to the point's type
    and watches a zone kind that the point's camera views have."""
    kinds: dict[str, set] = defaultdict(set)
    for camera in city.cameras:
        for point_id, zone in camera.zones:
            kinds[point_id].add(zone.kind)
    assessments: dict[tuple[str, str], _Assessment] = {}
    for point_id, zone_kinds in kinds.items():
        point = city.point(point_id)
        for code, rule in rulebook.rules.items():
            if (not rule.point_types or point.type in rule.point_types) and zone_kinds & set(rule.zone_kinds):
                assessments.setdefault((point_id, rule.standard), _Assessment(point, rule.standard)).codes.add(code)
    return assessments


def _useful_days(session: Session, city: CityConfig, first_day: date, last_day: date,
                 now: datetime) -> tuple[date, date] | None:
    """The requested days that can hold anything: from the first frame ever to the last one (or today).
    Skipping the others keeps a report over any range cheap."""
    first, last = session.execute(select(func.min(Frame.captured_at), func.max(Frame.captured_at))).one()
    if first is None:
        return None
    lo = max(first_day, _local_day(first, city))
    hi = min(last_day, max(_local_day(last, city), _local_day(now, city)))
    return (lo, hi) if lo <= hi else None


def _mark_failures(session: Session, city: CityConfig, rulebook: Rulebook,
                   assessments: dict[tuple[str, str], _Assessment], lo: date, hi: date, now: datetime) -> None:
    """Mark the days on which a confirmed violation of a standard was open at a point."""
    confirmed = session.scalars(select(Incident).where(
        Incident.review_outcome.in_(CONFIRMED_OUTCOMES), Incident.violation_at < day_start(hi + ONE_DAY, city)))
    for incident in confirmed:
        code = incident.corrected_code or incident.code
        rule, gone = rulebook.rules.get(code), incident.ended_at or incident.closed_at or now
        try:
            point = city.point(incident.point_id)
        except KeyError:  # a point the camera config in force no longer lists
            continue
        if rule is None or gone < day_start(lo, city):
            continue
        # A confirmed violation shows the standard applies there, even where the zones say otherwise.
        assessment = assessments.setdefault((point.id, rule.standard), _Assessment(point, rule.standard))
        assessment.codes.add(code)
        assessment.failed_days.update(_days(max(lo, _local_day(incident.violation_at, city)),
                                            min(hi, _local_day(gone, city))))


def _observed_points(session: Session, city: CityConfig, day: date) -> set[str]:
    """The points seen on `day` by a camera that sent at least one frame that day."""
    cameras = session.scalars(select(Frame.camera_id).distinct().where(
        Frame.captured_at >= day_start(day, city), Frame.captured_at < day_start(day + ONE_DAY, city)))
    points_of = {camera.id: [view.point for view in camera.views] for camera in city.cameras}
    return {point_id for camera_id in cameras for point_id in points_of.get(camera_id, ())}


def _local_day(moment: datetime, city: CityConfig) -> date:
    return moment.astimezone(city.tz).date()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _rate(passed: int, observations: int) -> float | None:
    return round(passed / observations, 4) if observations else None


def _group(name: str, rows: list[SheetRow]) -> GroupRate:
    observations, passed = sum(r.observations for r in rows), sum(r.passed for r in rows)
    return GroupRate(name=name, points=len({r.point_id for r in rows}), observations=observations, passed=passed,
                     failed=observations - passed, pass_rate=_rate(passed, observations))


def _groups(rows: list[SheetRow], key) -> list[GroupRate]:
    grouped: dict[str, list[SheetRow]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    groups = [_group(name, members) for name, members in grouped.items()]
    return sorted(groups, key=lambda g: (g.pass_rate is None, g.pass_rate or 0.0, g.name))


SHEET_COLUMNS = ("point_id", "point_name", "point_type", "department", "district", "keeper", "standard",
                 "observations", "passed", "failed", "pass_rate", "failed_days")


def sheet_csv(report: PassRateReport) -> str:
    """The score sheet, one row per point × standard; a BOM so spreadsheet programs read the Chinese."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(SHEET_COLUMNS)
    for row in report.sheet:
        values = row.model_dump()
        values["failed_days"] = " ".join(d.isoformat() for d in row.failed_days)
        values["pass_rate"] = "" if row.pass_rate is None else row.pass_rate
        writer.writerow([values[c] for c in SHEET_COLUMNS])
    return out.getvalue()


class DepartmentBacklog(BaseModel):
    department: str
    open: int = Field(description="dispatched or resolved, not closed")
    overdue: int
    dispatched: int = Field(description="cases ever dispatched to it (open or closed)")
    resolved: int = Field(description="cases it reported handled")
    mean_disposal_h: float | None = Field(description="mean hours from (latest) dispatch to its feedback")


class ReviewStats(BaseModel):
    key: str = Field(description="the event code the rules raised, or the model version")
    reviewed: int
    confirmed: int
    corrected: int
    rejected: int
    precision: float | None = Field(description="(confirmed + corrected) / reviewed: the model's field precision")


class BacklogReport(BaseModel):
    at: datetime
    awaiting_review: int = Field(description="violations no operator has reviewed yet")
    awaiting_dispatch: int = Field(description="confirmed, not yet dispatched")
    departments: list[DepartmentBacklog] = Field(description="most overdue first")
    review_by_code: list[ReviewStats]
    review_by_model: list[ReviewStats]


def backlog(session: Session, now: datetime) -> BacklogReport:
    cases = session.execute(
        select(Incident.dispatched_to, Incident.case_status, Incident.dispatched_at, Incident.resolved_at,
               overdue_condition(now).label("overdue")).where(Incident.dispatched_to.is_not(None))
    ).all()
    by_department: dict[str, list] = defaultdict(list)
    for case in cases:
        by_department[case.dispatched_to].append(case)
    departments = []
    for department, rows in by_department.items():
        disposal_h = [(r.resolved_at - r.dispatched_at).total_seconds() / 3600 for r in rows if r.resolved_at]
        departments.append(DepartmentBacklog(
            department=department,
            open=sum(r.case_status in (CaseStatus.DISPATCHED, CaseStatus.RESOLVED) for r in rows),
            overdue=sum(bool(r.overdue) for r in rows), dispatched=len(rows), resolved=len(disposal_h),
            mean_disposal_h=round(sum(disposal_h) / len(disposal_h), 3) if disposal_h else None,
        ))  # fmt: skip
    departments.sort(key=lambda d: (-d.overdue, -d.open, d.department))

    reviews = session.execute(
        select(Incident.code, Incident.model_version, Incident.review_outcome)
        .where(Incident.review_outcome.is_not(None))
    ).all()
    return BacklogReport(
        at=now,
        awaiting_review=_count(session, Incident.violation_at.is_not(None), Incident.case_status == CaseStatus.NEW),
        awaiting_dispatch=_count(session, Incident.case_status == CaseStatus.CONFIRMED),
        departments=departments,
        review_by_code=_review_stats(reviews, lambda r: r.code),
        review_by_model=_review_stats(reviews, lambda r: r.model_version),
    )


def _count(session: Session, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(Incident).where(*conditions))


def _review_stats(reviews, key) -> list[ReviewStats]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for review in reviews:
        counts[key(review)][review.review_outcome] += 1
    stats = []
    for name, c in sorted(counts.items()):
        confirmed, corrected, rejected = (c[o] for o in (ReviewOutcome.CONFIRMED, ReviewOutcome.CORRECTED,
                                                          ReviewOutcome.REJECTED))
        reviewed = confirmed + corrected + rejected
        stats.append(ReviewStats(key=name, reviewed=reviewed, confirmed=confirmed, corrected=corrected,
                                 rejected=rejected, precision=_rate(confirmed + corrected, reviewed)))
    return stats
