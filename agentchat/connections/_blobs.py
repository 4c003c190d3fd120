"""The blob store a process shares: `settings.blob_url` to a `BlobStore`, once per loop.

An S3 store's client belongs to the event loop that first used it, so stores are kept per
loop, as the chat store is.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from agentchat.errors import ConfigurationError
from agentchat.settings import Settings

if TYPE_CHECKING:
    from agentchat.blobs import BlobStore

__all__ = ["get_blob_store", "require_blob_url"]

_stores: dict[tuple[int, str], BlobStore] = {}


def require_blob_url(settings: Settings, who: str) -> str:
    """The blob store's URL, or a `ConfigurationError` naming the variable that sets it."""
    if not settings.blob_url:
        raise ConfigurationError(
            f"{who} needs a blob store for files: set AGENTCHAT_BLOB_URL (file:///dir or a"
            " directory on one box, s3://bucket/prefix in production)"
        )
    return settings.blob_url


def get_blob_store(settings: Settings, *, who: str = "this call") -> BlobStore:
    """The shared `BlobStore` of `settings.blob_url` (no connection is made until it is used).

    Raises:
        ConfigurationError: No blob URL is set, it is not one the store takes, or it needs an
            extra that is not installed.
    """
    from agentchat.blobs import open_blob_store

    url = require_blob_url(settings, who)
    key = (id(asyncio.get_running_loop()), url)
    store = _stores.get(key)
    if store is None:
        try:
            store = open_blob_store(url)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc  # it names AGENTCHAT_BLOB_URL
        _stores[key] = store
    return store
