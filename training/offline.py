"""Make torch + ultralytics run offline on a CPU-only machine. Import this before ultralytics.

Everything that needs the `train` extra (training code, the test-model fixture, benchmarks)
calls `prepare()` first; it is idempotent. What it fixes, and why:

- The PyPI torchvision wheel is a CUDA build whose C++ ops fail to load against CPU torch, and
  ultralytics calls `torchvision.ops.nms` once torchvision is importable. We define the
  `torchvision::nms` / `torchvision::qnms` operators ourselves with a CPU kernel, then mark the
  extension as loaded, so torchvision's own Python wrappers dispatch to our kernel. Where
  torchvision's own ops do load (a GPU machine with a matching torch), they are used instead.
- ultralytics would download fonts and packages, write settings under $HOME, and pin torch to
  `cpu_count - 1` threads (one thread on a 2-core machine).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from cv.detector import machine_threads

# A Latin font from Debian's fonts-dejavu-core (else the DejaVu that matplotlib, an ultralytics
# dependency, bundles) stands in for the Arial.ttf that ultralytics would otherwise download.
_LOCAL_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


def _local_fonts() -> list[str]:
    try:
        import matplotlib

        bundled = [str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")]
    except ImportError:
        bundled = []
    return [*_LOCAL_FONTS, *bundled]


_prepared = False


def _nms_cpu(boxes, scores, iou_threshold: float):
    """Greedy NMS, the semantics of torchvision.ops.nms: indices kept, by decreasing score."""
    import torch

    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    x1, y1, x2, y2 = boxes.float().unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter).clamp(min=1e-12)
        order = rest[iou <= iou_threshold]
    return torch.stack(keep).to(torch.int64)


def _torchvision_ops_load() -> bool:
    """True when torchvision's compiled ops load against this torch (matching builds)."""
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torchvision")
    locations = spec.submodule_search_locations if spec else None
    library = next(Path(locations[0]).glob("_C*.so"), None) if locations else None
    if library is None:
        return False
    try:
        torch.ops.load_library(str(library))
        return True
    except OSError:
        return False


def _register_torchvision_ops() -> None:
    import torch

    if "torchvision" in sys.modules or _torchvision_ops_load():
        return  # already imported (by us earlier), or its own ops work here
    try:
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl("nms", _nms_cpu, "CPU")
        lib.impl("qnms", _nms_cpu, "CPU")
        _register_torchvision_ops.library = lib  # keep the registration alive
    except RuntimeError:
        pass  # a working torchvision extension already defined them
    import torchvision.extension

    torchvision.extension._has_ops = lambda: True


def prepare(config_dir: str | Path | None = None) -> None:
    """Set the environment so that ultralytics never reaches the network, then fix threads."""
    global _prepared
    if _prepared:
        return
    config_dir = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or Path("var") / "ultralytics")
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir.resolve())
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    # Idle OpenMP threads sleep instead of spinning: on a small machine shared with other work, spinning
    # threads made a 2-thread forward/backward 2-3x slower than with passive waiting (measured).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for font in _local_fonts():
        target = config_dir / "Arial.ttf"
        if Path(font).exists() and not target.exists():
            shutil.copyfile(font, target)
            shutil.copyfile(font, config_dir / "Arial.Unicode.ttf")

    import torch

    _register_torchvision_ops()
    import ultralytics  # noqa: F401  (sets torch threads to cpu_count-1; undone below)
    from ultralytics.utils import SETTINGS

    SETTINGS.update({"sync": False})
    threads = machine_threads()
    torch.set_num_threads(threads)
    # select_device() sets torch threads again from NUM_THREADS (cpu_count-1) when training starts:
    # on 2 cores that halved the training speed (measured: one busy core), so it gets the machine's.
    import ultralytics.utils
    import ultralytics.utils.torch_utils

    ultralytics.utils.NUM_THREADS = ultralytics.utils.torch_utils.NUM_THREADS = threads
    os.environ["OMP_NUM_THREADS"] = str(threads)
    _prepared = True
