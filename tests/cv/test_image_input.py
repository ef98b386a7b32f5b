"""Every way a frame can be bad gets its own error code; odd-but-valid frames decode to BGR."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from cv import Detector
from cv.image import (
    CorruptImage,
    EmptyImage,
    ImageTooLarge,
    NotAnImage,
    TruncatedImage,
    UnsupportedImageFormat,
    ZeroSizedImage,
    as_bgr,
    decode_image,
    read_header,
)


def _encode(image: np.ndarray, ext: str, *params) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def frame(shared_dir) -> np.ndarray:
    path = next((shared_dir / "datasets" / "facades" / "images").glob("*.jpg"))
    return cv2.resize(cv2.imread(str(path)), (1280, 720))


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.parametrize(
    "data, error, code",
    [
        (b"", EmptyImage, "image_empty"),
        (b"hello, this is plain text and not a picture", NotAnImage, "not_an_image"),
        (b"GIF89a" + b"\x00" * 40, UnsupportedImageFormat, "image_format_unsupported"),
        (b"BM" + b"\x00" * 60, UnsupportedImageFormat, "image_format_unsupported"),
        (_png_header(0, 480) + b"\x00" * 16, ZeroSizedImage, "image_zero_size"),
        (_png_header(100_000, 100_000) + b"\x00" * 16, ImageTooLarge, "image_too_large"),
        (b"\xff\xd8\xff", TruncatedImage, "image_truncated"),
    ],
    ids=["empty", "text", "gif", "bmp", "zero-size", "bomb", "jpeg-header-only"],
)
def test_bad_bytes_raise_typed_errors(data, error, code):
    with pytest.raises(error) as raised:
        decode_image(data)
    assert raised.value.code == code
    assert raised.value.message


def test_truncated_jpeg(frame):
    data = _encode(frame, ".jpg")
    with pytest.raises(TruncatedImage) as raised:
        decode_image(data[: len(data) // 2])
    assert raised.value.code == "image_truncated"


def test_truncated_png_and_webp(frame):
    for ext in (".png", ".webp"):
        data = _encode(frame[:200, :300], ext)
        with pytest.raises(TruncatedImage):
            decode_image(data[: len(data) * 2 // 3])


def test_corrupt_jpeg_structure(frame):
    data = _encode(frame, ".jpg")
    scan = data.find(b"\xff\xda")
    no_scan = data[:scan] + b"\xff\xd9"
    wrecked_tables = data[:600] + b"\x00" * 200 + data[800:]
    for broken in (no_scan, wrecked_tables):
        with pytest.raises(CorruptImage) as raised:
            decode_image(broken)
        assert raised.value.code == "image_corrupt"


def test_garbage_after_a_valid_header_is_corrupt(frame):
    data = _encode(frame[:64, :64], ".png")
    broken = data[:33] + bytes(range(256)) * 4 + data[-12:]
    with pytest.raises(CorruptImage) as raised:
        decode_image(broken)
    assert raised.value.code == "image_corrupt"


def test_bomb_refused_before_decoding(monkeypatch, frame):
    data = _encode(frame, ".jpg")
    calls = []
    monkeypatch.setattr(cv2, "imdecode", lambda *a: calls.append(a))
    with pytest.raises(ImageTooLarge):
        decode_image(data, max_pixels=1280 * 720 - 1)
    assert not calls, "pixels were decoded before the size check"


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_formats_decode_to_bgr(frame, ext):
    decoded = decode_image(_encode(frame, ext))
    assert decoded.header.format == {".jpg": "jpeg", ".png": "png", ".webp": "webp"}[ext]
    assert decoded.pixels.shape == (720, 1280, 3) and decoded.pixels.dtype == np.uint8
    assert (decoded.header.width, decoded.header.height) == (1280, 720)


def test_lossless_webp_and_sizes_read_from_headers(frame):
    small = frame[:123, :321]
    for ext, params in ((".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]), (".png", []), (".jpg", [])):
        header = read_header(_encode(small, ext, *params))
        assert (header.width, header.height) == (321, 123)


def test_grayscale_and_alpha_frames(frame):
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    for data in (_encode(gray, ".jpg"), _encode(gray, ".png"), _encode(cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA), ".png")):
        assert decode_image(data).pixels.shape == (720, 1280, 3)
    assert as_bgr(gray).shape == (720, 1280, 3)
    assert as_bgr(gray[..., None]).shape == (720, 1280, 3)
    assert as_bgr(cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)).shape == (720, 1280, 3)
    with pytest.raises(ZeroSizedImage):
        as_bgr(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(CorruptImage):
        as_bgr(np.zeros((10, 10, 3), np.float32))


def test_reduced_decoding_keeps_enough_pixels(frame):
    big = cv2.resize(frame, (2560, 1440))
    decoded = decode_image(_encode(big, ".jpg"), min_long_side=640)
    assert decoded.pixels.shape[:2] == (360, 640)
    assert decoded.scale == (4.0, 4.0)
    assert decode_image(_encode(frame, ".png"), min_long_side=640).pixels.shape[:2] == (720, 1280)


def test_detector_from_bytes_agrees_with_full_decode(test_model, frame):
    """Reduced JPEG decoding is an optimisation only: boxes land on the same objects."""
    from cv.geometry import box_iou

    detector = Detector(test_model, conf=0.2)
    data = _encode(cv2.resize(frame, (1920, 1080)), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95)
    from_bytes = detector.detect(data)
    full = detector.detect(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    assert len(full) > 0
    iou = box_iou(full.xyxy, from_bytes.xyxy)
    matched = (iou.max(axis=1) > 0.8).mean() if len(from_bytes) else 0.0
    assert matched >= 0.8, f"only {matched:.0%} of full-decode boxes found again from bytes"


def test_detector_passes_image_errors_through(test_model):
    detector = Detector(test_model, max_pixels=1000)
    with pytest.raises(NotAnImage):
        detector.detect(b"not an image")
    with pytest.raises(ImageTooLarge):
        detector.detect(_encode(np.zeros((100, 100, 3), np.uint8), ".png"))
