"""Files a client sends: uploaded to the chat first, then referred to by the message.

`AgentChat.send_message(text, files=[...])` takes paths, bytes (with a media type), http(s)
URLs (fetched here, up to the size limit) and file parts returned by an earlier upload;
`send_raw` turns the AI SDK's inline files (`data:` URLs) into uploads. Either way a file is
stored once in the blob store and recorded as the chat's (`ChatStore.add_attachment`), and the
message carries only its `file` part (`agentchat.protocol.files`). A message referring to a
file the chat does not hold (another chat's) is refused before anything is queued.

Two uploaders: `DirectFiles` writes the blob store and the chat store itself (it needs
`AGENTCHAT_BLOB_URL` and `AGENTCHAT_DATABASE_URL`), `HttpFiles` posts to the gateway's
`POST /v1/chats/{id}/files`, which does the same on the gateway's side.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import uuid
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx

from agentchat.client._stored import _db
from agentchat.connections import get_blob_store, get_store
from agentchat.errors import (
    ChatDeletingError,
    ChatNotFoundError,
    ConfigurationError,
    GatewayUnavailableError,
    InvalidMessageError,
    MessageTooLargeError,
)
from agentchat.protocol.files import (
    file_ref,
    file_url,
    is_data_url,
    is_file_part,
    make_file_part,
)
from agentchat.protocol.messages import UIMessage
from agentchat.settings import Settings

if TYPE_CHECKING:
    from agentchat.client._http import HttpBackend

__all__ = [
    "DirectFiles",
    "FileInput",
    "Files",
    "HttpFiles",
    "check_upload",
    "decode_data_url",
    "files_for",
    "store_upload",
]

FileInput = (
    str | os.PathLike[str] | bytes | tuple[bytes, str] | tuple[bytes, str, str] | dict[str, Any]
)
"""What `send_message(files=...)` takes: a path, an http(s) URL, bytes (their type sniffed),
`(bytes, media_type)`, `(bytes, media_type, filename)`, or a file part an upload returned."""

FETCH_TIMEOUT = 30.0
"""Seconds a URL given as a file may take to answer and to arrive."""


class Uploader(Protocol):
    """Where a client's files go."""

    async def upload(
        self, data: bytes, media_type: str | None, filename: str | None
    ) -> dict[str, Any]:
        """Store a file for the chat; its `file` part."""
        ...

    async def check_refs(self, message: UIMessage) -> UIMessage:
        """The message, once every file it refers to is the chat's (their URLs this chat's
        file route); raises `InvalidMessageError` naming one that is not."""
        ...


# -- the checks every upload makes, wherever it is made ---------------------------------------


def check_upload(
    settings: Settings, data: bytes, declared: str | None, filename: str | None
) -> str:
    """The file's media type, sniffed from its first bytes, once it passes this process's
    limits (`AGENTCHAT_MAX_FILE_BYTES`, `AGENTCHAT_FILE_TYPES`).

    Raises:
        MessageTooLargeError: Over the size limit.
        InvalidMessageError: Empty, a type not allowed, or a malformed file name.
    """
    from agentchat.blobs import sniff_media_type

    shown = f"file {filename!r}" if filename else "the file"
    if not data:
        raise InvalidMessageError(f"{shown} is empty")
    if len(data) > settings.max_file_bytes:
        raise MessageTooLargeError(
            f"{shown} is {len(data)} bytes; the limit is {settings.max_file_bytes} bytes"
            " (AGENTCHAT_MAX_FILE_BYTES)"
        )
    media_type = sniff_media_type(data[:64], declared, filename)
    check_type(settings, media_type, declared, shown)
    check_filename(filename)
    return media_type


def check_type(settings: Settings, media_type: str, declared: str | None, shown: str) -> None:
    """Refuse a media type outside `AGENTCHAT_FILE_TYPES`, naming what was declared too."""
    from agentchat.protocol.files import media_type_allowed

    if media_type_allowed(media_type, settings.file_types):
        return
    said = f", declared as {declared}" if declared and declared != media_type else ""
    raise InvalidMessageError(
        f"{shown} is {media_type}{said}: not an allowed type (allowed:"
        f" {', '.join(settings.file_types) or 'none'}; AGENTCHAT_FILE_TYPES)"
    )


