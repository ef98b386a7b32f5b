"""Decoding camera frames from bytes, with typed errors that carry machine-readable codes.

The header is read first, so a decompression bomb is refused before any pixel is decoded. JPEG
frames larger than the detector needs are decoded straight to 1/2, 1/4 or 1/8 size by libjpeg's
DCT scaling (OpenCV's `IMREAD_REDUCED_*`): much cheaper than decoding in full and resizing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_MAX_PIXELS = 40_000_000  # ~ 8K×5K; a camera frame is 2–8 MP
FORMATS = ("jpeg", "png", "webp")
# Cameras sometimes pad a JPEG after its end-of-image marker; allow that much trailing data.
_JPEG_TRAILER_SLACK = 1024


class ImageError(ValueError):
    """A frame that cannot be used. `code` is stable and machine-readable; the message is for people."""

    code = "image_invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class EmptyImage(ImageError):
    code = "image_empty"


class NotAnImage(ImageError):
    code = "not_an_image"


class UnsupportedImageFormat(ImageError):
    code = "image_format_unsupported"


class TruncatedImage(ImageError):
    code = "image_truncated"


class CorruptImage(ImageError):
    code = "image_corrupt"


class ZeroSizedImage(ImageError):
    code = "image_zero_size"


class ImageTooLarge(ImageError):
    code = "image_too_large"


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class DecodedImage:
    """BGR pixels plus how they relate to the encoded frame (reduced decoding shrinks them)."""

    pixels: np.ndarray  # (h, w, 3) uint8, BGR
    header: ImageHeader

    @property
    def scale(self) -> tuple[float, float]:
        """Factors (x, y) from decoded pixels back to the frame's original pixels."""
        h, w = self.pixels.shape[:2]
        return self.header.width / w, self.header.height / h


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the first start-of-frame marker."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise CorruptImage("JPEG marker expected but not found")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker == 0xDA or length < 2:  # scan data before any frame header
            raise CorruptImage("JPEG has no frame header before its scan data")
        pos += 2 + length
    raise TruncatedImage("JPEG ends before its frame header")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise TruncatedImage("WebP ends before its image header")


def read_header(data: bytes) -> ImageHeader:
    """Format and size from the first bytes, without decoding; raises `ImageError`."""
    if not data:
        raise EmptyImage("the frame is empty (0 bytes)")
    if data[:3] == b"\xff\xd8\xff":
        fmt, (width, height) = "jpeg", _jpeg_size(data)
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise TruncatedImage("PNG ends before its IHDR header")
        fmt, (width, height) = "png", struct.unpack(">II", data[16:24])
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        fmt, (width, height) = "webp", _webp_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a") or data[:2] == b"BM" or data[:4] in (b"II*\x00", b"MM\x00*"):
        raise UnsupportedImageFormat("only JPEG, PNG and WebP frames are accepted")
    else:
        raise NotAnImage("the data is not a JPEG, PNG or WebP image")
    if width == 0 or height == 0:
        raise ZeroSizedImage(f"the image header says {width}×{height} pixels")
    return ImageHeader(fmt, width, height)


def _check_complete(data: bytes, header: ImageHeader) -> None:
    """Refuse frames cut short in transfer: decoders would fill the missing part with grey."""
    if header.format == "jpeg":
        end = data.rfind(b"\xff\xd9")
        if end < 0 or len(data) - (end + 2) > _JPEG_TRAILER_SLACK:
            raise TruncatedImage("JPEG has no end-of-image marker: the frame was cut short")
    elif header.format == "png":
        if data.rfind(b"IEND", max(0, len(data) - 64)) < 0:
            raise TruncatedImage("PNG has no IEND chunk: the frame was cut short")
    elif header.format == "webp":
        (riff_size,) = struct.unpack("<I", data[4:8])
        if len(data) < riff_size + 8:
            raise TruncatedImage(f"WebP is {len(data)} bytes but declares {riff_size + 8}")


def _reduction(header: ImageHeader, min_long_side: int | None) -> int:
    """The largest libjpeg DCT scale (1, 2, 4, 8) that still leaves `min_long_side` pixels."""
    if header.format != "jpeg" or not min_long_side:
        return 1
    long_side = max(header.width, header.height)
    for factor in (8, 4, 2):
        if long_side // factor >= min_long_side:
            return factor
    return 1


_READ_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_long_side: int | None = None
) -> DecodedImage:
    """Decode a frame to 3-channel BGR (grayscale expanded, alpha dropped), or raise `ImageError`.

    `min_long_side`: decode JPEGs at reduced size as long as the long side keeps this many pixels.
    Pixel coordinates are those of the stored frame: EXIF orientation is ignored on purpose, so
    boxes always refer to the bytes that the evidence keeps.
    """
    header = read_header(bytes(data[:65536]) if len(data) > 65536 else bytes(data))
    if header.width * header.height > max_pixels:
        raise ImageTooLarge(
            f"{header.width}×{header.height} = {header.width * header.height:,} pixels exceeds the limit of {max_pixels:,}"
        )
    _check_complete(data, header)
    flags = _READ_FLAGS[_reduction(header, min_long_side)] | cv2.IMREAD_IGNORE_ORIENTATION
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None or pixels.size == 0:
        raise CorruptImage(f"the {header.format.upper()} data could not be decoded")
    return DecodedImage(pixels, header)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept an already decoded array: grayscale (h, w) or (h, w, 1), BGR, or BGRA; returns BGR uint8."""
    if image.dtype != np.uint8:
        raise CorruptImage(f"pixel arrays must be uint8, got {image.dtype}")
    if image.ndim in (2, 3) and 0 in image.shape[:2]:
        raise ZeroSizedImage(f"the array is {image.shape[1]}×{image.shape[0]} pixels")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise CorruptImage(f"unsupported pixel array shape {image.shape}")
