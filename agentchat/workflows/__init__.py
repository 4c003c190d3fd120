"""Deterministic workflow code. Nothing here does I/O: it all goes through activities.

`ChatWorkflow` and `workflow_id_for` are imported on first use, so the pure modules of this
package (`_inbox`) can be imported, and unit-tested, without loading `temporalio`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentchat.workflows.chat import ChatWorkflow, workflow_id_for
    from agentchat.workflows.delete import (
        DeleteChatWorkflow,
        RetentionWorkflow,
        delete_workflow_id,
    )

__all__ = [
    "ChatWorkflow",
    "DeleteChatWorkflow",
    "RetentionWorkflow",
    "delete_workflow_id",
    "workflow_id_for",
]
_HOMES = {
    "ChatWorkflow": "chat",
    "workflow_id_for": "chat",
    "DeleteChatWorkflow": "delete",
    "RetentionWorkflow": "delete",
    "delete_workflow_id": "delete",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"agentchat.workflows.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
