"""The `BlobStore` contract, on a local directory and on a real S3-compatible server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from agentchat.blobs import (
    BlobNotFoundError,
    BlobRef,
    BlobStore,
    BlobTooLargeError,
    InvalidBlobRefError,
)
from tests.blobs.conftest import stored_objects


def ref_of(data: bytes) -> str:
    return f"sha256-{hashlib.sha256(data).hexdigest()}"


async def chunks(data: bytes, size: int = 1000, *, pause: bool = False) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        if pause:
            await asyncio.sleep(0)  # let a concurrent put interleave
        yield data[start : start + size]


async def test_put_get_open_exists_delete(blob_store: BlobStore) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(200_000)
    blob = await blob_store.put(data, media_type="image/png", filename="cat.png")

    assert blob == BlobRef(
        ref=ref_of(data), media_type="image/png", size=len(data), filename="cat.png"
    )
    assert await blob_store.exists(blob.ref)
    assert await blob_store.get(blob.ref) == data
    parts = [chunk async for chunk in await blob_store.open(blob.ref)]
    assert b"".join(parts) == data
    assert len(parts) > 1  # streamed, not read whole

    await blob_store.delete(blob.ref)
    assert not await blob_store.exists(blob.ref)
    await blob_store.delete(blob.ref)  # idempotent
    assert await stored_objects(blob_store) == []


async def test_same_content_is_stored_once(blob_store: BlobStore) -> None:
    data = b"the same bytes"
    first = await blob_store.put(data, media_type="text/plain", filename="a.txt")
    second = await blob_store.put(data, media_type="text/markdown", filename="b.md")

    assert first.ref == second.ref
    # What a message says about the bytes is its own; the bytes are one object.
    assert (second.media_type, second.filename) == ("text/markdown", "b.md")
    assert len(await stored_objects(blob_store)) == 1


async def test_streamed_put_hashes_while_writing(blob_store: BlobStore) -> None:
    data = os.urandom(300_001)
    blob = await blob_store.put(chunks(data, 65_536), media_type="application/octet-stream")

    assert (blob.ref, blob.size) == (ref_of(data), len(data))
    assert await blob_store.get(blob.ref) == data
    # The same bytes given whole are the same blob.
    assert (await blob_store.put(data, media_type="application/octet-stream")).ref == blob.ref
    assert len(await stored_objects(blob_store)) == 1


async def test_empty_content(blob_store: BlobStore) -> None:
    blob = await blob_store.put(chunks(b""), media_type="text/plain")
    assert (blob.ref, blob.size) == (ref_of(b""), 0)
    assert await blob_store.get(blob.ref) == b""


async def test_bytes_over_max_size_are_refused_and_leave_nothing(blob_store: BlobStore) -> None:
    with pytest.raises(BlobTooLargeError, match="1001 bytes; the limit is 1000 bytes") as caught:
        await blob_store.put(b"x" * 1001, media_type="text/plain", max_size=1000)

    assert isinstance(caught.value, ValueError)
    assert (caught.value.size, caught.value.max_size, caught.value.complete) == (1001, 1000, True)
    assert await stored_objects(blob_store) == []
    assert not await blob_store.exists(ref_of(b"x" * 1001))
    # Exactly the limit is allowed.
    assert (await blob_store.put(b"x" * 1000, media_type="text/plain", max_size=1000)).size == 1000


async def test_a_stream_over_max_size_stops_there_and_leaves_nothing(blob_store: BlobStore) -> None:
    read: list[int] = []
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                read.append(1)
                yield b"y" * 1000
        finally:
            closed.set()

    with pytest.raises(BlobTooLargeError, match="more than 4500 bytes") as caught:
        await blob_store.put(endless(), media_type="text/plain", max_size=4500)

    assert caught.value.complete is False
    assert len(read) == 5  # stopped at the chunk that crossed the limit
    assert closed.is_set()  # and closed the stream it was given
    assert await stored_objects(blob_store) == []  # no temporary file either


async def test_a_stream_that_fails_leaves_nothing(blob_store: BlobStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"z" * 5000
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await blob_store.put(broken(), media_type="text/plain")
    assert await stored_objects(blob_store) == []


async def test_missing_blobs(blob_store: BlobStore) -> None:
    ref = ref_of(b"never stored")

    with pytest.raises(BlobNotFoundError, match=ref) as caught:
        await blob_store.get(ref)
    assert isinstance(caught.value, KeyError)
    assert caught.value.ref == ref
    with pytest.raises(KeyError, match=ref):
        await blob_store.open(ref)  # before the first chunk: a route can still answer 404
    assert not await blob_store.exists(ref)
    await blob_store.delete(ref)


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "sha256-" + "A" * 64, "sha256-abc", "md5-" + "0" * 32, ""]
)
async def test_malformed_refs_are_refused(blob_store: BlobStore, bad: str) -> None:
    for call in (blob_store.get, blob_store.open, blob_store.exists, blob_store.delete):
        with pytest.raises(InvalidBlobRefError, match="is not a blob ref"):
            await call(bad)


async def test_concurrent_puts_of_the_same_content(blob_store: BlobStore) -> None:
    data = os.urandom(50_000)
    refs = await asyncio.gather(
        blob_store.put(chunks(data, 4096, pause=True), media_type="application/octet-stream"),
        blob_store.put(chunks(data, 4096, pause=True), media_type="application/octet-stream"),
        blob_store.put(data, media_type="application/octet-stream"),
    )

    assert {blob.ref for blob in refs} == {ref_of(data)}
    assert len(await stored_objects(blob_store)) == 1
    assert await blob_store.get(ref_of(data)) == data


async def test_usable_after_close(blob_store: BlobStore) -> None:
    blob = await blob_store.put(b"before", media_type="text/plain")
    await blob_store.close()
    assert await blob_store.get(blob.ref) == b"before"
    await blob_store.close()
    await blob_store.close()


async def test_presigned_urls_take_refs_only(blob_store: BlobStore) -> None:
    with pytest.raises(InvalidBlobRefError):
        await blob_store.presigned_get("nope", expires=timedelta(minutes=5))


async def test_what_a_blob_ref_refuses_is_refused_before_storing(blob_store: BlobStore) -> None:
    for media_type, filename in (("png", None), ("image/png", "../x.png")):
        with pytest.raises(ValueError, match="validation error"):
            await blob_store.put(b"bytes", media_type=media_type, filename=filename)
    assert await stored_objects(blob_store) == []
    blob = await blob_store.put(b"bytes", media_type="Image/PNG; x=y")
    assert blob.media_type == "image/png"
