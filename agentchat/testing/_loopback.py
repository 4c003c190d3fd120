"""What the fake model servers share: a loopback HTTP/1.1 server's life (start, stop, a
keep-alive connection read request by request), chunked SSE writing, and the scripted answer
helpers (word tokens, `tokens=N rate=R` directives).

Each server (`FakeOpenAIServer`, `FakeAnthropicServer`) only says how it answers one request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoopbackServer", "Request", "directive", "words"]


@dataclass(frozen=True)
class Request:
    """One HTTP request as the servers read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackServer:
    """A loopback HTTP server; subclasses answer each request in `_handle`."""

    host: str = "127.0.0.1"
    port: int = 0
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)

    async def start(self) -> LoopbackServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _handle(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False closes the connection (a stream cut short)."""
        raise NotImplementedError

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._handle(await _read(reader), writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        """One chunk of a chunked (streamed) response body."""
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()

    @staticmethod
    async def _end(writer: asyncio.StreamWriter) -> None:
        """The end of a chunked response body."""
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    async def _json(
        writer: asyncio.StreamWriter,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        """A whole JSON response."""
        data = json.dumps(payload).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"{extra}content-length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()


async def _read(reader: asyncio.StreamReader) -> Request:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body)


_DIRECTIVE = re.compile(r"\btokens=(\d+)(?:\s+rate=([\d.]+))?")


def directive(text: str) -> tuple[int, float] | None:
    """A `tokens=N [rate=R]` request in a user message: N tokens at R per second."""
    match = _DIRECTIVE.search(text)
    if match is None:
        return None
    return int(match.group(1)), float(match.group(2) or 0)


def words(text: str) -> list[str]:
    """A text as word tokens, each after the first with its leading space."""
    return [word if i == 0 else " " + word for i, word in enumerate(text.split(" "))]
