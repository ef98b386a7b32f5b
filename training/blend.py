"""`blend`: a fine-tune's weights interpolated with the weights it started from.

A fine-tune on one class's scenes (fly-posters) gains there and drifts elsewhere; averaging its
weights with the start's, parameter by parameter, keeps much of the gain and little of the drift,
because the two models lie in one basin of the loss (WiSE-FT, Wortsman et al., CVPR 2022).
`alpha` is the fine-tune's share: 0 is the start, 1 the fine-tune. The result is an ordinary
ultralytics checkpoint in a run folder of its own, so `export` evaluates, gates and cards it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from training import offline
from training.export import save_checkpoint


def _load(path: Path):
    from ultralytics.nn.tasks import load_checkpoint

    if not path.exists():
        raise FileNotFoundError(f"weights not found: {path}")
    model, checkpoint = load_checkpoint(str(path))  # the EMA where there is one, as predict uses it
    return model, checkpoint


def check_alpha(alpha: float) -> None:
    """Refuse a share outside 0..1 (before a training run whose end would be blended)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha} is not a share between 0 and 1")


def blend(start: str | Path, tuned: str | Path, alpha: float, out: str | Path) -> Path:
    """Write (1 - alpha) * start + alpha * tuned to `out` (`<run>/weights/last.pt`) and the run's record.

    Both must be the same network with the same classes. Integer buffers (BatchNorm's batch
    counters) are the fine-tune's. The run folder gets the fine-tune's `args.yaml` and its
    `citypatrol_train.json` with a `blend` entry, so the card says what was averaged. Where `start` is
    a run too (two fine-tunes averaged into a soup), its record goes into the entry as `start_run`, and
    a blend of a blend keeps the earlier entry as `tuned_blend`: the card holds the whole lineage."""
    check_alpha(alpha)
    start, tuned, out = Path(start), Path(tuned), Path(out)
    if out.parent.parent.resolve() == tuned.parent.parent.resolve():
        raise ValueError(f"{out}: a blend goes into a run folder of its own, not the fine-tune's")
    offline.prepare()
    start_model, _ = _load(start)
    tuned_model, tuned_checkpoint = _load(tuned)
    if start_model.names != tuned_model.names:
        raise ValueError(f"{start} and {tuned} detect different classes: they cannot be blended")
    start_state, tuned_state = start_model.state_dict(), tuned_model.state_dict()
    if start_state.keys() != tuned_state.keys() or any(
            start_state[k].shape != tuned_state[k].shape for k in tuned_state):
        raise ValueError(f"{start} and {tuned} are different networks: they cannot be blended")
    blended = {k: (1 - alpha) * start_state[k] + alpha * v if v.is_floating_point() else v
               for k, v in tuned_state.items()}
    tuned_model.load_state_dict(blended)
    save_checkpoint(tuned_model, out, train_args=tuned_checkpoint.get("train_args"))

    tuned_run, run = tuned.parent.parent, out.parent.parent
    if (tuned_run / "args.yaml").exists():
        shutil.copyfile(tuned_run / "args.yaml", run / "args.yaml")
    else:  # not an earlier blend's settings
        (run / "args.yaml").unlink(missing_ok=True)
    record_path, start_record = tuned_run / "citypatrol_train.json", start.parent.parent / "citypatrol_train.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    earlier = record.pop("blend", None)
    record["blend"] = {"start": str(start), "tuned": str(tuned), "alpha": alpha,
                       "rule": "(1 - alpha) * start + alpha * tuned, parameter by parameter (WiSE-FT)",
                       **({"start_run": json.loads(start_record.read_text())} if start_record.exists() else {}),
                       **({"tuned_blend": earlier} if earlier else {})}
    (run / "citypatrol_train.json").write_text(json.dumps(record, indent=1))
    return out