def check_filename(filename: str | None) -> None:
    if filename is None:
        return
    if (
        not filename
        or len(filename) > 255
        or any(ch in filename for ch in "/\\")
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in filename)
    ):
        raise InvalidMessageError(
            f"file name {filename[:80]!r}: 1-255 characters, no directory separators or"
            " control characters"
        )


async def store_upload(
    settings: Settings,
    chat_id: str,
    data: bytes,
    media_type: str,
    filename: str | None,
) -> dict[str, Any]:
    """Put checked bytes in the blob store and record them as the chat's; the file part."""
    from agentchat.blobs import BlobTooLargeError

    blobs = get_blob_store(settings, who="sending files")
    try:
        blob = await blobs.put(
            data, media_type=media_type, filename=filename, max_size=settings.max_file_bytes
        )
    except BlobTooLargeError as exc:
        raise MessageTooLargeError(str(exc)) from None
    await record_attachment(settings, chat_id, blob)
    return make_file_part(chat_id, blob.ref, blob.media_type, blob.size, blob.filename)


async def record_attachment(settings: Settings, chat_id: str, blob: Any) -> None:
    store = await get_store(settings, who="sending files")
    await _db(settings, store.add_attachment(chat_id, blob))


async def check_chat_for_upload(
    settings: Settings, chat_id: str, agent: str | None, owner: str | None
) -> None:
    """An upload may go to a chat this owner may write (None: any owner); a new chat is
    created for the owner here, as its first message would, so nobody else takes the id."""
    store = await get_store(settings, who="sending files")
    record = await _db(settings, store.get_chat(chat_id))
    if record is not None and owner is not None and record.owner != owner:
        raise ChatNotFoundError(f"no chat {chat_id!r}")
    if record is not None and record.deleting:
        raise ChatDeletingError(f"chat {chat_id!r} is being deleted")
    if record is None and owner is not None and agent is not None:
        created = await _db(settings, store.create_chat(chat_id, agent, owner=owner))
        if created.owner != owner:  # another owner's first message won the race
            raise ChatNotFoundError(f"no chat {chat_id!r}")


async def check_message_refs(settings: Settings, chat_id: str, message: UIMessage) -> UIMessage:
    """Refuse a message referring to a file the chat does not hold; point each file part at
    this chat's file route."""
    refs = [ref for p in message.parts if is_file_part(p) and (ref := file_ref(p)) is not None]
    if not refs:
        return message
    store = await get_store(settings, who="sending files")
    held = await _db(settings, store.attached(chat_id, refs))
    missing = [ref for ref in refs if ref not in held]
    if missing:
        raise InvalidMessageError(
            f"file {missing[0]} is not one of chat {chat_id!r}'s files: upload it to this chat"
            f" (POST /v1/chats/{chat_id}/files) and send the part that returns"
        )
    parts = [
        {**p, "url": file_url(chat_id, ref)} if is_file_part(p) and (ref := file_ref(p)) else p
        for p in message.parts
    ]
    return message.model_copy(update={"parts": parts})


def decode_data_url(url: str, where: str) -> tuple[bytes, str | None]:
    """The bytes and declared media type of a `data:` URL (base64 or percent-encoded)."""
    head, comma, payload = url.partition(",")
    if not comma:
        raise InvalidMessageError(f"{where}: a data: URL without ','")
    params = head[5:].split(";")
    media_type = params[0].strip() or None
    try:
        if "base64" in (p.strip().lower() for p in params[1:]):
            data = base64.b64decode(payload, validate=True)
        else:
            data = unquote(payload).encode("latin-1", errors="replace")
    except (binascii.Error, ValueError):
        raise InvalidMessageError(f"{where}: the data: URL is not valid base64") from None
    return data, media_type


