"""`gate`: a candidate replaces the shipped model only if no class got worse by more than a margin.

Both models are evaluated now, on the same fixed validation split (`training.evaluate`), never
compared with numbers from another split or another day. A class with fewer than `min_instances`
objects in a subset is listed but not judged there: on 4 objects one box moves AP50 by 0.25, so such a
"loss" is noise (measured: 0.2.0 → 0.3.0 moved window_ad on 4 street-garbage objects 0.81 → 0.09 while
it stayed level, 0.10 → 0.09, on the 76 of the whole split). Objects are counted once per real scene
(`distinct`): the split's 12 trucks are 6 trucks, each in a street photo and again in that photo with
garbage pasted in, and one of them scored as a car at 0.20 instead of a truck at 0.18 moved AP50 by 0.2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_MARGIN = 0.05  # AP50 points a class may lose
MIN_INSTANCES = 10  # objects of a class in a subset (once per real scene) below which its AP50 is not judged
GATE_SUBSETS = ("all", "garbage_street")


@dataclass
class GateResult:
    passed: bool
    margin: float
    shipped: str | None
    worse: dict = field(default_factory=dict)  # "subset/class" -> {"candidate", "shipped", "delta"}
    compared: int = 0
    reason: str = ""
    too_few: dict = field(default_factory=dict)  # "subset/class" -> instances, not judged
    field: dict | None = None  # retrain: mAP50 of candidate and parent on the field validation cameras

    def to_dict(self) -> dict:
        return asdict(self)


def compare(candidate: dict, shipped: dict | None, margin: float = DEFAULT_MARGIN,
            subsets: tuple[str, ...] = GATE_SUBSETS, shipped_name: str | None = None,
            min_instances: int = MIN_INSTANCES) -> GateResult:
    """Compare two `evaluate()` results class by class (AP50) on each subset."""
    if shipped is None:
        return GateResult(True, margin, None, reason="no shipped model to compare with: first model passes")
    worse, compared, too_few = {}, 0, {}
    for subset in subsets:
        ours = candidate["subsets"].get(subset, {}).get("per_class", {})
        theirs = shipped["subsets"].get(subset, {}).get("per_class", {})
        for cls, their in theirs.items():
            our = ours.get(cls, {"ap50": 0.0})
            objects = their.get("distinct", their["instances"])
            if objects < min_instances:
                too_few[f"{subset}/{cls}"] = objects
                continue
            compared += 1
            delta = our["ap50"] - their["ap50"]
            if delta < -margin:
                worse[f"{subset}/{cls}"] = {"candidate": our["ap50"], "shipped": their["ap50"], "delta": round(delta, 4)}
    passed = not worse
    reason = (f"no class worse by more than {margin} AP50 ({compared} compared)" if passed
              else f"{len(worse)} class(es) worse by more than {margin} AP50: {', '.join(sorted(worse))}")
    if too_few:
        reason += f"; {len(too_few)} not judged (< {min_instances} objects)"
    return GateResult(passed, margin, shipped_name, worse, compared, reason, too_few=too_few)


def compare_retrained(candidate: dict, parent: dict, margin: float = DEFAULT_MARGIN,
                      parent_name: str | None = None, min_instances: int = MIN_INSTANCES) -> GateResult:
    """A retrained candidate must not lose on the fixed split beyond the margin AND must win on the
    field split (the cameras whose reviews it did not learn from)."""
    result = compare(candidate, parent, margin, shipped_name=parent_name, min_instances=min_instances)
    ours, theirs = (r["subsets"].get("field", {}) for r in (candidate, parent))
    result.field = {"images": ours.get("images", 0), "candidate_map50": ours.get("map50"),
                    "parent_map50": theirs.get("map50")}
    if not ours.get("images"):
        result.passed = False
        result.reason += "; no field validation frames yet: a win on the field cannot be shown"
    elif ours["map50"] <= theirs["map50"]:
        result.passed = False
        result.reason += f"; no win on the field split (mAP50 {ours['map50']} vs parent {theirs['map50']})"
    else:
        result.reason += f"; wins on the field split (mAP50 {ours['map50']} vs parent {theirs['map50']})"
    return result


def gate(candidate_onnx: str | Path, shipped_onnx: str | Path | None, work, margin: float = DEFAULT_MARGIN,
         imgsz: int = 640, candidate_result: dict | None = None,
         min_instances: int = MIN_INSTANCES) -> tuple[GateResult, dict, dict | None]:
    """Evaluate both models on the same split and compare them."""
    from training.evaluate import evaluate

    candidate_result = candidate_result or evaluate(candidate_onnx, work, imgsz=imgsz, subsets=GATE_SUBSETS, fp=False)
    shipped_result = None
    if shipped_onnx:
        shipped_result = evaluate(shipped_onnx, work, imgsz=imgsz, subsets=GATE_SUBSETS, fp=False)
    result = compare(candidate_result, shipped_result, margin,
                     shipped_name=Path(shipped_onnx).name if shipped_onnx else None, min_instances=min_instances)
    return result, candidate_result, shipped_result
