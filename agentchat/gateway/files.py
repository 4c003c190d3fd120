"""Files of a chat: `POST /v1/chats/{id}/files` stores one, `GET .../files/{ref}` serves it.

An upload is streamed into the blob store (multipart with a `file` field, or the raw body
with its `Content-Type` and `?filename=`), refused past `AGENTCHAT_MAX_FILE_BYTES` as it
arrives, its media type sniffed from its first bytes and checked against
`AGENTCHAT_FILE_TYPES`, and recorded as the chat's (`ChatStore.add_attachment`). The answer
is the `file` part to put in a message. A file is served only to a caller who may read a
chat that holds it: the same authorisation as the chat's other routes, and a ref the chat
does not hold is a `404`, whether or not the blob exists. On S3 the route redirects to a
signed URL of a few minutes instead of passing the bytes through.

The gateway knows no agent, so these are the gateway's limits; an agent's own `FilePolicy`
is checked before each LLM step. See docs/attachments.md.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from agentchat.blobs import (
    REF_PATTERN,
    SNIFF_BYTES,
    BlobNotFoundError,
    BlobStore,
    BlobTooLargeError,
    content_disposition,
    sniff_media_type,
)
from agentchat.client._files import check_chat_for_upload, check_filename, check_type
from agentchat.connections import get_blob_store, get_store
from agentchat.errors import InvalidMessageError, MessageTooLargeError
from agentchat.gateway.auth import CREDENTIALS, Principal
from agentchat.gateway.deps import ERROR_RESPONSES, ChatCaller, ChatId, Gateway, Gw, InputCaller
from agentchat.gateway.owners import record_of
from agentchat.gateway.problems import ApiError
from agentchat.gateway.schemas import AGENT_PATTERN
from agentchat.protocol.files import make_file_part

__all__ = ["MULTIPART_SLACK", "UPLOAD_PATH", "body_limit", "router"]

router = APIRouter(tags=["files"], responses=ERROR_RESPONSES, dependencies=CREDENTIALS)

UPLOAD_PATH = re.compile(r"^/v1/chats/[^/]+/files$")
"""Uploads stream past the app's body limit: the route enforces the file's own."""
USE_CHAT_PATH = re.compile(r"^/api/(v[0-9]+/)?chat$")
MULTIPART_SLACK = 64 * 1024
"""Bytes a multipart body may hold besides the file: boundaries, headers, a name."""
SIGNED_FOR = timedelta(minutes=5)
"""How long the signed URL a file read redirects to lives (S3)."""

Ref = Annotated[str, Path(pattern=REF_PATTERN, description="The file's ref (`sha256-<hex>`).")]


def body_limit(path: str, default: int, max_file_bytes: int) -> int | None:
    """The body limit of a request to `path`: None for uploads (their route streams and
    limits them), room for two inline files (`data:` URLs, a third larger than the file)
    on the `useChat` route, else `default`."""
    if UPLOAD_PATH.match(path):
        return None
    if USE_CHAT_PATH.match(path):
        return default + 2 * (max_file_bytes * 4 // 3 + 1024)
    return default


def _blobs(gateway: Gateway) -> BlobStore:
    return get_blob_store(gateway.settings, who="the gateway's file routes")


async def _may_upload(
    gateway: Gateway, principal: Principal, chat_id: str, agent: str | None
) -> None:
    owner = await gateway.input_owner(chat_id, principal, None)
    creates = owner is not None and await record_of(gateway.settings, chat_id) is None
    chosen = await gateway.agent_of(chat_id, agent, principal) if creates else None
    await check_chat_for_upload(gateway.settings, chat_id, chosen, owner)


@router.post(
    "/v1/chats/{chat_id}/files",
    status_code=201,
    summary="Upload a file to a chat",
    responses={201: {"description": "The `file` part to put in a message."}},
)
async def upload(
    chat_id: ChatId,
    request: Request,
    principal: InputCaller,
    gateway: Gw,
    agent: Annotated[str | None, Query(pattern=AGENT_PATTERN)] = None,
    filename: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
) -> Response:
    """Multipart (`file` field) or the raw body (its `Content-Type`, `?filename=`). A new
    chat is created for a user token's user (`?agent=` names its agent). Answers `201` with
    the `file` part: `{"type": "file", "mediaType", "filename", "url", "providerMetadata"}`.
    `413` over `AGENTCHAT_MAX_FILE_BYTES`, `415` for a type outside `AGENTCHAT_FILE_TYPES`
    (sniffed from the bytes: a declared type they do not match does not count), `422` for an
    empty or malformed upload."""
    await _may_upload(gateway, principal, chat_id, agent)
    settings = gateway.settings
    limit = settings.max_file_bytes
    declared = request.headers.get("content-type")
    if declared and declared.lower().startswith("multipart/form-data"):
        upload = await _multipart_file(request, limit)
        chunks = _file_chunks(upload)
        declared, filename = upload.content_type, upload.filename or filename
    else:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise _too_large(int(length), limit)
        chunks = request.stream()
    filename = _plain_name(filename)
    head, rest = await _head(chunks)
    if not head:
        raise ApiError(422, InvalidMessageError.__name__, "the file is empty", ["file"])
    media_type = sniff_media_type(head, declared, filename)
    try:
        check_type(settings, media_type, declared, f"file {filename!r}" if filename else "the file")
    except InvalidMessageError as exc:
        raise ApiError(415, InvalidMessageError.__name__, str(exc), ["file"]) from None
    try:
        blob = await _blobs(gateway).put(
            _chain(head, rest), media_type=media_type, filename=filename, max_size=limit
        )
    except BlobTooLargeError as exc:
        raise ApiError(
            413, MessageTooLargeError.__name__, f"{exc} (AGENTCHAT_MAX_FILE_BYTES)"
        ) from None
    store = await get_store(settings, who="the gateway's file routes")
    await store.add_attachment(chat_id, blob)
    part = make_file_part(chat_id, blob.ref, blob.media_type, blob.size, blob.filename)
    return JSONResponse(part, status_code=201, headers={"Location": part["url"]})


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        MessageTooLargeError.__name__,
        f"the file is {size} bytes; the limit is {limit} bytes (AGENTCHAT_MAX_FILE_BYTES)",
    )


def _plain_name(filename: str | None) -> str | None:
    """A sent file name without any directory (old browsers send the whole path)."""
    if filename is None:
        return None
    name = PurePosixPath(filename.replace("\\", "/")).name or None
    try:
        check_filename(name)
    except InvalidMessageError as exc:
        raise ApiError(422, InvalidMessageError.__name__, str(exc), ["filename"]) from None
    return name


async def _multipart_file(request: Request, limit: int) -> UploadFile:
    """The multipart body's `file` field, read (to a temporary file past 1 MiB) no further
    than the limit allows."""
    cap = limit + MULTIPART_SLACK

    async def limited() -> AsyncGenerator[bytes, None]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > cap:
                raise _too_large(seen, limit)
            yield chunk

    parser = MultiPartParser(request.headers, limited(), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError(
            422, InvalidMessageError.__name__, f"malformed multipart body: {exc}"
        ) from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(
            422,
            InvalidMessageError.__name__,
            "a multipart upload sends the file in a field named 'file'",
            ["file"],
        )
    if upload.size is not None and upload.size > limit:
        raise _too_large(upload.size, limit)
    return upload


async def _file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    try:
        while chunk := await upload.read(64 * 1024):
            yield chunk
    finally:
        await upload.close()


async def _head(chunks: AsyncIterator[bytes]) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `SNIFF_BYTES` (or all, when shorter) and the iterator of the rest."""
    head = b""
    iterator = aiter(chunks)
    async for chunk in iterator:
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    return head, iterator


