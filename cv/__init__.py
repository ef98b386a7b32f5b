"""Pure vision for citypatrol: frame decoding, the ONNX detector, `Detections`, geometry, rules.

Imports numpy, OpenCV, ONNX Runtime and pydantic only (never torch, ultralytics, serve, training).
"""

from cv.detections import Detections
from cv.detector import Detector
from cv.image import DecodedImage, ImageError, decode_image, read_header
from cv.model_card import ModelCard, ModelCardError

__all__ = [
    "DecodedImage",
    "Detections",
    "Detector",
    "ImageError",
    "ModelCard",
    "ModelCardError",
    "decode_image",
    "read_header",
]
