"""`Detector`: an ultralytics-exported ONNX detection model run with ONNX Runtime and numpy.

Pre- and post-processing reproduce ultralytics' own `predict` (rectangular letterbox, decode of
the `(batch, 4 + nc, anchors)` output, class-aware NMS, boxes mapped back to original pixels);
tests/test_detector_parity.py guards that they agree.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from cv.detections import Detections
from cv.geometry import class_aware_nms
from cv.image import DEFAULT_MAX_PIXELS, DecodedImage, as_bgr, decode_image
from cv.model_card import ModelCard, ModelCardError, default_model_path

PAD_VALUE = 114  # grey, as ultralytics pads
# Encoded bytes, an already decoded frame, or a BGR/gray/BGRA pixel array.
Frame = bytes | DecodedImage | np.ndarray


def machine_threads() -> int:
    """Cores this process may use (affinity-aware), so ONNX Runtime neither idles nor oversubscribes."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class Letterbox:
    """How one frame was fitted into the network input, and how to map boxes back."""

    gain_x: float  # input pixels per frame pixel, per axis (resizing rounds each side)
    gain_y: float
    left: int
    top: int
    width: int  # the frame's pixel size (what the boxes are clipped to)
    height: int


def rect_shape(height: int, width: int, imgsz: int, stride: int) -> tuple[int, int]:
    """The smallest stride-aligned input holding the frame scaled to `imgsz` on its long side."""
    r = min(imgsz / height, imgsz / width)
    new_w, new_h = max(round(width * r), 1), max(round(height * r), 1)
    return new_h + (imgsz - new_h) % stride, new_w + (imgsz - new_w) % stride


def letterbox(image: np.ndarray, shape: tuple[int, int], fit: int) -> tuple[np.ndarray, Letterbox]:
    """Resize `image` to fit `fit` pixels on its long side (and `shape`), centred on grey padding."""
    height, width = image.shape[:2]
    r = min(fit / height, fit / width, shape[0] / height, shape[1] / width)
    new_w, new_h = max(round(width * r), 1), max(round(height * r), 1)
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (shape[1] - new_w) / 2, (shape[0] - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    if top or bottom or left or right:
        image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return image, Letterbox(new_w / width, new_h / height, left, top, width, height)


class Detector:
    """Finds taxonomy objects in frames. Thread-safe: ONNX Runtime sessions may be shared."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        threads: int | None = None,
        spin: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        self.path = Path(model) if model else default_model_path()
        self.card = ModelCard.load_for(self.path)
        self.class_names = tuple(self.card.classes)
        self.imgsz, self.stride = self.card.imgsz, self.card.stride
        self.conf, self.iou, self.max_det, self.max_pixels = conf, iou, max_det, max_pixels

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or machine_threads()
        options.inter_op_num_threads = 1
        # Spinning worker threads win a few % on an idle machine but lose 2× as soon as the CPU is
        # shared (web server, database, a second model): measured in bench/README.md.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        height, width = model_input.shape[2:]
        # A dynamic export takes rectangular inputs; a static one only its own fixed shape.
        self.fixed_shape = (height, width) if isinstance(height, int) and isinstance(width, int) else None
        outputs = self.session.get_outputs()[0].shape
        if isinstance(outputs[1], int) and outputs[1] != 4 + len(self.class_names):
            raise ModelCardError(
                f"{self.path.name} outputs {outputs[1] - 4} classes but its card lists {len(self.class_names)}"
            )

    @cached_property
    def _decoders(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=machine_threads(), thread_name_prefix="decode")

    @property
    def version(self) -> str:
        return self.card.version

    def decode(self, data: bytes) -> DecodedImage:
        """Decode a frame for this model: JPEGs at reduced size when that still covers the input."""
        return decode_image(data, max_pixels=self.max_pixels, min_long_side=self.imgsz)

    def load(self, frame: Frame) -> tuple[np.ndarray, tuple[float, float]]:
        """BGR pixels and the (x, y) factors that map them back to the frame's own pixels."""
        if isinstance(frame, np.ndarray):
            return as_bgr(frame), (1.0, 1.0)
        if isinstance(frame, DecodedImage):
            return frame.pixels, frame.scale
        decoded = self.decode(frame)
        return decoded.pixels, decoded.scale

    def detect(self, frame: Frame) -> Detections:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: list[Frame]) -> list[Detections]:
        """Detect several frames with one session run (frames share the input shape that fits them all)."""
        if not frames:
            return []
        # Decoding releases the GIL: a batch's frames decode in parallel, across the machine's cores.
        loaded = list(self._decoders.map(self.load, frames)) if len(frames) > 1 else [self.load(frames[0])]
        if self.fixed_shape:
            shape = self.fixed_shape
        else:
            shapes = [rect_shape(*pixels.shape[:2], self.imgsz, self.stride) for pixels, _ in loaded]
            shape = (max(s[0] for s in shapes), max(s[1] for s in shapes))
        batch = np.empty((len(frames), 3, *shape), np.float32)
        boxes_back = []
        for i, (pixels, scale) in enumerate(loaded):
            fitted, lb = letterbox(pixels, shape, self.imgsz)
            # HWC BGR uint8 → CHW RGB float in [0, 1], written straight into the batch.
            np.multiply(fitted[..., ::-1].transpose(2, 0, 1), 1 / 255, out=batch[i], casting="unsafe")
            boxes_back.append((lb, scale))
        (output,) = self.session.run(None, {self.input_name: batch})
        return [self._decode(output[i], lb, scale) for i, (lb, scale) in enumerate(boxes_back)]

    def _decode(self, prediction: np.ndarray, lb: Letterbox, scale: tuple[float, float]) -> Detections:
        """(4 + nc, anchors) raw output → filtered, NMS'd boxes in the frame's original pixels."""
        scores = prediction[4:]
        best = scores.max(axis=0)
        candidates = np.flatnonzero(best > self.conf)
        if candidates.size == 0:
            return Detections.empty(self.class_names)
        class_id = scores[:, candidates].argmax(axis=0)
        confidence = best[candidates]
        cx, cy, w, h = prediction[:4, candidates]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        if len(candidates) > 30000:  # as ultralytics: NMS on the 30k most confident only
            top = np.argsort(-confidence, kind="stable")[:30000]
            boxes, confidence, class_id = boxes[top], confidence[top], class_id[top]
        keep = class_aware_nms(boxes, confidence, class_id, self.iou)[: self.max_det]
        boxes = boxes[keep]
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - lb.left) / lb.gain_x
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - lb.top) / lb.gain_y
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, lb.width) * scale[0]
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, lb.height) * scale[1]
        return Detections(boxes.astype(np.float32), confidence[keep].astype(np.float32),
                          class_id[keep].astype(np.int64), self.class_names)
