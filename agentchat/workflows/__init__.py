"""Deterministic workflow code. Nothing here does I/O: it all goes through activities."""

from agentchat.workflows.chat import ChatWorkflow, workflow_id_for

__all__ = ["ChatWorkflow", "workflow_id_for"]
