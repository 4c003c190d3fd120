"""The `agentchat` command line."""

from agentchat.cli._main import main

__all__ = ["main"]
