"""`S3BlobStore`: blobs as objects in an S3 bucket (AWS, or an S3-compatible server)."""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from agentchat.blobs._errors import BlobNotFoundError, BlobStoreUnavailableError
from agentchat.blobs._ingest import (
    CHUNK_SIZE,
    check_description,
    check_expiry,
    check_max_size,
    hash_bytes,
    write_stream,
)
from agentchat.blobs._media import content_disposition
from agentchat.blobs._refs import BlobRef, digest_of, ref_for_digest

__all__ = ["MAX_PUT_SIZE", "SPOOL_IN_MEMORY", "S3BlobStore", "s3_options_from_env"]

MAX_PUT_SIZE = 5 * 1024**3
"""S3's limit for one `PutObject` (5 GiB). Larger objects need multipart uploads, which this
store does not make: attachments are megabytes."""
SPOOL_IN_MEMORY = 8 * 1024 * 1024
"""A streamed `put` is spooled (its hash must be known before the upload, which is keyed by
it) in memory up to this size, then in a temporary file."""
DEFAULT_REGION = "us-east-1"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def s3_options_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """`endpoint_url` and `region` for `S3BlobStore` from the environment.

    The endpoint is `AGENTCHAT_S3_ENDPOINT`, else `AWS_ENDPOINT_URL_S3`, else
    `AWS_ENDPOINT_URL` (none: AWS itself); the region `AWS_REGION`, else
    `AWS_DEFAULT_REGION`, else us-east-1. Credentials are botocore's to find (`AWS_*`
    variables, profiles, instance roles); this never reads them.
    """
    env = os.environ if environ is None else environ
    endpoint = next(
        (
            env[name].strip()
            for name in ("AGENTCHAT_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
            if env.get(name, "").strip()
        ),
        None,
    )
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    return {"endpoint_url": endpoint, "region": region or DEFAULT_REGION}


class S3BlobStore:
    """Blobs as objects `<prefix><ref>` in `bucket`.

    One aiobotocore client per store, created on first use on the running event loop (the
    store belongs to that loop from then on) and closed by `close()`. `put` asks with `HEAD`
    whether the object exists and uploads only when it does not, with its `Content-Type` and
    its SHA-256 checksum (S3 refuses a body that does not match). Bytes are uploaded as
    given (the store makes no copy); a stream is spooled first (`SPOOL_IN_MEMORY`). One
    upload is at most `MAX_PUT_SIZE`.

    Permissions needed: `s3:GetObject`, `s3:PutObject`, `s3:DeleteObject`, and
    `s3:ListBucket` on the bucket (without it S3 answers 403 rather than 404 for a missing
    object, which this store reports as `BlobStoreUnavailableError`).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None
        self._context: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"S3BlobStore('s3://{self.bucket}/{self.prefix}')"

    def key_of(self, ref: str) -> str:
        """The object key a ref is stored under. Raises `InvalidBlobRefError` for a non-ref."""
        digest_of(ref)
        return self.prefix + ref

    async def _s3(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not loop:
            raise RuntimeError(f"{self!r} is in use on another event loop; make one per loop")
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    await self._connect(loop)
        return self._client

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        # Imported here: the `s3` extra is optional, and aiobotocore took 0.6 s to import.
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        config = AioConfig(
            # Presigned URLs must be SigV4 (a SigV2 URL does not bind the checksum header the
            # uploader sends); S3-compatible servers on their own host want path-style URLs.
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=60,
        )
        context = get_session().create_client(
            "s3", region_name=self.region, endpoint_url=self.endpoint_url, config=config
        )
        self._client = await context.__aenter__()
        self._context = context
        self._loop = loop

    async def close(self) -> None:
        context, self._context, self._client, self._loop = self._context, None, None, None
        if context is not None:
            await context.__aexit__(None, None, None)

    def _failed(self, exc: Exception, operation: str, key: str) -> Exception:
        """The error to raise for `exc`: botocore's become `BlobStoreUnavailableError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{key}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            detail = f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
            return BlobStoreUnavailableError(f"S3 {operation} of {where} failed: {detail}")
        if isinstance(exc, BotoCoreError):
            return BlobStoreUnavailableError(f"S3 {operation} of {where} failed: {exc}")
        return exc

    @staticmethod
    def _missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None)
        return isinstance(response, dict) and response.get("Error", {}).get("Code") in _MISSING

    async def put(
        self,
        data: bytes | AsyncIterator[bytes],
        *,
        media_type: str,
        filename: str | None = None,
        max_size: int | None = None,
    ) -> BlobRef:
        media_type = check_description(media_type, filename)
        limit = check_max_size(max_size, MAX_PUT_SIZE)
        if isinstance(data, bytes):
            ref = await hash_bytes(data, limit)
            size = len(data)
            if not await self.exists(ref):
                await self._upload(ref, data, size, media_type)
        else:
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
                ref, size = await write_stream(data, spool, limit, offload=False)
                if not await self.exists(ref):
                    spool.seek(0)
                    await self._upload(ref, spool, size, media_type)
        return BlobRef(ref=ref, media_type=media_type, size=size, filename=filename)

    async def _upload(self, ref: str, body: Any, size: int, media_type: str) -> None:
        key = self.key_of(ref)
        s3 = await self._s3()
        try:
            await s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentLength=size,
                ContentType=media_type,
                ChecksumSHA256=_checksum(ref),
            )
        except Exception as exc:
            raise self._failed(exc, "PutObject", key) from None

    async def _get_object(self, ref: str) -> Any:
        key = self.key_of(ref)
        s3 = await self._s3()
        try:
            return await s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if self._missing(exc):
                raise BlobNotFoundError(ref) from None
            raise self._failed(exc, "GetObject", key) from None

    async def get(self, ref: str) -> bytes:
        response = await self._get_object(ref)
        try:
            async with response["Body"] as body:
                data: bytes = await body.read()
        except Exception as exc:
            raise self._failed(exc, "GetObject", self.key_of(ref)) from None
        return data

    async def open(self, ref: str) -> AsyncIterator[bytes]:
        response = await self._get_object(ref)
        return self._chunks(response["Body"], self.key_of(ref))

    async def _chunks(self, body: Any, key: str) -> AsyncIterator[bytes]:
        async with body:
            try:
                async for chunk in body.iter_chunks(CHUNK_SIZE):
                    yield chunk
            except Exception as exc:
                raise self._failed(exc, "GetObject", key) from None

    async def exists(self, ref: str) -> bool:
        key = self.key_of(ref)
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if self._missing(exc):
                return False
            raise self._failed(exc, "HeadObject", key) from None
        return True

    async def delete(self, ref: str) -> None:
        key = self.key_of(ref)
        s3 = await self._s3()
        try:
            await s3.delete_object(Bucket=self.bucket, Key=key)  # 204 whether or not it was there
        except Exception as exc:
            raise self._failed(exc, "DeleteObject", key) from None

    async def presigned_get(
        self,
        ref: str,
        *,
        expires: timedelta,
        media_type: str | None = None,
        filename: str | None = None,
    ) -> str | None:
        params = {"Bucket": self.bucket, "Key": self.key_of(ref)}
        if media_type:
            params["ResponseContentType"] = media_type
        if media_type or filename:
            params["ResponseContentDisposition"] = content_disposition(
                media_type or "application/octet-stream", filename
            )
        # Signing is local: no request, and no check that the object exists.
        s3 = await self._s3()
        url: str = await s3.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=check_expiry(expires)
        )
        return url

    async def presigned_put(
        self, *, media_type: str, size: int, sha256: str, expires: timedelta
    ) -> tuple[str, dict[str, str]] | None:
        ref = ref_for_digest(sha256)
        media_type = check_description(media_type, None)
        if not 0 <= size <= MAX_PUT_SIZE:
            raise ValueError(f"size must be between 0 and {MAX_PUT_SIZE} bytes, not {size}")
        checksum = _checksum(ref)
        s3 = await self._s3()
        # Content-Type, Content-Length and the checksum are signed headers: S3 refuses the
        # PUT unless they are sent as signed, and refuses a body whose SHA-256 differs.
        url: str = await s3.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.key_of(ref),
                "ContentType": media_type,
                "ContentLength": size,
                "ChecksumSHA256": checksum,
            },
            ExpiresIn=check_expiry(expires),
        )
        return url, {"Content-Type": media_type, "x-amz-checksum-sha256": checksum}


def _checksum(ref: str) -> str:
    """S3's form of a ref's hash: the digest's bytes in base64."""
    return base64.b64encode(bytes.fromhex(digest_of(ref))).decode()
