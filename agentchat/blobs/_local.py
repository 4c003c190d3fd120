"""`LocalBlobStore`: blobs as files in a directory, for one box and for `agentchat dev`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from agentchat.blobs._errors import BlobNotFoundError
from agentchat.blobs._ingest import (
    CHUNK_SIZE,
    check_description,
    check_max_size,
    hash_bytes,
    write_stream,
)
from agentchat.blobs._refs import BlobRef, digest_of

__all__ = ["LocalBlobStore"]

TMP_DIR = ".tmp"
"""Where a blob is written before it is renamed into place: inside the root, so the rename
stays on one file system and is atomic."""


class LocalBlobStore:
    """Blobs as files under `root`, sharded by the hash's first four hex digits:
    `root/ab/cd/sha256-abcd...`, so no directory grows past a few thousand entries.

    A blob is written to `root/.tmp/`, flushed to disk, then renamed to its ref: a crash leaves
    at most a stray file in `.tmp/`, never a partial file under a ref. The directory is
    created on the first `put`. Only the bytes are stored (see `BlobRef`).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path_of(self, ref: str) -> Path:
        """The file a ref is stored in (whether or not it exists).

        Raises:
            InvalidBlobRefError: Not a ref, so never a path outside the root.
        """
        digest = digest_of(ref)
        return self.root / digest[:2] / digest[2:4] / ref

    async def put(
        self,
        data: bytes | AsyncIterator[bytes],
        *,
        media_type: str,
        filename: str | None = None,
        max_size: int | None = None,
    ) -> BlobRef:
        media_type = check_description(media_type, filename)
        limit = check_max_size(max_size, None)
        if isinstance(data, bytes):
            ref = await hash_bytes(data, limit)
            size = len(data)
            if not await self.exists(ref):
                await asyncio.to_thread(self._write_bytes, data, ref)
        else:
            ref, size = await self._write_stream(data, limit)
        return BlobRef(ref=ref, media_type=media_type, size=size, filename=filename)

    def _temp_file(self) -> tuple[BinaryIO, Path]:
        tmp_dir = self.root / TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=".part")
        return os.fdopen(fd, "wb"), Path(name)

    def _write_bytes(self, data: bytes, ref: str) -> None:
        file, temp = self._temp_file()
        try:
            with file:
                file.write(data)
            self._commit(temp, ref)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    async def _write_stream(
        self, chunks: AsyncIterator[bytes], limit: int | None
    ) -> tuple[str, int]:
        file, temp = await asyncio.to_thread(self._temp_file)
        try:
            with file:
                ref, size = await write_stream(chunks, file, limit, offload=True)
            await asyncio.to_thread(self._commit, temp, ref)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return ref, size

    def _commit(self, temp: Path, ref: str) -> None:
        """Make the written (and closed) temp file the blob `ref`."""
        target = self.path_of(ref)
        if target.exists():
            # Stored already (by an earlier or a concurrent put): the bytes are the same.
            temp.unlink(missing_ok=True)
            return
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the bytes are on disk before the name points at them
        finally:
            os.close(fd)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Atomic, and harmless when a concurrent put of the same bytes renamed first.
        os.replace(temp, target)
        _sync_dir(target.parent)

    async def get(self, ref: str) -> bytes:
        path = self.path_of(ref)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobNotFoundError(ref) from None

    async def open(self, ref: str) -> AsyncIterator[bytes]:
        path = self.path_of(ref)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(ref) from None
        return _read_chunks(file)

    async def exists(self, ref: str) -> bool:
        return await asyncio.to_thread(self.path_of(ref).is_file)

    async def delete(self, ref: str) -> None:
        await asyncio.to_thread(self.path_of(ref).unlink, missing_ok=True)

    async def presigned_get(
        self,
        ref: str,
        *,
        expires: timedelta,
        media_type: str | None = None,
        filename: str | None = None,
    ) -> str | None:
        digest_of(ref)
        return None  # no server of its own: the gateway's file route serves these blobs

    async def presigned_put(
        self, *, media_type: str, size: int, sha256: str, expires: timedelta
    ) -> tuple[str, dict[str, str]] | None:
        return None

    async def close(self) -> None:
        return None


async def _read_chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK_SIZE):
            yield chunk
    finally:
        file.close()


def _sync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
