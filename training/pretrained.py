"""The COCO-pretrained YOLOv5n checkpoint: unpickling it without the YOLOv5 repository, and
transferring its backbone and neck (layers 0–23) into ultralytics' `yolov5n.yaml` model.

The checkpoint is a pickle of YOLOv5's own `models.yolo.Model`; its classes only need to exist
as importable names for the unpickler, so we stand in plain `nn.Module` subclasses for them.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from training import offline

COCO_WEIGHTS = Path("../shared/weights/yolov5n-coco.pt")
TRANSFERRED_LAYERS = 24  # layers 0..23: backbone + neck, same names and shapes as yolov5n.yaml

COCO_NAMES = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign "
    "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella "
    "handbag tie suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard "
    "surfboard tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange "
    "broccoli carrot hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv laptop "
    "mouse remote keyboard cell_phone microwave oven toaster sink refrigerator book clock vase scissors "
    "teddy_bear hair_drier toothbrush"
).split()


class _StandIn:
    """A module whose every attribute is an `nn.Module` subclass, so any pickled YOLOv5 class resolves."""

    def __init__(self, torch_nn):
        self._nn = torch_nn
        self._classes: dict[str, type] = {}

    def __call__(self, name: str) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__getattr__ = self._class_for  # PEP 562 module-level __getattr__
        return module

    def _class_for(self, attr: str) -> type:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr not in self._classes:
            self._classes[attr] = type(attr, (self._nn.Module,), {})
        return self._classes[attr]


def load_coco_state_dict(path: str | Path = COCO_WEIGHTS) -> dict:
    """The checkpoint's float32 state dict (349 tensors), loaded without the YOLOv5 repository."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"COCO weights not found at {path} (expected ../shared/weights beside the repo)")
    stand_in = _StandIn(torch.nn)
    names = ["models", "models.yolo", "models.common", "models.experimental", "utils", "utils.general",
             "utils.autoanchor", "utils.activations"]
    saved = {n: sys.modules.get(n) for n in names}
    try:
        for n in names:
            sys.modules[n] = stand_in(n)
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    finally:
        for n, module in saved.items():
            if module is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = module
    return {k: v.float() for k, v in ckpt["model"].state_dict().items()}


def build_student(class_names: list[str], weights: str | Path = COCO_WEIGHTS, seed: int = 0):
    """ultralytics' yolov5n (anchor-free head) for our classes, with the COCO backbone and neck."""
    offline.prepare()
    import torch
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel("yolov5n.yaml", nc=len(class_names), verbose=False)
    model.names = dict(enumerate(class_names))
    coco = load_coco_state_dict(weights)
    own = model.state_dict()
    backbone = {k: v for k, v in coco.items()
                if int(k.split(".")[1]) < TRANSFERRED_LAYERS and k in own and own[k].shape == v.shape}
    expected = [k for k in own if int(k.split(".")[1]) < TRANSFERRED_LAYERS and not k.endswith("num_batches_tracked")]
    missing = [k for k in expected if k not in backbone]
    if missing:
        raise ValueError(f"COCO checkpoint lacks {len(missing)} backbone tensors, e.g. {missing[:3]}")
    model.load_state_dict(backbone, strict=False)
    return model
