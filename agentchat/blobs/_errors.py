"""The blob store's errors. Each is also the builtin a caller would reach for (`KeyError` for a
missing blob, `ValueError` for refused input), so code that knows nothing of agentchat still
catches them."""

from __future__ import annotations

from collections.abc import Collection

from agentchat.errors import AgentChatError, ConnectionFailedError

__all__ = [
    "BlobError",
    "BlobNotFoundError",
    "BlobStoreUnavailableError",
    "BlobTooLargeError",
    "InvalidBlobRefError",
    "MediaTypeNotAllowedError",
]


class BlobError(AgentChatError):
    """Base class of the blob store's errors."""


class BlobNotFoundError(BlobError, KeyError):
    """No blob is stored under the ref."""

    def __init__(self, ref: str) -> None:
        super().__init__(ref)
        self.ref = ref

    def __str__(self) -> str:
        # KeyError's own __str__ would show the repr of its argument, quotes and all.
        return f"no blob is stored under {self.ref!r}"


class InvalidBlobRefError(BlobError, ValueError):
    """A string that is not a blob ref (`sha256-` and 64 lowercase hex digits)."""

    def __init__(self, ref: str) -> None:
        shown = ref if len(ref) <= 80 else f"{ref[:77]}..."
        super().__init__(f"{shown!r} is not a blob ref: expected 'sha256-' and 64 hex digits")
        self.ref = ref


class BlobTooLargeError(BlobError, ValueError):
    """The content is larger than the `max_size` the caller allowed (or the store takes).

    Attributes:
        size: The size seen when the store stopped reading: the whole size for bytes, and for a
            stream the bytes read so far, which is already over the limit.
        max_size: The limit.
        complete: Whether `size` is the content's whole size.
    """

    def __init__(self, size: int, max_size: int, *, complete: bool = True) -> None:
        what = f"{size} bytes" if complete else f"more than {max_size} bytes ({size} read)"
        super().__init__(f"the file is {what}; the limit is {max_size} bytes")
        self.size = size
        self.max_size = max_size
        self.complete = complete


class MediaTypeNotAllowedError(BlobError, ValueError):
    """The file's media type is not among those allowed (say, an agent's accepted types)."""

    def __init__(self, media_type: str, allowed: Collection[str]) -> None:
        listed = ", ".join(sorted(allowed)) or "none"
        super().__init__(f"media type {media_type!r} is not allowed; allowed: {listed}")
        self.media_type = media_type
        self.allowed = tuple(sorted(allowed))


class BlobStoreUnavailableError(BlobError, ConnectionFailedError):
    """The blob store could not be reached, or refused the request (S3 credentials,
    permissions, a server error)."""
