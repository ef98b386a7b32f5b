"""`Detector`: an ultralytics-exported ONNX detection model run with ONNX Runtime and numpy.

Pre- and post-processing reproduce ultralytics' own `predict` (rectangular letterbox, decode of
the `(batch, 4 + nc, anchors)` output, class-aware NMS, boxes mapped back to original pixels);
tests/test_detector_parity.py guards that they agree.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from cv.detections import Detections, concat_detections
from cv.geometry import class_aware_nms
from cv.image import DEFAULT_MAX_PIXELS, DecodedImage, as_bgr, decode_image
from cv.model_card import ModelCard, ModelCardError, default_model_path

PAD_VALUE = 114  # grey, as ultralytics pads
# Encoded bytes, an already decoded frame, or a BGR/gray/BGRA pixel array.
Frame = bytes | DecodedImage | np.ndarray
RelativeBox = tuple[float, float, float, float]  # xyxy as fractions of the frame's width and height

# A crop is worth a second look only when it shows its objects this much larger than the whole frame
# does; 2× is where it stops: beyond that a wall needs more than four crops. Crops never upscale past
# the frame's own pixels: that finds no more posters per false one (bench/second_look_zoom.py).
MIN_CROP_ZOOM, MAX_CROP_ZOOM, MAX_CROPS = 1.3, 2.0, 4
CROP_DUPLICATE = 0.5  # a crop's box more than this much inside a kept box of its class is that object again
CUT_MARGIN = 2  # loaded pixels: a crop's box this close to a window edge inside the frame is cut off there


@dataclass(frozen=True)
class Crops:
    """A second look at parts of a frame at full resolution (DESIGN.md: small fly-posters on walls).

    `windows` are relative xyxy boxes of the frame; of what the detector finds in them, only
    `classes` are kept (a wall crop is there for the posters, not for the cars in front of it).
    """

    windows: tuple[RelativeBox, ...]
    classes: frozenset[str]


def crop_windows(regions: list[RelativeBox], frame_size: tuple[int, int], imgsz: int) -> tuple[RelativeBox, ...]:
    """Windows with the frame's aspect that cover each region (a wall's bounding box) at up to 2× the
    whole frame's zoom, at most four in all (beyond that, fewer larger windows over all regions);
    none when the frame is too small to gain from a closer look."""
    width, height = frame_size
    zoom = min(MAX_CROP_ZOOM, max(width, height) / imgsz)
    if zoom < MIN_CROP_ZOOM or not regions:
        return ()
    windows: list[RelativeBox] = []
    for region in regions:
        windows += [w for w in _cover(region, 1 / zoom) if w not in windows]
    if len(windows) <= MAX_CROPS:
        return tuple(windows)
    corners = np.asarray(regions, np.float64)
    union = (*corners[:, :2].min(axis=0), *corners[:, 2:].max(axis=0))
    side = 1 / zoom
    while len(windows := _cover(union, side)) > MAX_CROPS:
        side = min(1.0, side * 1.15)
    return tuple(windows)


def _cover(region: RelativeBox, side: float) -> list[RelativeBox]:
    """Square-in-relative-units windows of `side` spread evenly over `region` (overlapping where it
    is not a whole number of windows), inside the frame."""
    x0, y0, x1, y1 = (min(max(v, 0.0), 1.0) for v in region)

    def starts(lo: float, hi: float) -> list[float]:
        count = max(1, int(np.ceil((hi - lo - 1e-9) / side)))
        first, last = min(lo, 1 - side), min(max(hi - side, 0.0), 1 - side)
        first = min(first, last)
        return [first + (last - first) * i / (count - 1) for i in range(count)] if count > 1 else [(first + last) / 2]

    return [(x, y, x + side, y + side) for y in starts(y0, y1) for x in starts(x0, x1)]


def _cut_by_window(dets: Detections, window_shape: tuple[int, ...], frame_shape: tuple[int, ...],
                   offset: tuple[int, int], scale: tuple[float, float]) -> np.ndarray:
    """Which of a crop's boxes (in frame pixels) touch an edge of its window that lies inside the frame:
    the crop saw only part of that object, and the frame or a neighbouring window sees it whole."""
    left, top = offset
    right, bottom = left + window_shape[1], top + window_shape[0]
    x0, y0, x1, y1 = (dets.xyxy / np.array([*scale, *scale], np.float32)).T  # back to loaded pixels
    cut = np.zeros(len(dets), bool)
    if left > 0:
        cut |= x0 <= left + CUT_MARGIN
    if top > 0:
        cut |= y0 <= top + CUT_MARGIN
    if right < frame_shape[1]:
        cut |= x1 >= right - CUT_MARGIN
    if bottom < frame_shape[0]:
        cut |= y1 >= bottom - CUT_MARGIN
    return cut


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
        streams: int = 1,
        max_images_per_run: int | None = None,
        spin: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        """`threads`: cores to use in all (default: the machine's). `streams`: frames `detect_many`
        keeps in flight, each run on threads/streams cores: on a small CPU, single-threaded runs side
        by side detect ~1.4× the frames of one run on all cores (bench/README.md), at a higher latency
        per frame. `detect` and `detect_batch` are one run either way, unless frames and their crops
        add up to more than `max_images_per_run`: ONNX Runtime keeps the memory of its largest run."""
        if streams < 1:
            raise ValueError(f"streams must be at least 1, got {streams}")
        self.path = Path(model) if model else default_model_path()
        self.card = ModelCard.load_for(self.path)
        self.class_names = tuple(self.card.classes)
        self.imgsz, self.stride = self.card.imgsz, self.card.stride
        self.conf, self.iou, self.max_det, self.max_pixels = conf, iou, max_det, max_pixels

        self.streams, self.max_images_per_run = streams, max_images_per_run
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, (threads or machine_threads()) // streams)
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

    @cached_property
    def _stream_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.streams, thread_name_prefix="stream")

    @property
    def version(self) -> str:
        return self.card.version

    def decode(self, data: bytes, full_resolution: bool = False) -> DecodedImage:
        """Decode a frame for this model: JPEGs at reduced size when that still covers the input,
        unless the frame will also be looked at in full-resolution crops."""
        return decode_image(data, max_pixels=self.max_pixels,
                            min_long_side=None if full_resolution else self.imgsz)

    def load(self, frame: Frame) -> tuple[np.ndarray, tuple[float, float]]:
        """BGR pixels and the (x, y) factors that map them back to the frame's own pixels."""
        if isinstance(frame, np.ndarray):
            return as_bgr(frame), (1.0, 1.0)
        if isinstance(frame, DecodedImage):
            return frame.pixels, frame.scale
        decoded = self.decode(frame)
        return decoded.pixels, decoded.scale

    def detect(self, frame: Frame, crops: Crops | None = None) -> Detections:
        return self.detect_batch([frame], [crops])[0]

    def detect_many(self, frames: Iterable[Frame]) -> Iterator[Detections]:
        """Detections of each frame, in order, with `streams` frames in flight (few more are read ahead)."""
        if self.streams == 1:
            yield from map(self.detect, frames)
            return
        pending: deque[Future] = deque()
        for frame in frames:
            pending.append(self._stream_pool.submit(self.detect, frame))
            if len(pending) > 2 * self.streams:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def detect_batch(self, frames: list[Frame], crops: list[Crops | None] | None = None) -> list[Detections]:
        """Detect several frames with one session run (frames share the input shape that fits them all).

        `crops[i]`, when given, adds full-resolution windows of frame i to the same run; what they
        find of their classes joins the frame's detections (NMS across both)."""
        if not frames:
            return []
        crops = crops or [None] * len(frames)
        # Decoding releases the GIL: a batch's frames decode in parallel, across the machine's cores.
        loaded = list(self._decoders.map(self.load, frames)) if len(frames) > 1 else [self.load(frames[0])]
        views = []  # (pixels, scale, offset in loaded pixels, owning frame, classes kept or None = all)
        for i, ((pixels, scale), frame_crops) in enumerate(zip(loaded, crops)):
            views.append((pixels, scale, (0, 0), i, None))
            for x0, y0, x1, y1 in frame_crops.windows if frame_crops else ():
                h, w = pixels.shape[:2]
                left, top = round(x0 * w), round(y0 * h)
                views.append((pixels[top:max(round(y1 * h), top + 1), left:max(round(x1 * w), left + 1)],
                              scale, (left, top), i, frame_crops.classes))
        if self.fixed_shape:
            shape = self.fixed_shape
        else:
            shapes = [rect_shape(*view[0].shape[:2], self.imgsz, self.stride) for view in views]
            shape = (max(s[0] for s in shapes), max(s[1] for s in shapes))
        batch = np.empty((len(views), 3, *shape), np.float32)
        boxes_back = []
        for i, (pixels, scale, offset, _, _) in enumerate(views):
            fitted, lb = letterbox(pixels, shape, self.imgsz)
            # HWC BGR uint8 → CHW RGB float in [0, 1], written straight into the batch.
            np.multiply(fitted[..., ::-1].transpose(2, 0, 1), 1 / 255, out=batch[i], casting="unsafe")
            boxes_back.append((lb, scale, offset))
        step = self.max_images_per_run or len(batch)
        output = np.concatenate([self.session.run(None, {self.input_name: batch[i:i + step]})[0]
                                 for i in range(0, len(batch), step)])
        found = [self._decode(output[i], *back) for i, back in enumerate(boxes_back)]
        per_frame: list[list[Detections]] = [[] for _ in frames]
        for dets, (pixels, scale, offset, owner, classes) in zip(found, views):
            if classes is not None:  # a crop: its classes, less the objects its window cuts
                dets = dets.of_class(*classes)
                dets = dets[~_cut_by_window(dets, pixels.shape, loaded[owner][0].shape, offset, scale)]
            per_frame[owner].append(dets)
        return [parts[0] if len(parts) == 1 else self._merge(parts, crops[i].classes)
                for i, parts in enumerate(per_frame)]

    def _merge(self, parts: list[Detections], crop_classes: frozenset[str]) -> Detections:
        """The frame's detections with what its crops found, NMS across both for the crops' classes,
        over the smaller box (a crop sees a poster sharper, and often larger, than the frame: a box
        lying mostly on a more confident one of its class is that object again). The frame's other
        classes are kept as they are."""
        frame = parts[0]
        looked_at = np.isin(frame.class_id, [self.class_names.index(c) for c in crop_classes if c in self.class_names])
        candidates = concat_detections([frame[looked_at], *parts[1:]])
        keep = class_aware_nms(candidates.xyxy, candidates.confidence, candidates.class_id, CROP_DUPLICATE,
                               of_smaller=True)
        return concat_detections([frame[~looked_at], candidates[keep]])[: self.max_det]

    def _decode(self, prediction: np.ndarray, lb: Letterbox, scale: tuple[float, float],
                offset: tuple[int, int] = (0, 0)) -> Detections:
        """(4 + nc, anchors) raw output → filtered, NMS'd boxes in the frame's original pixels
        (`offset`: where a crop's top-left lies in the loaded pixels)."""
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
        boxes[:, [0, 2]] = (np.clip(boxes[:, [0, 2]], 0, lb.width) + offset[0]) * scale[0]
        boxes[:, [1, 3]] = (np.clip(boxes[:, [1, 3]], 0, lb.height) + offset[1]) * scale[1]
        return Detections(boxes.astype(np.float32), confidence[keep].astype(np.float32),
                          class_id[keep].astype(np.int64), self.class_names)
