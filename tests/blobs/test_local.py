"""What only the local store does: its layout on disk, and writes that are atomic."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from agentchat.blobs import LocalBlobStore, open_blob_store
from agentchat.blobs._local import TMP_DIR


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


async def test_blobs_are_sharded_by_their_hash(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    blob = await store.put(b"sharded", media_type="text/plain")

    digest = sha256(b"sharded")
    path = tmp_path / "blobs" / digest[:2] / digest[2:4] / f"sha256-{digest}"
    assert store.path_of(blob.ref) == path
    assert path.read_bytes() == b"sharded"
    # Only the bytes: media type and name live in the BlobRef messages carry.
    assert files_under(tmp_path / "blobs") == [path]
    assert list((tmp_path / "blobs" / TMP_DIR).iterdir()) == []


async def test_a_write_in_progress_is_never_under_its_ref(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    data = os.urandom(100_000)
    ref = f"sha256-{sha256(data)}"
    halfway = asyncio.Event()
    resume = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield data[:50_000]
        halfway.set()
        await resume.wait()
        yield data[50_000:]

    put = asyncio.create_task(store.put(slow(), media_type="application/octet-stream"))
    await halfway.wait()
    await asyncio.sleep(0.05)
    # Half written: in the temporary folder, nowhere a reader looks.
    assert not await store.exists(ref)
    assert [p.suffix for p in (tmp_path / TMP_DIR).iterdir()] == [".part"]

    resume.set()
    assert (await put).ref == ref
    assert store.path_of(ref).read_bytes() == data
    assert list((tmp_path / TMP_DIR).iterdir()) == []


async def test_a_cancelled_put_leaves_nothing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        started.set()
        await asyncio.Event().wait()
        yield b"never"

    put = asyncio.create_task(store.put(stalled(), media_type="text/plain"))
    await started.wait()
    put.cancel()
    with pytest.raises(asyncio.CancelledError):
        await put
    assert files_under(tmp_path) == []


async def test_a_stray_temporary_file_is_no_blob(tmp_path: Path) -> None:
    # What a crash mid-write leaves behind.
    (tmp_path / TMP_DIR).mkdir()
    (tmp_path / TMP_DIR / "abc.part").write_bytes(b"half a file")
    store = LocalBlobStore(tmp_path)
    assert not await store.exists(f"sha256-{sha256(b'half a file')}")
    blob = await store.put(b"half a file", media_type="text/plain")
    assert await store.get(blob.ref) == b"half a file"


async def test_a_relative_path_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_blob_store("data/blobs")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "data" / "blobs"
    assert not store.root.exists()  # created by the first put, not by opening
    await store.put(b"x", media_type="text/plain")
    assert store.root.is_dir()


async def test_local_stores_sign_nothing(tmp_path: Path) -> None:
    store = open_blob_store(str(tmp_path))
    blob = await store.put(b"local", media_type="text/plain")
    assert await store.presigned_get(blob.ref, expires=timedelta(minutes=1)) is None
    signed = await store.presigned_put(
        media_type="text/plain", size=5, sha256=sha256(b"local"), expires=timedelta(minutes=1)
    )
    assert signed is None
