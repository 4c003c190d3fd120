"""MCP servers built with the official `mcp` package, run as processes by `tests/test_mcp.py`."""
