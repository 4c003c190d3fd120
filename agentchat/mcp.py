"""MCP tools: the tools of a Model Context Protocol server, as an agent's tools.

```python
Agent(name="ops", tools=[mcp_tools("http://127.0.0.1:8000/mcp", allowed=["search"])])
Agent(name="fs", tools=[mcp_tools(command=["python", "server.py"], approval={"delete"})])
```

The server's tool list is read once, before the worker serves (`Agent.load_tools`, run by
`run_worker`): the model must know the tools, their descriptions and input schemas from the
first step, and an unreachable server or a misspelt `allowed` name fails the worker's start,
not a chat. Each call then runs as its own `agentchat.tool_call` activity, like a `@tool`: the
arguments are checked against the tool's `inputSchema` first (with `jsonschema`, which the
`mcp` package itself depends on), and what goes wrong (bad arguments, an `isError` result, a
protocol error, a timeout, a server that is down or died mid-call) goes back to the model as
a tool error. One MCP session per server and worker process carries every call; a session that
broke is dropped, and the next call opens a new one (a stdio server is started again).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from agentchat.errors import AgentChatError, ConfigurationError
from agentchat.protocol.contracts import Display
from agentchat.tools import Tool, ToolContext, Toolset, check_display

try:
    import httpx2
    import jsonschema  # type: ignore[import-untyped]  # no stubs; a dependency of mcp
    import mcp_types
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.dispatcher import ProgressFnT
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # pragma: no cover - the extra is part of every test install
    raise ImportError("MCP tools need the mcp package: pip install 'agentchat[mcp]'") from exc

__all__ = ["MCPServerTools", "MCPToolError", "mcp_tools"]

log = logging.getLogger("agentchat.mcp")

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
_CALL_MARGIN = 5.0
"""Seconds the tool call activity's own timeout leaves past connecting and the call's timeout:
the call's timeout, not Temporal's, ends a slow call, so it reaches the model as a tool error
at once instead of being retried."""
_MAX_PAGES = 100
"""Pages of `tools/list` read at most: a server whose cursor never ends cannot hang a start."""

Seconds = timedelta | float


class MCPToolError(AgentChatError):
    """An MCP tool call failed. It never leaves the tool call activity: its message is the tool
    error the model reads (`MCPToolError: ...`)."""


def _seconds(value: Seconds) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _describe_failure(exc: BaseException) -> str:
    """One line for an exception, looking inside the exception groups anyio raises."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe_failure(e) for e in exc.exceptions)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _session_closed(client: Client) -> bool:
    """Whether the session already knows that its connection closed (a stdio server that
    exited between calls). mcp 2.3 keeps that on the session's dispatcher with no public flag;
    where it is missing, the first call after such a death fails and the next reconnects."""
    dispatcher = getattr(client.session, "_dispatcher", None)
    return getattr(dispatcher, "_closed", False) is True


class _Connection:
    """The one MCP session of a server in this process, opened when first needed.

    The `Client` (its transport's task group) lives in a task of its own, so that calls from
    any activity's task share it and closing it exits its context in the task that entered it,
    as anyio requires. A session that broke (the process or the connection died) is dropped;
    the next call opens another.
    """

    def __init__(
        self, label: str, open_client: Callable[[], AbstractAsyncContextManager[Client]]
    ) -> None:
        self.label = label
        self._open_client = open_client
        self._client: Client | None = None
        self._stop: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self._holders: set[asyncio.Task[None]] = set()

    async def client(self, connect_timeout: float) -> Client:
        async with self._lock:
            if self._client is not None and _session_closed(self._client):
                self.drop(self._client)
            if self._client is None:
                await self._open(connect_timeout)
            assert self._client is not None
            return self._client

    async def _open(self, connect_timeout: float) -> None:
        ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        holder = asyncio.create_task(self._hold(ready, stop), name=f"mcp {self.label}")
        self._holders.add(holder)
        holder.add_done_callback(self._holders.discard)
        try:
            client = await asyncio.wait_for(asyncio.shield(ready), connect_timeout)
        except TimeoutError:
            stop.set()
            holder.cancel()
            raise MCPToolError(
                f"MCP server {self.label} did not answer within {connect_timeout:g}s"
            ) from None
        except BaseException as exc:
            stop.set()
            if isinstance(exc, asyncio.CancelledError):
                holder.cancel()
                raise
            raise MCPToolError(
                f"cannot reach MCP server {self.label}: {_describe_failure(exc)}"
            ) from None
        self._client, self._stop = client, stop

    async def _hold(self, ready: asyncio.Future[Client], stop: asyncio.Event) -> None:
        client: Client | None = None
        try:
            async with self._open_client() as client:
                ready.set_result(client)
                await stop.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.info("MCP server %s: session ended: %s", self.label, _describe_failure(exc))
        finally:
            if not ready.done():  # cancelled while connecting
                ready.cancel()
            if client is not None and self._client is client:
                self._client = None

    def drop(self, client: Client) -> None:
        """Forget `client`'s session if it is still the current one: the next call reconnects."""
        if self._client is client:
            self._client = None
            if self._stop is not None:
                self._stop.set()

    async def aclose(self) -> None:
        if self._client is not None:
            self.drop(self._client)
        holders = list(self._holders)
        if holders:
            _, pending = await asyncio.wait(holders, timeout=5)
            for task in pending:
                task.cancel()


