"""Every blob store test runs twice: on a local directory and on a real S3-compatible server
(moto's, `tests/blobs/s3_server.py`, through the session fixture `s3_url`), each time on a
directory or prefix of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentchat.blobs import BlobStore, LocalBlobStore, S3BlobStore, open_blob_store

BACKENDS = ["local", pytest.param("s3", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
async def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    """An empty store: a directory of this test's own, or a prefix of its own in the bucket."""
    if request.param == "local":
        url = (tmp_path / "blobs").as_uri()
    else:
        url = f"{request.getfixturevalue('s3_url')}/{uuid.uuid4().hex[:12]}"
    store = open_blob_store(url)
    yield store
    await store.close()


async def s3_client(store: S3BlobStore) -> Any:
    """The store's own aiobotocore client, to look at the bucket behind its back."""
    return await store._s3()


async def stored_objects(store: BlobStore) -> list[str]:
    """What a store holds, in its own terms: file paths under the root (the temporary folder
    included, which must be empty), or object keys under the prefix."""
    if isinstance(store, LocalBlobStore):
        if not store.root.exists():
            return []
        return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
    assert isinstance(store, S3BlobStore)
    client = await s3_client(store)
    listing = await client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))