# -- the two uploaders --------------------------------------------------------------------------


class DirectFiles:
    """Uploads straight into the blob store and the chat store (`AgentChat` without a gateway,
    and the gateway's own chats)."""

    def __init__(self, chat_id: str, agent: str, settings: Settings, owner: str | None) -> None:
        self.chat_id = chat_id
        self.agent = agent
        self.settings = settings
        self.owner = owner

    async def upload(
        self, data: bytes, media_type: str | None, filename: str | None
    ) -> dict[str, Any]:
        checked = check_upload(self.settings, data, media_type, filename)
        await check_chat_for_upload(self.settings, self.chat_id, self.agent, self.owner)
        return await store_upload(self.settings, self.chat_id, data, checked, filename)

    async def check_refs(self, message: UIMessage) -> UIMessage:
        return await check_message_refs(self.settings, self.chat_id, message)


class HttpFiles:
    """Uploads through the gateway (`POST /v1/chats/{id}/files`), which checks the refs of a
    message itself when it is sent."""

    def __init__(self, backend: HttpBackend, agent: str) -> None:
        self.backend = backend
        self.agent = agent

    async def upload(
        self, data: bytes, media_type: str | None, filename: str | None
    ) -> dict[str, Any]:
        from agentchat.client._http import _error, _origin

        url = self.backend.url("messages", "/files")
        files = {"file": (filename or "file", data, media_type or "application/octet-stream")}
        try:
            response = await self.backend.client.post(
                url,
                files=files,
                params={"agent": self.agent},
                headers=self.backend._headers,
                timeout=httpx.Timeout(120.0),
            )
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(
                f"cannot reach the gateway at {_origin(url)}: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code >= 400:
            raise _error(response.status_code, response.content, url)
        part: dict[str, Any] = response.json()
        return part

    async def check_refs(self, message: UIMessage) -> UIMessage:
        return message  # the gateway checks them against the chat's files


class Files:
    """What `AgentChat` does with files: turn its arguments into file parts, inline data into
    uploads, and check references, through one uploader."""

    def __init__(self, uploader: Uploader, settings: Settings) -> None:
        self.uploader = uploader
        self.settings = settings

    async def with_files(
        self, message: str | UIMessage, message_id: str | None, files: Sequence[FileInput]
    ) -> UIMessage:
        """The message with a file part for each of `files` (uploaded first) after its own."""
        if isinstance(message, UIMessage):
            base = message
        elif isinstance(message, str):
            parts = [{"type": "text", "text": message}] if message.strip() else []
            base = UIMessage(id=message_id or f"msg-{uuid.uuid4()}", role="user", parts=parts)
        else:
            raise InvalidMessageError(
                f"message must be a str or UIMessage, got {type(message).__name__}"
            )
        if isinstance(files, str | bytes | dict | tuple | os.PathLike):
            raise InvalidMessageError("files must be a list of files, e.g. files=['cat.png']")
        added = [await self._part(item, f"files[{i}]") for i, item in enumerate(files)]
        return base.model_copy(update={"parts": [*base.parts, *added]})

    async def _part(self, item: FileInput, where: str) -> dict[str, Any]:
        if isinstance(item, dict):
            if not is_file_part(item) or file_ref(item) is None:
                raise InvalidMessageError(f"{where}: a dict must be a file part an upload returned")
            return item
        if isinstance(item, tuple):
            if not 2 <= len(item) <= 3 or not isinstance(item[0], bytes):
                raise InvalidMessageError(
                    f"{where}: give (bytes, media_type) or (bytes, media_type, filename)"
                )
            name = item[2] if len(item) == 3 else None
            return await self.uploader.upload(item[0], item[1], name)
        if isinstance(item, bytes):
            return await self.uploader.upload(item, None, None)
        if isinstance(item, str) and item.lower().startswith(("http://", "https://")):
            data, media_type, name = await fetch_url(item, self.settings.max_file_bytes, where)
            return await self.uploader.upload(data, media_type, name)
        if isinstance(item, str) and is_data_url(item):
            data, media_type = decode_data_url(item, where)
            return await self.uploader.upload(data, media_type, None)
        if isinstance(item, str | os.PathLike):
            path = Path(item)
            data = await _read_file(path, self.settings.max_file_bytes, where)
            return await self.uploader.upload(data, None, path.name)
        raise InvalidMessageError(
            f"{where}: a {type(item).__name__} is not a file; give a path, a URL, bytes,"
            " (bytes, media_type) or a file part"
        )

    async def inline(self, message: UIMessage, where: str) -> UIMessage:
        """The message with its inline files (`data:` URLs, as the AI SDK sends them)
        uploaded and referred to instead."""
        if not any(is_file_part(p) and is_data_url(p.get("url")) for p in message.parts):
            return message
        parts: list[dict[str, Any]] = []
        for i, part in enumerate(message.parts):
            if is_file_part(part) and is_data_url(part.get("url")):
                data, declared = decode_data_url(str(part["url"]), f"{where}.parts[{i}].url")
                name = part.get("filename") if isinstance(part.get("filename"), str) else None
                part = await self.uploader.upload(data, part.get("mediaType") or declared, name)
            parts.append(part)
        return message.model_copy(update={"parts": parts})

    async def check_refs(self, message: UIMessage) -> UIMessage:
        if not any(is_file_part(p) for p in message.parts):
            return message
        return await self.uploader.check_refs(message)


async def _read_file(path: Path, limit: int, where: str) -> bytes:
    def read() -> bytes:
        with path.open("rb") as f:
            data = f.read(limit + 1)
        return data

    try:
        data = await asyncio.to_thread(read)
    except OSError as exc:
        raise InvalidMessageError(f"{where}: cannot read {str(path)!r}: {exc.strerror}") from None
    if len(data) > limit:
        raise MessageTooLargeError(
            f"file {path.name!r} is over {limit} bytes, the limit (AGENTCHAT_MAX_FILE_BYTES)"
        )
    return data


async def fetch_url(url: str, limit: int, where: str) -> tuple[bytes, str | None, str | None]:
    """GET a URL given as a file: its bytes (at most `limit`), declared type and name."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name or None
    chunks: list[bytes] = []
    size = 0
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise InvalidMessageError(f"{where}: GET {url} answered {response.status_code}")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise MessageTooLargeError(
                        f"{where}: {url} is over {limit} bytes, the limit"
                        " (AGENTCHAT_MAX_FILE_BYTES)"
                    )
                chunks.append(chunk)
            declared = response.headers.get("content-type")
    except httpx.HTTPError as exc:
        raise InvalidMessageError(f"{where}: cannot fetch {url}: {type(exc).__name__}") from None
    return b"".join(chunks), declared, name


def files_for(chat: Any, backend: object) -> Files:
    """The `Files` of an `AgentChat`: through the gateway when its backend talks HTTP, else
    straight into the stores."""
    from agentchat.client._direct import DirectBackend
    from agentchat.client._http import HttpBackend

    if isinstance(backend, DirectBackend):
        return Files(DirectFiles(chat.id, chat.agent, chat.settings, chat.owner), chat.settings)
    # A transport over the gateway (HTTP, or one that keeps an HTTP backend for its calls,
    # as `http_backend`) uploads through the gateway's file route.
    http = backend if isinstance(backend, HttpBackend) else getattr(backend, "http_backend", None)
    if isinstance(http, HttpBackend):
        return Files(HttpFiles(http, chat.agent), chat.settings)
    return Files(NoUploads(type(backend).__name__), chat.settings)


class NoUploads:
    """A backend that cannot upload: sending files fails, naming it; messages referring to
    files pass on to whatever checks them on the other side."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    async def upload(
        self, data: bytes, media_type: str | None, filename: str | None
    ) -> dict[str, Any]:
        raise ConfigurationError(f"{self.backend} cannot upload files")

    async def check_refs(self, message: UIMessage) -> UIMessage:
        return message
