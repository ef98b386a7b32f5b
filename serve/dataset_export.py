"""Reviewed evidence frames → a YOLO dataset for the next training run (`citypatrol export-dataset`).

Operators' reviews are the labels that matter most: a confirmed violation's evidence boxes are
positives from the very camera that will see them again, a corrected one gives its corrected box or
class, a rejected one is a hard negative (the frame is kept, the rejected boxes are not; the manifest
lists them, so that training adds no pseudo-label where a person said there is nothing). Other
detections on the same frame are kept only when the model was confident, and the manifest marks
them as machine labels. Near-identical frames of one camera (a parked car seen 200 times) are
exported once: a 64-bit difference hash within `NEAR_DUPLICATE_BITS` counts as the same picture.

The export is incremental: `OUT/export-state.json` remembers what was exported, so a second run
adds only frames it has not written before (reviews of frames already exported are not revisited).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from cv.config import taxonomy_classes
from cv.rulebook import Rulebook
from cv.zones import CityConfig
from serve.evidence import EvidenceStore
from serve.models import Frame, Incident, Sighting

NEAR_DUPLICATE_BITS = 6
MACHINE_LABEL_SCORE = 0.6
LICENCE = "own footage"


def difference_hash(jpeg: bytes) -> int:
    """64-bit dHash: is each pixel of a 9×8 grey thumbnail brighter than its right neighbour."""
    grey = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


@dataclass
class FrameLabels:
    """What one exported frame is labelled with, and why."""

    boxes: list[tuple[int, tuple[float, float, float, float]]] = field(default_factory=list)  # class id, rel xyxy
    machine: list[bool] = field(default_factory=list)
    outcomes: dict[int, str] = field(default_factory=dict)  # incident id → review outcome
    rejected: list[tuple[int, tuple[float, float, float, float]]] = field(default_factory=list)  # class id, rel xyxy


@dataclass(frozen=True)
class ExportSummary:
    frames_considered: int
    frames_written: int
    near_duplicates_skipped: int
    labels: dict[str, int]
    out: Path


class DatasetExporter:
    def __init__(self, session: Session, evidence: EvidenceStore, rulebook: Rulebook, city: CityConfig):
        self.session, self.evidence, self.rulebook, self.city = session, evidence, rulebook, city
        self.classes = taxonomy_classes()

    def export(self, out: Path, since: datetime | None = None) -> ExportSummary:
        out.mkdir(parents=True, exist_ok=True)
        (out / "images").mkdir(exist_ok=True)
        (out / "labels").mkdir(exist_ok=True)
        state_path = out / "export-state.json"
        state = json.loads(state_path.read_text()) if state_path.exists() else {"frames": [], "hashes": {}}
        exported = set(state["frames"])
        hashes: dict[str, list[int]] = defaultdict(list, state["hashes"])

        reviewed = select(Incident).where(Incident.review_outcome.is_not(None))
        if since is not None:
            reviewed = reviewed.where(Incident.reviewed_at >= since)
        incidents = {i.id: i for i in self.session.scalars(reviewed)}
        sightings = self.session.scalars(
            select(Sighting).where(Sighting.incident_id.in_(incidents)).order_by(Sighting.frame_id)
        ).all() if incidents else []
        by_frame: dict[int, list[Sighting]] = defaultdict(list)
        for sighting in sightings:
            by_frame[sighting.frame_id].append(sighting)
        frames = self.session.scalars(select(Frame).where(Frame.id.in_(by_frame)).order_by(Frame.id)).all()

        written, skipped, label_counts = 0, 0, defaultdict(int)
        with open(out / "manifest.jsonl", "a", encoding="utf-8") as manifest:
            for frame in frames:
                key = f"{frame.camera_id}/{frame.frame_id}"
                if key in exported or not frame.image_sha256 or not self.evidence.exists(frame.image_sha256):
                    continue
                jpeg = self.evidence.get(frame.image_sha256)
                fingerprint = difference_hash(jpeg)
                if any(bin(fingerprint ^ h).count("1") <= NEAR_DUPLICATE_BITS for h in hashes[frame.camera_id]):
                    skipped += 1
                    continue
                labels = self._labels(frame, by_frame[frame.id], incidents)
                stem = f"{frame.camera_id}-{frame.image_sha256[:16]}"
                (out / "images" / f"{stem}.jpg").write_bytes(jpeg)
                (out / "labels" / f"{stem}.txt").write_text("".join(
                    f"{c} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}\n"
                    for c, (x1, y1, x2, y2) in labels.boxes))
                manifest.write(json.dumps(self._manifest_line(stem, frame, labels, incidents), ensure_ascii=False) + "\n")
                for class_id, _ in labels.boxes:
                    label_counts[self.classes[class_id]] += 1
                exported.add(key)
                hashes[frame.camera_id].append(fingerprint)
                written += 1

        (out / "data.yaml").write_text(yaml.safe_dump(
            {"path": str(out.resolve()), "train": "images", "val": "images", "names": dict(enumerate(self.classes))},
            allow_unicode=True, sort_keys=False))
        state_path.write_text(json.dumps({"frames": sorted(exported), "hashes": hashes,
                                          "last_export": datetime.now(UTC).isoformat()}))
        return ExportSummary(len(frames), written, skipped, dict(label_counts), out)

    def _labels(self, frame: Frame, sightings: list[Sighting], incidents: dict[int, Incident]) -> FrameLabels:
        detections = frame.detections or []
        width, height = frame.width or 1, frame.height or 1
        labels = FrameLabels()
        judged: set[int] = set()  # detection indices whose fate a person decided
        for sighting in sightings:
            incident = incidents[sighting.incident_id]
            labels.outcomes[incident.id] = incident.review_outcome
            judged.update(sighting.evidence)
            if incident.review_outcome == "rejected":  # a hard negative: the frame stays, these boxes do not
                labels.rejected += [(self.classes.index(detections[i]["class"]), _relative(detections[i]["box"], width, height))
                                    for i in sighting.evidence]
                continue
            new_class = self._corrected_class(incident)
            if incident.review_outcome == "corrected" and incident.corrected_box:
                cls = new_class if new_class is not None else self._class_of(detections, sighting.evidence)
                labels.boxes.append((cls, tuple(incident.corrected_box)))
                labels.machine.append(False)
                continue
            for index in sighting.evidence:
                detection = detections[index]
                cls = self.classes.index(detection["class"])
                if new_class is not None and detection["class"] not in self.rulebook.rules[incident.corrected_code].evidence_classes:
                    cls = new_class
                labels.boxes.append((cls, _relative(detection["box"], width, height)))
                labels.machine.append(False)
        for index, detection in enumerate(detections):
            if index not in judged and detection["confidence"] >= MACHINE_LABEL_SCORE:
                labels.boxes.append((self.classes.index(detection["class"]), _relative(detection["box"], width, height)))
                labels.machine.append(True)
        return labels

    def _corrected_class(self, incident: Incident) -> int | None:
        """A corrected code means another kind of object: its rule's first evidence class."""
        if not incident.corrected_code:
            return None
        return self.classes.index(self.rulebook.rules[incident.corrected_code].evidence_classes[0])

    def _class_of(self, detections: list[dict], evidence: list[int]) -> int:
        return self.classes.index(detections[evidence[0]]["class"])

    def _manifest_line(self, stem: str, frame: Frame, labels: FrameLabels, incidents: dict[int, Incident]) -> dict:
        camera = self.city.camera(frame.camera_id) if frame.camera_id in {c.id for c in self.city.cameras} else None
        point_types = sorted({self.city.point(v.point).type for v in camera.views}) if camera else []
        return {
            "image": f"images/{stem}.jpg", "label": f"labels/{stem}.txt",
            "camera_id": frame.camera_id, "frame_id": frame.frame_id, "captured_at": frame.captured_at.isoformat(),
            "point_types": point_types,
            "review_outcomes": {str(i): o for i, o in labels.outcomes.items()},
            "model_version": frame.model_version,
            "rulebook_versions": sorted({incidents[i].rulebook_version for i in labels.outcomes}),
            "machine_labels": [i for i, machine in enumerate(labels.machine) if machine],
            "rejected_boxes": [[c, *(round(v, 6) for v in box)] for c, box in labels.rejected],
            "licence": LICENCE,
        }


def _relative(box: list[float], width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return (max(0.0, x1 / width), max(0.0, y1 / height), min(1.0, x2 / width), min(1.0, y2 / height))
