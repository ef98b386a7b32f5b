"""`Detections`: the one currency between stages (struct of numpy arrays, like supervision's)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame, in the frame's original pixel coordinates.

    `class_names` is the model's whole class list (indexed by `class_id`), so a `Detections`
    can be interpreted without the model that produced it.
    """

    xyxy: np.ndarray  # (n, 4) float32: x1, y1, x2, y2
    confidence: np.ndarray  # (n,) float32
    class_id: np.ndarray  # (n,) int64
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.confidence.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(
                f"inconsistent Detections shapes: xyxy {self.xyxy.shape}, "
                f"confidence {self.confidence.shape}, class_id {self.class_id.shape}"
            )

    @classmethod
    def empty(cls, class_names: tuple[str, ...] | list[str] = ()) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), tuple(class_names))

    @classmethod
    def from_records(cls, records: list[dict], class_names: tuple[str, ...] | list[str]) -> Detections:
        """Build from `{"class": name, "confidence": c, "box": [x1, y1, x2, y2]}` records (tests, APIs)."""
        names = tuple(class_names)
        if not records:
            return cls.empty(names)
        return cls(
            np.array([r["box"] for r in records], np.float32).reshape(-1, 4),
            np.array([r["confidence"] for r in records], np.float32),
            np.array([names.index(r["class"]) for r in records], np.int64),
            names,
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> Detections:
        """Select by integer array, slice or boolean mask; keeps the class list."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], self.class_names)

    @property
    def names(self) -> list[str]:
        """The class name of each detection."""
        return [self.class_names[i] for i in self.class_id]

    def of_class(self, *names: str) -> Detections:
        wanted = [self.class_names.index(n) for n in names if n in self.class_names]
        return self[np.isin(self.class_id, wanted)]

    def to_records(self) -> list[dict]:
        return [
            {"class": name, "confidence": round(float(c), 4), "box": [round(float(v), 1) for v in box]}
            for name, c, box in zip(self.names, self.confidence, self.xyxy)
        ]


def concat_detections(parts: list[Detections]) -> Detections:
    """One `Detections` holding all of `parts` in order (they share the class list of the first)."""
    if not parts:
        return Detections.empty()
    return Detections(np.concatenate([d.xyxy for d in parts]), np.concatenate([d.confidence for d in parts]),
                      np.concatenate([d.class_id for d in parts]), parts[0].class_names)
