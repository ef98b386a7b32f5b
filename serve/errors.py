"""API errors: every failure a client can cause is a 4xx with a stable machine-readable `code`.

Handlers turn `APIError`, request-validation errors, `cv.ImageError` and HTTP errors into one JSON
shape, `{"code": …, "message": …, "request_id": …}`; anything unexpected is a logged 500 whose
body says nothing about internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cv.image import ImageError, ImageTooLarge

log = logging.getLogger("citypatrol.errors")


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str | None = None
    detail: list | dict | None = None


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def image_error_status(error: ImageError) -> int:
    """413 for frames too big to accept, 422 for the rest: the request was well-formed, the image is not."""
    return 413 if isinstance(error, ImageTooLarge) else 422


def error_response(request: Request, status: int, code: str, message: str, detail=None, headers=None) -> JSONResponse:
    body = ErrorBody(code=code, message=message, request_id=getattr(request.state, "request_id", None), detail=detail)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_request",
    429: "too_many_requests", 503: "unavailable",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return error_response(request, exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(ImageError)
    async def _image_error(request: Request, exc: ImageError):
        return error_response(request, image_error_status(exc), exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return error_response(request, 422, "invalid_request", "the request's parameters are invalid", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's only 400: a body that is not valid JSON/form
            return error_response(request, 422, "invalid_request", f"the request body could not be parsed: {exc.detail}")
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette's Allow names one route's methods; a path may have several
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return error_response(request, exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(request, 500, "internal_error", "an internal error occurred; it has been logged")


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def error_responses(*statuses: int) -> dict:
    """OpenAPI `responses=` entries documenting the error body for each status."""
    return {status: {"model": ErrorBody, "description": _HTTP_CODES.get(status, "error")} for status in statuses}
