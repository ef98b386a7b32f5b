"""Camera feeds post frames: decode → detect → rules → incidents → evidence, in one call.

    POST /v1/cameras/{camera_id}/frames
    X-Camera-Key: cpk_…                       (or Authorization: Bearer cpk_…)
    X-Frame-Id: 000123                        (the camera's own frame number or id)
    X-Captured-At: 2026-11-23T08:15:00+08:00  (the camera's time: ISO 8601 with zone, or Unix seconds)
    Content-Type: image/jpeg | image/png | image/webp      — the frame as the body
    or multipart/form-data with fields `image` (file), `frame_id`, `captured_at`

A repeat of a frame (same camera, same frame id) gets the first answer back and changes nothing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import cv2
import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from cv.detections import Detections
from cv.draw import annotate
from cv.image import DecodedImage
from cv.zones import UnknownCamera
from serve.api.deps import read_body, services
from serve.auth import camera_key_from, check_camera_key
from serve.detection_queue import DetectorSaturated
from serve.errors import APIError, error_responses
from serve.incidents import FrameIn, FrameResult, FrameTimeError
from serve.models import Frame
from serve.services import ActiveConfig, Services

router = APIRouter(prefix="/v1/cameras", tags=["ingest"])

IMAGE_TYPES = {"image/jpeg", "image/jpg", "image/png", "image/webp", "application/octet-stream"}


class IncidentTouched(BaseModel):
    id: int
    code: str
    point_id: str
    zone_id: str
    status: str
    change: str


class FrameAnswer(BaseModel):
    camera_id: str
    frame_id: str
    captured_at: datetime
    duplicate: bool
    model_version: str
    width: int
    height: int
    detections: list[dict]
    observations: list[dict]
    incidents: list[IncidentTouched]


def parse_captured_at(raw: str | None) -> datetime:
    if not raw:
        raise APIError(422, "captured_at_missing", "send the camera's time (X-Captured-At or form field captured_at)")
    try:
        if raw.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(raw), UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise APIError(422, "captured_at_invalid", f"not an ISO 8601 time or Unix seconds: {raw[:64]!r}") from None
    if value.tzinfo is None:
        raise APIError(422, "captured_at_invalid", "the camera's time needs a zone, e.g. 2026-11-23T08:15:00+08:00")
    return value


async def frame_from_request(request: Request, limit: int) -> tuple[bytes, str | None, str | None]:
    """(image bytes, frame id, captured at) from a raw image body or a multipart form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, limit, too_large_code="frame_too_large")
    frame_id, captured_at = request.headers.get("x-frame-id"), request.headers.get("x-captured-at")
    if content_type == "multipart/form-data":
        request._body = body  # Starlette parses the form from the body we already read (and bounded)
        form = await request.form()
        image = form.get("image")
        if image is None or isinstance(image, str):
            raise APIError(422, "image_missing", "the multipart form needs a file field named 'image'")
        data = await image.read()
        frame_id = form.get("frame_id") or frame_id
        captured_at = form.get("captured_at") or captured_at
        return data, frame_id, captured_at
    if content_type and content_type not in IMAGE_TYPES:
        raise APIError(415, "unsupported_media_type",
                       f"send image/jpeg, image/png, image/webp or multipart/form-data, not {content_type}")
    return body, frame_id, captured_at