async def _chain(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk


@router.get(
    "/v1/chats/{chat_id}/files/{ref}",
    summary="Read a chat's file",
    responses={
        200: {"description": "The file's bytes.", "content": {"application/octet-stream": {}}},
        307: {"description": "To a signed URL of the object (S3)."},
    },
)
async def read(chat_id: ChatId, ref: Ref, principal: ChatCaller, gateway: Gw) -> Response:
    """The bytes, with the `Content-Type` the file was uploaded as and a `Content-Disposition`
    (`inline` for images and PDFs, else `attachment`); on S3, a `307` to a signed URL that
    lives 5 minutes. `404` when the chat holds no such file."""
    store = await get_store(gateway.settings, who="the gateway's file routes")
    held = await store.attachment(chat_id, ref)
    if held is None:
        raise ApiError(404, BlobNotFoundError.__name__, f"chat {chat_id!r} has no file {ref}")
    blobs = _blobs(gateway)
    signed = await blobs.presigned_get(
        ref, expires=SIGNED_FOR, media_type=held.media_type, filename=held.filename
    )
    headers: dict[str, Any] = {
        "Cache-Control": "private, max-age=300",
        "X-Content-Type-Options": "nosniff",
    }
    if signed is not None:
        return RedirectResponse(signed, status_code=307, headers=headers)
    try:
        chunks = await blobs.open(ref)
    except BlobNotFoundError:
        raise ApiError(404, BlobNotFoundError.__name__, f"file {ref} is no longer stored") from None
    headers |= {
        "Content-Disposition": content_disposition(held.media_type, held.filename),
        "Content-Length": str(held.size),
        "ETag": f'"{ref}"',
        # A file is never a page: no scripts, even for a type a browser would render.
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return StreamingResponse(chunks, media_type=held.media_type, headers=headers)
