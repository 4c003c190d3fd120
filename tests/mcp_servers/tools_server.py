"""An MCP server with a few tools: `python tools_server.py http PORT` serves streamable HTTP on
127.0.0.1:PORT at /mcp; `python tools_server.py stdio` serves stdio."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("test-tools", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


@server.tool()
def weather(city: str) -> dict[str, Any]:
    """Weather for a city, as structured content."""
    return {"city": city, "temp": 21}


@server.tool()
def boom(reason: str) -> str:
    """Always fails."""
    raise ToolError(f"kaboom: {reason}")


@server.tool()
async def nap(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}s"


@server.tool()
def delete_file(path: str) -> str:
    """Delete a file (asks for approval in the tests)."""
    return f"deleted {path}"


@server.tool()
def whoami() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
async def count(n: int, ctx: Context) -> str:
    """Count to n, reporting progress at each step."""
    for i in range(n):
        await ctx.report_progress(i + 1, n, f"at {i + 1}")
    return f"counted to {n}"


@server.tool()
def picture() -> Image:
    """A tiny image."""
    return Image(data=b"\x89PNG" + bytes(96), format="png")


def main() -> None:
    if sys.argv[1] == "stdio":
        server.run("stdio")
        return
    import uvicorn

    app = server.streamable_http_app(host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")


if __name__ == "__main__":
    main()
