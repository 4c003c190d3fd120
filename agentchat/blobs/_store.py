"""The `BlobStore` interface every backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Protocol, runtime_checkable

from agentchat.blobs._refs import BlobRef

__all__ = ["MAX_PRESIGN_EXPIRY", "BlobStore"]

MAX_PRESIGN_EXPIRY = timedelta(days=7)
"""The longest a signed URL may live (S3's limit for SigV4 signatures)."""


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed storage for the bytes of attachments.

    A blob is named by its ref, `sha256-<hex>` of its bytes: the same bytes are stored once
    however often they are put, and what is stored under a ref always has that hash. The store
    keeps bytes only; media type and file name travel in the `BlobRef` a message carries.
    Refs are not secrets and not permissions: whoever hands out a blob checks that the asker
    may see it (the chat it belongs to) first.
    """

    async def put(
        self,
        data: bytes | AsyncIterator[bytes],
        *,
        media_type: str,
        filename: str | None = None,
        max_size: int | None = None,
    ) -> BlobRef:
        """Store `data` (bytes, or chunks hashed as they are written) and return its ref.

        Raises:
            BlobTooLargeError: Over `max_size` (or what the store takes); nothing is left.
        """
        ...

    async def get(self, ref: str) -> bytes:
        """The whole blob. Raises `BlobNotFoundError` (a `KeyError`) naming the ref."""
        ...

    async def open(self, ref: str) -> AsyncIterator[bytes]:
        """The blob as chunks, for responses that stream it. A missing blob raises
        `BlobNotFoundError` here, before the first chunk."""
        ...

    async def exists(self, ref: str) -> bool:
        """Whether a blob is stored under `ref`."""
        ...

    async def delete(self, ref: str) -> None:
        """Remove the blob; nothing happens when there is none. Refs are shared by everything
        that put the same bytes: delete only what nothing refers to any more."""
        ...

    async def presigned_get(
        self,
        ref: str,
        *,
        expires: timedelta,
        media_type: str | None = None,
        filename: str | None = None,
    ) -> str | None:
        """A URL that reads the blob without credentials until `expires` has passed, or None
        where the store has no such URLs (a local directory). `media_type` and `filename` set
        the response's `Content-Type` and `Content-Disposition`."""
        ...

    async def presigned_put(
        self, *, media_type: str, size: int, sha256: str, expires: timedelta
    ) -> tuple[str, dict[str, str]] | None:
        """A URL and the headers to send with one `PUT` of exactly the content whose SHA-256
        hex digest is `sha256` (and `size` bytes), or None where the store has none."""
        ...

    async def close(self) -> None:
        """Release connections. The store may be used again afterwards."""
        ...
