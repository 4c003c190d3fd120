"""Blob refs: the content address a message carries instead of the bytes."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentchat.blobs._errors import InvalidBlobRefError
from agentchat.protocol.files import REF_PATTERN

__all__ = [
    "REF_PATTERN",
    "BlobRef",
    "digest_of",
    "is_blob_ref",
    "ref_for_digest",
]

REF_PREFIX = "sha256-"
_REF = re.compile(REF_PATTERN)
_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_FILENAME = 255
"""Characters in a file name (most file systems' limit for one path component)."""
_MEDIA_TYPE = r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$"


def is_blob_ref(value: str) -> bool:
    """Whether `value` is a well-formed ref (says nothing of whether a blob is stored)."""
    return _REF.fullmatch(value) is not None


def digest_of(ref: str) -> str:
    """The SHA-256 hex digest a ref names.

    Raises:
        InvalidBlobRefError: `ref` is not `sha256-` and 64 lowercase hex digits.
    """
    if not is_blob_ref(ref):
        raise InvalidBlobRefError(ref)
    return ref[len(REF_PREFIX) :]


def ref_for_digest(hexdigest: str) -> str:
    """The ref of content whose SHA-256 hex digest is `hexdigest` (any case).

    Raises:
        ValueError: Not 64 hex digits.
    """
    digest = hexdigest.lower()
    if not _HEX.fullmatch(digest):
        raise ValueError(f"{hexdigest[:80]!r} is not a SHA-256 hex digest (64 hex digits)")
    return REF_PREFIX + digest


class BlobRef(BaseModel):
    """What a message carries instead of a file's bytes.

    The ref alone identifies the content (the same bytes always have the same ref and are stored
    once); the media type and file name are what this message says about them, so two messages
    may carry the same ref with different names. Stores keep only the bytes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str = Field(pattern=REF_PATTERN)
    """`sha256-<hex>`: the content's address."""
    media_type: str = Field(pattern=_MEDIA_TYPE, max_length=255)
    """The content's media type, lowercase, without parameters (`image/png`)."""
    size: int = Field(ge=0)
    """Bytes."""
    filename: str | None = Field(default=None, min_length=1, max_length=MAX_FILENAME)
    """The name the file was sent with, without any directory."""

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (
            any(ch in value for ch in "/\\") or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
        ):
            raise ValueError("a file name holds no directory separators or control characters")
        return value
