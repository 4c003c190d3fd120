"""Media types: what a file really is (its first bytes), and whether it is allowed."""

from __future__ import annotations

import mimetypes
from collections.abc import Collection
from urllib.parse import quote

from agentchat.blobs._errors import MediaTypeNotAllowedError
from agentchat.protocol.files import media_type_allowed

__all__ = [
    "OCTET_STREAM",
    "SNIFFED_TYPES",
    "SNIFF_BYTES",
    "check_media_type",
    "content_disposition",
    "normalize_media_type",
    "sniff_media_type",
]

OCTET_STREAM = "application/octet-stream"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
SNIFFED_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
"""Types recognised by their first bytes: a file declared as one of these must start like one."""
SNIFF_BYTES = 16
"""How many leading bytes `sniff_media_type` needs (the longest signature, WebP's, is 12)."""


def normalize_media_type(media_type: str) -> str:
    """`Image/PNG; charset=x` → `image/png`: lowercase, parameters and spaces dropped."""
    return media_type.split(";", 1)[0].strip().lower()


def _magic(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, media_type in _MAGIC:
        if data.startswith(signature):
            return media_type
    return None


def _plausible(media_type: str | None) -> str | None:
    """A declared or guessed type worth keeping: well-formed, not the generic one, and not a
    type we recognise by its bytes (those bytes were just looked at and did not match)."""
    if not media_type:
        return None
    media_type = normalize_media_type(media_type)
    kind, slash, sub = media_type.partition("/")
    if not (kind and slash and sub) or media_type == OCTET_STREAM:
        return None
    return None if media_type in SNIFFED_TYPES else media_type


def sniff_media_type(data: bytes, declared: str | None, filename: str | None) -> str:
    """What a file is: its signature when it has one we know (PNG, JPEG, GIF, WebP, PDF), else
    the declared type, else the type its file name suggests, else `application/octet-stream`.

    A file declared (or named) as one of the recognised types whose bytes do not start like
    one is `application/octet-stream`: a "PNG" that is not one never reaches a model as an
    image. The result is lowercase, without parameters.

    Args:
        data: The file's first bytes (at least `SNIFF_BYTES` of them) or all of it.
        declared: The media type the sender gave, if any (browsers send
            `application/octet-stream` for what they do not know; that counts as none).
        filename: The name the file was sent with, if any.
    """
    sniffed = _magic(data)
    if sniffed is not None:
        return sniffed
    guessed = mimetypes.guess_type(filename, strict=False)[0] if filename else None
    return _plausible(declared) or _plausible(guessed) or OCTET_STREAM


def check_media_type(media_type: str, allowed: Collection[str]) -> None:
    """Refuse a media type outside `allowed`.

    Args:
        media_type: The file's type (parameters and case are ignored).
        allowed: Exact types (`application/pdf`), wildcards over a top-level type (`image/*`),
            or `*/*` (or `*`) for anything. Empty allows nothing.

    Raises:
        MediaTypeNotAllowedError: Naming the type and what is allowed.
    """
    if not media_type_allowed(media_type, allowed):
        raise MediaTypeNotAllowedError(normalize_media_type(media_type), allowed)


INLINE_TYPES = SNIFFED_TYPES
"""Types a browser may show in place (images, PDFs); anything else downloads as a file, so a
stored HTML or SVG file never runs as a page."""


def content_disposition(media_type: str, filename: str | None) -> str:
    """The `Content-Disposition` to serve a blob with: `inline` for images and PDFs, else
    `attachment`; the file name as ASCII and, when it is not ASCII, as UTF-8 (RFC 6266)."""
    kind = "inline" if normalize_media_type(media_type) in INLINE_TYPES else "attachment"
    if not filename:
        return kind
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    value = f'{kind}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
