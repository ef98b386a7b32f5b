"""Secrets: password hashing with a memory-hard KDF (scrypt), and random tokens stored hashed.

Passwords are low-entropy, so they get scrypt with a per-user salt. API keys and session tokens
are 256-bit random strings: a plain SHA-256 of them is safe to store and fast to look up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt cost: 2^14 × 8 × 128 B = 16 MiB and ~50 ms per hash on one core (OWASP's minimum).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, _unb64(digest))


def new_token(prefix: str) -> str:
    """A random secret shown once, e.g. `cpk_…` for a camera key, `cps_…` for a session."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    """What the database stores instead of the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()