def _evidence_image(decoded: DecodedImage, dets, observations, config: ActiveConfig, camera_id: str) -> bytes:
    """The frame annotated with the evidence boxes and the zones they were judged in."""
    evidence = sorted({i for o in observations for i in o.evidence})
    zone_ids = {o.zone_id for o in observations}
    zones = [zone.polygon for _, zone in config.city.camera(camera_id).zones if zone.id in zone_ids]
    sx, sy = decoded.scale
    shown = dets[np.asarray(evidence, np.int64)]
    # Boxes are in the frame's pixels; the decoded pixels may be a reduced (DCT-scaled) copy.
    shown = Detections(shown.xyxy / np.array([sx, sy, sx, sy], np.float32), shown.confidence, shown.class_id,
                       shown.class_names)
    ok, jpeg = cv2.imencode(".jpg", annotate(decoded.pixels, shown, zones), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return jpeg.tobytes()


def _check_key(svc: Services, camera_id: str, key: str | None) -> None:
    with svc.sessions() as session:
        check_camera_key(session, camera_id, key)


def _previous_answer(svc: Services, camera_id: str, frame_id: str) -> dict | None:
    with svc.sessions() as session:
        response = session.scalar(
            select(Frame.response).where(Frame.camera_id == camera_id, Frame.frame_id == frame_id)
        )
    return None if response is None else {**response, "duplicate": True}


@router.post(
    "/{camera_id}/frames",
    response_model=FrameAnswer,
    summary="Post one frame of a camera",
    responses=error_responses(401, 403, 404, 413, 415, 422, 503),
    openapi_extra={"requestBody": {"required": True, "content": {
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "format": "binary"}, "frame_id": {"type": "string"},
            "captured_at": {"type": "string"}}}},
    }}},
)
async def post_frame(camera_id: str, request: Request, svc: Services = Depends(services)) -> dict:
    config = svc.config  # this request keeps the config it started with, whatever a reload does
    try:
        config.city.camera(camera_id)
    except UnknownCamera:
        raise APIError(404, "camera_unknown", f"no camera {camera_id!r} in the camera config") from None
    await run_in_threadpool(_check_key, svc, camera_id, camera_key_from(request))

    data, frame_id, captured_raw = await frame_from_request(request, svc.settings.max_frame_bytes)
    if not frame_id or len(frame_id) > 128:
        raise APIError(422, "frame_id_invalid", "send the camera's frame id (X-Frame-Id, 1–128 characters)")
    captured_at = parse_captured_at(captured_raw)
    previous = await run_in_threadpool(_previous_answer, svc, camera_id, frame_id)
    if previous is not None:  # a repeat: the first answer, without detecting again
        svc.metrics.frames.labels("duplicate").inc()
        return previous
    received_at = datetime.now(UTC)
    try:
        config.incidents.check_frame_time(camera_id, captured_at, received_at)
    except FrameTimeError as exc:
        raise APIError(422, "frame_time_out_of_range", str(exc)) from None
    if not data:
        raise APIError(422, "image_empty", "the frame is empty (0 bytes)")

    metrics, started = svc.metrics, time.perf_counter()
    # A camera whose walls are due a second, full-resolution look (fly-posters) needs its whole frame.
    second_look = bool(config.rules.second_look_zones(camera_id)[0]) and svc.second_looks.due(camera_id, captured_at)
    decoded = await run_in_threadpool(svc.detector.decode, data, second_look)  # ImageError → 4xx by its handler
    metrics.stage_seconds.labels("decode").observe(time.perf_counter() - started)
    crops = config.rules.crops_for(camera_id, (decoded.header.width, decoded.header.height), svc.detector.imgsz) \
        if second_look else None
    if crops:
        metrics.second_look_crops.inc(len(crops.windows))
    try:
        t = time.perf_counter()
        dets, model_version = await svc.queue.detect(decoded, crops)
        metrics.stage_seconds.labels("detect").observe(time.perf_counter() - t)
    except DetectorSaturated as exc:
        metrics.frames.labels("saturated").inc()
        raise APIError(503, "detector_saturated", str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None

    width, height = decoded.header.width, decoded.header.height
    t = time.perf_counter()
    observations = config.rules.evaluate(camera_id, dets, (width, height), captured_at)
    metrics.stage_seconds.labels("rules").observe(time.perf_counter() - t)

    def store() -> FrameResult:
        # Evidence first: the database never points at a file that is not there.
        image_sha = annotated_sha = None
        if observations or svc.settings.keep_all_frames:
            image_sha = svc.evidence.put(data)
        if observations:
            annotated_sha = svc.evidence.put(_evidence_image(decoded, dets, observations, config, camera_id))
        frame = FrameIn(camera_id, frame_id, captured_at, observations, model_version, width=width, height=height,
                        image_sha256=image_sha, annotated_sha256=annotated_sha, detections=dets.to_records())

        def answer(result: FrameResult) -> dict:
            return FrameAnswer(
                camera_id=camera_id, frame_id=frame_id, captured_at=captured_at, duplicate=False,
                model_version=model_version, width=width, height=height, detections=dets.to_records(),
                observations=[{"code": o.code, "point_id": o.point_id, "zone_id": o.zone_id, "score": round(o.score, 4),
                               "box": [round(v, 4) for v in o.box]} for o in observations],
                incidents=[IncidentTouched(id=c.incident_id, code=c.code, point_id=c.point_id, zone_id=c.zone_id,
                                           status=c.status, change=c.change) for c in result.changes],
            ).model_dump(mode="json")

        return config.incidents.record_frame(frame, received_at, respond=answer)

    t = time.perf_counter()
    try:
        result = await run_in_threadpool(store)
    except FrameTimeError as exc:
        raise APIError(422, "frame_time_out_of_range", str(exc)) from None
    metrics.stage_seconds.labels("record").observe(time.perf_counter() - t)
    metrics.stage_seconds.labels("total").observe(time.perf_counter() - started)
    if result.duplicate:  # the same frame raced in twice: the first one won
        metrics.frames.labels("duplicate").inc()
        return {**(result.response or {}), "duplicate": True}
    metrics.frames.labels("accepted").inc()
    for name in dets.names:
        metrics.detections.labels(name).inc()
    for change in result.changes:
        metrics.incident_changes.labels(change.code, change.change).inc()
    return result.response
