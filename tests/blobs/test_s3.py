"""What only the S3 store does: skipping uploads, checksums, presigned URLs, its failures.

Against moto's server behind the checks S3 makes on presigned requests (`s3_server.py`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from agentchat.blobs import (
    BlobStoreUnavailableError,
    S3BlobStore,
    open_blob_store,
)
from agentchat.blobs import _s3 as s3_module
from agentchat.testing.local import free_port
from tests.blobs.conftest import s3_client, stored_objects


@pytest.fixture
async def s3_store(s3_url: str) -> AsyncIterator[S3BlobStore]:
    store = open_blob_store(f"{s3_url}/{uuid.uuid4().hex[:12]}")
    assert isinstance(store, S3BlobStore)
    yield store
    await store.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def head(store: S3BlobStore, ref: str) -> dict[str, Any]:
    client = await s3_client(store)
    response: dict[str, Any] = await client.head_object(Bucket=store.bucket, Key=store.key_of(ref))
    return response


async def test_objects_are_keyed_by_prefix_and_ref_with_their_type(s3_store: S3BlobStore) -> None:
    blob = await s3_store.put(b"%PDF-1.7 ...", media_type="application/pdf")

    assert await stored_objects(s3_store) == [f"{s3_store.prefix}{blob.ref}"]
    assert s3_store.prefix.startswith("blobs/") and s3_store.prefix.endswith("/")
    assert (await head(s3_store, blob.ref))["ContentType"] == "application/pdf"


async def test_an_existing_object_is_not_uploaded_again(s3_store: S3BlobStore) -> None:
    first = await s3_store.put(b"once", media_type="text/plain")
    again = await s3_store.put(b"once", media_type="text/markdown")

    assert again.ref == first.ref
    # An upload would have replaced the object, and its type with it.
    assert (await head(s3_store, first.ref))["ContentType"] == "text/plain"


async def test_uploads_carry_a_checksum_the_server_verifies(s3_store: S3BlobStore) -> None:
    # The fixture's server refuses a body whose SHA-256 differs from the header, as S3 does;
    # the store's own uploads pass that check, so their checksum is the content's.
    client = await s3_client(s3_store)
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(Exception, match="BadDigest"):
        await client.put_object(
            Bucket=s3_store.bucket, Key=f"{s3_store.prefix}x", Body=b"body", ChecksumSHA256=wrong
        )
    blob = await s3_store.put(b"body", media_type="text/plain")
    assert await s3_store.get(blob.ref) == b"body"


async def test_large_streams_spool_to_disk(
    s3_store: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "SPOOL_IN_MEMORY", 10_000)
    data = os.urandom(100_000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 7_000):
            yield data[start : start + 7_000]

    blob = await s3_store.put(chunks(), media_type="application/octet-stream")
    assert await s3_store.get(blob.ref) == data


async def test_presigned_get_is_fetchable(s3_store: S3BlobStore) -> None:
    blob = await s3_store.put(b"\x89PNG\r\n\x1a\n...", media_type="image/png")
    plain = await s3_store.presigned_get(blob.ref, expires=timedelta(minutes=5))
    named = await s3_store.presigned_get(
        blob.ref, expires=timedelta(minutes=5), media_type="image/png", filename="chat.png"
    )
    assert plain is not None and named is not None

    async with httpx.AsyncClient() as http:
        response = await http.get(plain)
        assert (response.status_code, response.content) == (200, b"\x89PNG\r\n\x1a\n...")
        response = await http.get(named)
        assert response.headers["content-type"] == "image/png"
        assert response.headers["content-disposition"] == 'inline; filename="chat.png"'
        # Its signature covers the object: another key is refused.
        other = named.replace(blob.ref, f"sha256-{sha256(b'other')}")
        assert (await http.get(other)).status_code == 403


async def test_presigned_get_expires(s3_store: S3BlobStore) -> None:
    blob = await s3_store.put(b"short-lived", media_type="text/plain")
    url = await s3_store.presigned_get(blob.ref, expires=timedelta(seconds=1))
    assert url is not None and "X-Amz-Expires=1&" in url

    async with httpx.AsyncClient() as http:
        await asyncio.sleep(2.5)  # signed with whole seconds: past it whatever the rounding
        response = await http.get(url)
    assert response.status_code == 403
    assert "Request has expired" in response.text


async def test_presigned_put_takes_only_the_content_it_names(s3_store: S3BlobStore) -> None:
    data = b"uploaded straight to the bucket"
    digest = sha256(data)
    ref = f"sha256-{digest}"
    signed = await s3_store.presigned_put(
        media_type="text/plain", size=len(data), sha256=digest, expires=timedelta(minutes=5)
    )
    assert signed is not None
    url, headers = signed
    assert set(headers) == {"Content-Type", "x-amz-checksum-sha256"}

    async with httpx.AsyncClient() as http:
        same_size = b"X" * len(data)
        refused = [
            await http.put(url, content=same_size, headers=headers),
            await http.put(url, content=data + b"!", headers=headers),
            await http.put(url, content=data, headers={"Content-Type": "text/plain"}),
            await http.put(url, content=data, headers={**headers, "Content-Type": "text/html"}),
        ]
        assert [r.status_code for r in refused] == [400, 403, 403, 403]
        assert "BadDigest" in refused[0].text
        assert not await s3_store.exists(ref)

        accepted = await http.put(url, content=data, headers=headers)
    assert accepted.status_code == 200
    assert await s3_store.get(ref) == data
    assert (await head(s3_store, ref))["ContentType"] == "text/plain"


async def test_presigned_put_expires(s3_store: S3BlobStore) -> None:
    data = b"too late"
    signed = await s3_store.presigned_put(
        media_type="text/plain", size=len(data), sha256=sha256(data), expires=timedelta(seconds=1)
    )
    assert signed is not None
    async with httpx.AsyncClient() as http:
        await asyncio.sleep(2.5)
        response = await http.put(signed[0], content=data, headers=signed[1])
    assert response.status_code == 403
    assert not await s3_store.exists(f"sha256-{sha256(data)}")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sha256": "f" * 63}, "not a SHA-256 hex digest"),
        ({"sha256": "sha256-" + "f" * 64}, "not a SHA-256 hex digest"),
        ({"size": -1}, "size must be between 0"),
        ({"size": 6 * 1024**3}, "size must be between 0"),
        ({"expires": timedelta(0)}, "between 1 second and 7 days"),
        ({"expires": timedelta(days=8)}, "between 1 second and 7 days"),
    ],
)
async def test_presigned_put_arguments(
    s3_store: S3BlobStore, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "media_type": "text/plain",
        "size": 1,
        "sha256": "f" * 64,
        "expires": timedelta(minutes=1),
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        await s3_store.presigned_put(**arguments)


async def test_a_missing_bucket_is_reported(s3_url: str) -> None:
    store = S3BlobStore("no-such-bucket-here", endpoint_url=os.environ["AGENTCHAT_S3_ENDPOINT"])
    try:
        assert not await store.exists(f"sha256-{sha256(b'x')}")  # HEAD: 404 either way
        with pytest.raises(BlobStoreUnavailableError, match="NoSuchBucket"):
            await store.put(b"x", media_type="text/plain")
    finally:
        await store.close()


async def test_an_unreachable_server_is_reported(s3_url: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = S3BlobStore("agentchat-test", endpoint_url=endpoint)
    try:
        with pytest.raises(BlobStoreUnavailableError, match="Could not connect") as caught:
            await store.get(f"sha256-{sha256(b'x')}")
    finally:
        await store.close()
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in str(caught.value)