@dataclass(eq=False)
class _MCPTool(Tool):
    """One tool of an MCP server: validated with its input schema, called over the session."""

    remote_name: str = ""
    server: MCPServerTools | None = field(default=None, repr=False)
    call_timeout: float = 60.0
    input_validator: Any = field(default=None, repr=False)

    @property
    def is_client(self) -> bool:
        return False

    def validate(self, raw: Any) -> BaseModel | dict[str, Any]:
        args = {} if raw is None else raw
        if not isinstance(args, dict):
            raise ValueError(f"arguments for {self.name} must be a JSON object")
        problems = sorted(
            self.input_validator.iter_errors(args), key=lambda e: [str(p) for p in e.path]
        )
        if problems:
            listed = "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: {e.message}"
                for e in problems
            )
            raise ValueError(f"invalid arguments for {self.name}: {listed}")
        return args

    async def invoke(self, args: BaseModel | dict[str, Any], ctx: ToolContext) -> Any:
        assert self.server is not None and isinstance(args, dict)

        async def relay(progress: float, total: float | None, message: str | None) -> None:
            ctx.progress({"progress": progress, "total": total, "message": message})

        return await self.server.call(self.remote_name, args, self.call_timeout, relay)


class MCPServerTools(Toolset):
    """The tools of one MCP server, for an agent's `tools`. Made by `mcp_tools`."""

    def __init__(
        self,
        label: str,
        open_client: Callable[[], AbstractAsyncContextManager[Client]],
        *,
        allowed: Sequence[str] | None,
        prefix: str,
        approval: bool | frozenset[str],
        timeout: float,
        tool_timeouts: Mapping[str, float],
        connect_timeout: float,
        display: Display = "stream",
    ) -> None:
        super().__init__(
            name="mcp", description=f"MCP server {label}", parameters={}, display=display
        )
        self.label = label
        self.allowed = allowed
        self.prefix = prefix
        self.approval = approval
        self.call_timeout = timeout
        self.tool_timeouts = dict(tool_timeouts)
        self.connect_timeout = connect_timeout
        self._connection = _Connection(label, open_client)
        self._tools: list[Tool] | None = None

    async def load(self) -> list[Tool]:
        """List the server's tools (once) and make them `Tool`s.

        Raises:
            ConfigurationError: The server cannot be reached or listed, or `allowed`,
                `approval` or `tool_timeouts` name a tool it does not have.
        """
        if self._tools is None:
            try:
                listed = await self._list()
            except MCPToolError as exc:
                raise ConfigurationError(str(exc)) from None
            except TimeoutError:
                raise ConfigurationError(
                    f"MCP server {self.label} did not list its tools"
                    f" within {self.connect_timeout:g}s"
                ) from None
            except Exception as exc:
                raise ConfigurationError(
                    f"MCP server {self.label}: listing its tools failed: {_describe_failure(exc)}"
                ) from None
            self._tools = self._build(listed)
        return list(self._tools)

    async def _list(self) -> list[mcp_types.Tool]:
        client = await self._connection.client(self.connect_timeout)
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await asyncio.wait_for(
                client.list_tools(cursor=cursor, cache_mode="bypass"), self.connect_timeout
            )
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    def _unknown(self, what: str, names: Iterable[str], known: set[str]) -> None:
        missing = sorted(set(names) - known)
        if missing:
            raise ConfigurationError(
                f"MCP server {self.label} has no tool named {', '.join(map(repr, missing))}"
                f" (in {what}); it has: {', '.join(sorted(known)) or 'none'}"
            )

    def _build(self, listed: list[mcp_types.Tool]) -> list[Tool]:
        known = {t.name for t in listed}
        self._unknown("allowed", self.allowed or (), known)
        if not isinstance(self.approval, bool):
            self._unknown("approval", self.approval, known)
        self._unknown("tool_timeouts", self.tool_timeouts, known)
        keep = set(self.allowed) if self.allowed is not None else known
        tools: list[Tool] = []
        for remote in listed:
            if remote.name not in keep:
                continue
            tools.append(self._tool(remote))
        names = [t.name for t in tools]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigurationError(
                f"MCP server {self.label}: tools {twice} have the same name once made safe"
            )
        return tools

    def _tool(self, remote: mcp_types.Tool) -> Tool:
        schema = dict(remote.input_schema)
        try:
            validator_class = jsonschema.validators.validator_for(
                schema, default=jsonschema.Draft202012Validator
            )
            validator_class.check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            raise ConfigurationError(
                f"MCP server {self.label}: tool {remote.name!r} has an invalid input schema:"
                f" {exc.message} (leave it out of `allowed`)"
            ) from None
        name = _UNSAFE.sub("_", f"{self.prefix}{remote.name}")[:64]
        call_timeout = self.tool_timeouts.get(remote.name, self.call_timeout)
        needs_approval = (
            self.approval if isinstance(self.approval, bool) else remote.name in self.approval
        )
        try:
            return _MCPTool(
                name=name,
                description=remote.description or remote.title or remote.name,
                parameters=schema,
                timeout=timedelta(seconds=self.connect_timeout + call_timeout + _CALL_MARGIN),
                requires_approval=needs_approval,
                display=self.display,
                remote_name=remote.name,
                server=self,
                call_timeout=call_timeout,
                input_validator=validator_class(schema),
            )
        except ConfigurationError as exc:
            raise ConfigurationError(f"MCP server {self.label}: {exc}") from None

    async def call(
        self,
        name: str,
        args: dict[str, Any],
        seconds: float,
        progress: ProgressFnT | None = None,
    ) -> Any:
        """Call the server's tool `name`; returns what the model sees, or raises `MCPToolError`."""
        client = await self._connection.client(self.connect_timeout)
        try:
            result = await client.call_tool(
                name, args, read_timeout_seconds=seconds, progress_callback=progress
            )
        except MCPError as exc:
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                raise MCPToolError(f"{name} timed out after {seconds:g}s") from None
            if exc.code == mcp_types.CONNECTION_CLOSED or "terminated" in exc.message:
                self._connection.drop(client)
                raise MCPToolError(
                    f"the connection to MCP server {self.label} broke during the call"
                    f" ({exc.message}); the next call reconnects"
                ) from None
            raise MCPToolError(f"MCP server {self.label}: {exc.message}") from None
        except (asyncio.CancelledError, MCPToolError):
            raise
        except ValidationError as exc:  # an answer that is not MCP's
            raise MCPToolError(
                f"MCP server {self.label}: {name} answered wrongly: {_describe_failure(exc)}"
            ) from None
        except Exception as exc:  # a transport or protocol failure: start afresh next time
            self._connection.drop(client)
            raise MCPToolError(
                f"MCP server {self.label} failed: {_describe_failure(exc)}"
            ) from None
        if result.is_error:
            raise MCPToolError(_content_text(result.content) or f"{name} failed")
        if result.structured_content is not None:
            return result.structured_content
        return _content_text(result.content)

    async def aclose(self) -> None:
        await self._connection.aclose()


