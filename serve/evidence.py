"""Evidence images, content-addressed: `<root>/<sha[:2]>/<sha>.jpg`, written once, atomically.

A frame that two incidents share is stored once; a crash mid-write leaves at most a temporary
file, never a half-written evidence image under its final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class EvidenceStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}.jpg"

    def put(self, data: bytes) -> str:
        """Store `data` (JPEG bytes) unless already there; returns its sha256."""
        digest = hashlib.sha256(data).hexdigest()
        final = self.path_of(digest)
        if final.exists():
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path_of(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()
