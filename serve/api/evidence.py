"""Evidence images by content hash, for people who are logged in."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from serve.api.deps import person, services
from serve.auth import Principal
from serve.errors import APIError, error_responses
from serve.services import Services

router = APIRouter(prefix="/v1/evidence", tags=["evidence"])


@router.get("/{sha256}.jpg", response_class=FileResponse, responses=error_responses(401, 404))
def evidence(sha256: str, svc: Services = Depends(services), _: Principal = Depends(person)):
    try:
        path = svc.evidence.path_of(sha256)
    except ValueError:
        raise APIError(404, "evidence_not_found", "not an evidence id") from None
    if not path.exists():
        raise APIError(404, "evidence_not_found", f"no evidence {sha256}")
    # Content-addressed: the bytes behind a URL never change.
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=31536000, immutable"})