def _decoded_size(data: str) -> int:
    """Bytes that base64 `data` decodes to."""
    return len(data.rstrip("=")) * 3 // 4


def _content_text(blocks: Sequence[mcp_types.ContentBlock]) -> str:
    """MCP content as the text the model reads: text as is, anything binary summarised."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            size = _decoded_size(block.data)
            parts.append(f"[{block.type}: {block.mime_type}, {size} bytes]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource: {block.uri}" + (f" ({block.name})]" if block.name else "]"))
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                parts.append(resource.text)
            else:
                size = _decoded_size(resource.blob)
                parts.append(f"[resource: {resource.uri}, {resource.mime_type}, {size} bytes]")
    return "\n".join(parts)


def mcp_tools(
    url: str | None = None,
    *,
    command: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    headers: Mapping[str, str] | None = None,
    allowed: Iterable[str] | None = None,
    prefix: str = "",
    approval: bool | Iterable[str] = False,
    timeout: Seconds = timedelta(minutes=1),
    tool_timeouts: Mapping[str, Seconds] | None = None,
    connect_timeout: Seconds = timedelta(seconds=10),
    display: Display = "stream",
) -> MCPServerTools:
    """The tools of an MCP server, for `Agent(tools=[...])`.

    ```python
    Agent(name="ops", tools=[mcp_tools("http://127.0.0.1:8000/mcp", allowed=["search"])])
    Agent(name="fs", tools=[mcp_tools(command=["python", "server.py"], approval={"delete"})])
    ```

    The tools are listed when the worker starts (`run_worker`, or `await agent.load_tools()`
    before `create_worker`); each call runs as a tool call activity.

    Args:
        url: The server's streamable HTTP endpoint (`http://host:port/mcp`).
        command: Instead of `url`: a local server to start, spoken to over its stdin and
            stdout (it is started again if it dies).
        env: Environment variables for `command`, over a safe default set.
        cwd: Working directory for `command`.
        headers: HTTP headers sent with every request to `url` (e.g. `Authorization`).
        allowed: The tools the model gets, by the server's names (default: all). A name the
            server does not have is an error when the tools are listed.
        prefix: Put before every tool's name (`prefix="github_"`), to keep the names of two
            servers, or of a server and your own tools, apart. Characters a tool name cannot
            have (outside letters, digits, `_` and `-`) become `_`.
        approval: Pause for `approve`/`deny` before calling: True for every tool, or the
            server's names of those that need it.
        timeout: Longest one call may take; past it the model gets a tool error.
        tool_timeouts: Per tool (by the server's name), instead of `timeout`.
        connect_timeout: Longest connecting (and starting `command`) may take.
        display: What clients see of the calls of every tool of the server (see
            `agentchat.tools.Tool`): "stream", "description", "name" or "hidden". Hidden tools
            cannot require approval.

    Raises:
        ConfigurationError: Neither or both of `url` and `command`, or a bad `display`.
    """
    if (url is None) == (command is None):
        raise ConfigurationError("mcp_tools: pass either a url or a command, not both")
    check_display(display, "mcp_tools")
    if display == "hidden" and approval:
        raise ConfigurationError(
            "mcp_tools: hidden tools cannot require approval (approving needs the client"
            " to see the call)"
        )
    open_client: Callable[[], AbstractAsyncContextManager[Client]]
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"mcp_tools: {url!r} is not an http(s) URL")
        label = url
        open_client = _http_opener(url, dict(headers) if headers else None)
    else:
        assert command is not None
        if isinstance(command, str) or not command:
            raise ConfigurationError(
                "mcp_tools: command must be a list of words, e.g. ['python', 'server.py']"
            )
        label = shlex.join(command)
        params = StdioServerParameters(
            command=command[0], args=list(command[1:]), env=dict(env) if env else None, cwd=cwd
        )
        open_client = lambda: Client(stdio_client(params))  # noqa: E731
    return MCPServerTools(
        label,
        open_client,
        allowed=list(allowed) if allowed is not None else None,
        prefix=prefix,
        approval=approval if isinstance(approval, bool) else frozenset(approval),
        timeout=_seconds(timeout),
        tool_timeouts={k: _seconds(v) for k, v in (tool_timeouts or {}).items()},
        connect_timeout=_seconds(connect_timeout),
        display=display,
    )


def _http_opener(
    url: str, headers: dict[str, str] | None
) -> Callable[[], AbstractAsyncContextManager[Client]]:
    if headers is None:
        return lambda: Client(url)

    @asynccontextmanager
    async def open_client() -> AsyncIterator[Client]:
        # The SDK's default client's timeouts: 30 s to connect or write, 300 s to read.
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            yield client

    return open_client
