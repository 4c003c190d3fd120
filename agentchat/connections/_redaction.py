"""Keeping credentials out of cache keys and error messages.

Shared by `temporal_target`, `redis_target` and `connections`, which all handle secrets
(API keys, passwords, private keys) that must never reach a repr, a log line or an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["fingerprint", "scrub"]


def fingerprint(*parts: object) -> str:
    # Cache keys must tell credentials apart without holding them in plain text.
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def scrub(text: str, secrets: Sequence[str | None]) -> str:
    # Very short secrets would only match by coincidence and mangle the text.
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
