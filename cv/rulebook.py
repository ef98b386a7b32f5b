"""The rulebook (`configs/rulebook.yaml`): violation types keyed by event code, as data.

Each rule says what evidence the detector must supply, where it counts (zone kinds, point types,
schedule), what exempts it, how long it must last before it is a violation, which 测评 standard
line it fails and who must dispose of it by when. Adding a violation type needs no code.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cv.config import CONFIG_DIR, TAXONOMY, KeyPathError, load_model, taxonomy_classes
from cv.zones import PointType, Schedule, ZoneKind

DEFAULT_RULEBOOK = CONFIG_DIR / "rulebook.yaml"
EXEMPTION_ONLY_KINDS = frozenset({ZoneKind.PARKING_BAY, ZoneKind.BIKE_BAY, ZoneKind.VENDING_ZONE})


def _known_class(name: str, info: ValidationInfo) -> str:
    classes = (info.context or {}).get("classes")
    if classes is not None and name not in classes:
        raise ValueError(f"unknown detector class {name!r}; the taxonomy has {', '.join(classes)}")
    return name


ClassName = Annotated[str, AfterValidator(_known_class)]
_EVENT_CODE = re.compile(r"^(\d{4}|[A-Z][A-Z0-9_]*)$")


def _event_code(code: str) -> str:
    if not _EVENT_CODE.match(code):
        raise ValueError(f"{code!r} is not an event code: 4 digits (GB/T 30428, e.g. 0102) or UPPER_CASE (BIN_OVERFLOW)")
    return code


EventCode = Annotated[str, AfterValidator(_event_code)]


class Placement(StrEnum):
    """How a piece of evidence is placed in a zone."""

    BOTTOM_CENTRE = "bottom_centre"  # ground objects: where they stand
    OVERLAP = "overlap"  # wall objects: the fraction of the box inside the zone


class Cluster(BaseModel):
    """Evidence that counts only as a group: a stall is umbrellas, tables and chairs close together."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    companions: list[ClassName] = Field(
        default_factory=list, description="classes that join a group beside it but never form one (vendors)"
    )
    max_gap: float = Field(0.5, ge=0, description="largest gap between two members, in their mean box height")
    min_parts: int = Field(2, ge=1, description="evidence-class members needed for a group")


class Matching(BaseModel):
    """How a new observation is matched to an open incident (relative image coordinates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_iou: float = Field(0.3, gt=0, le=1)
    small_box_area: float = Field(
        0.004, ge=0, le=1, description="boxes below this area (fraction of the frame) match by centre distance"
    )
    max_centre_distance: float = Field(0.03, ge=0, le=1.5)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, description="中文 name of the event type")
    name_en: str = ""
    evidence_classes: list[ClassName] = Field(min_length=1)
    cluster: Cluster | None = None
    placement: Placement = Placement.BOTTOM_CENTRE
    min_overlap: float = Field(0.5, gt=0, le=1, description="with placement overlap: fraction of the box in the zone")
    zone_kinds: list[ZoneKind] = Field(min_length=1)
    exemption_kinds: list[ZoneKind] = Field(default_factory=list)
    yields_to: list[EventCode] = Field(
        default_factory=list, description="evidence that these rules report in the same frame is not reported again"
    )
    point_types: list[PointType] = Field(default_factory=list, description="empty: every point type")
    min_score: float = Field(ge=0, le=1)
    min_area: float = Field(0.0, ge=0, le=1, description="smallest evidence box, as a fraction of the frame")
    second_look: bool = Field(
        False, description="also look for the evidence in full-resolution crops of the rule's zones (small objects)")
    dwell_s: float = Field(ge=0)
    min_hits: int = Field(ge=1)
    clear_after_s: float = Field(gt=0)
    standard: str = Field(min_length=1, description="the 测评 standard line this violation fails")
    disposal_limit_h: float = Field(gt=0)
    department: str = Field(min_length=1, description="default department the case goes to")
    schedule: Schedule | None = Field(None, description="when the rule is enforced; always if absent")

    @model_validator(mode="after")
    def _kinds_are_consistent(self) -> Rule:
        exemption_only = [k.value for k in self.zone_kinds if k in EXEMPTION_ONLY_KINDS]
        if exemption_only:
            raise KeyPathError(("zone_kinds",), f"{exemption_only} mark where things are allowed: list them under exemption_kinds")
        both = sorted(set(self.zone_kinds) & set(self.exemption_kinds))
        if both:
            raise KeyPathError(("exemption_kinds",), f"{[k.value for k in both]} also listed in zone_kinds")
        return self


class Rulebook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(ge=1, description="schema version of this file")
    matching: Matching = Field(default_factory=Matching)
    rules: dict[EventCode, Rule] = Field(min_length=1)
    _content_version: str = PrivateAttr(default="")

    @field_validator("rules", mode="before")
    @classmethod
    def _codes_are_text(cls, rules: object) -> object:
        # YAML reads an unquoted 0102 as a number: say so rather than fail on a mangled key.
        if isinstance(rules, dict):
            numeric = [k for k in rules if not isinstance(k, str)]
            if numeric:
                raise ValueError(f"event codes {numeric} were read as numbers: quote them, e.g. \"0102\":")
        return rules

    @model_validator(mode="after")
    def _references_resolve(self) -> Rulebook:
        for code, rule in self.rules.items():
            for i, other in enumerate(rule.yields_to):
                if other not in self.rules:
                    raise KeyPathError(("rules", code, "yields_to", i), f"unknown event code {other!r}")
                if other == code:
                    raise KeyPathError(("rules", code, "yields_to", i), "a rule cannot yield to itself")
        self.evaluation_order  # raises on a cycle
        return self

    @cached_property
    def evaluation_order(self) -> tuple[str, ...]:
        """Codes in an order where every rule comes after the rules it yields to."""
        order: list[str] = []
        visiting: list[str] = []

        def visit(code: str) -> None:
            if code in order:
                return
            if code in visiting:
                cycle = " → ".join(visiting[visiting.index(code):] + [code])
                raise KeyPathError(("rules", code, "yields_to"), f"rules yield to each other in a cycle: {cycle}")
            visiting.append(code)
            for other in self.rules[code].yields_to:
                visit(other)
            visiting.pop()
            order.append(code)

        for code in self.rules:
            visit(code)
        return tuple(order)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_RULEBOOK, taxonomy: str | Path = TAXONOMY) -> Rulebook:
        """Validate the rulebook; evidence classes must be in the detector taxonomy."""
        rulebook, version = load_model(path, cls, context={"classes": taxonomy_classes(taxonomy)})
        rulebook._content_version = version
        return rulebook

    @property
    def content_version(self) -> str:
        """sha256 of the file it was loaded from (empty when built in code)."""
        return self._content_version
