"""Activities: every piece of I/O a chat does (LLM steps, stream records, restoring history).

Workflow code schedules them by the names in `agentchat.protocol.names` (re-exported here); the
implementations live on `ChatActivities`, which a worker builds with its Redis store, its
Temporal client and its agents.
"""

from __future__ import annotations

from agentchat.protocol.names import (
    CLOSE_CHATS,
    FLAG_STOP,
    LLM_STEP,
    OPEN_CHAT,
    PUBLISH,
    RUN_PRELOAD,
    TOOL_CALL,
    TURN_END,
    TURN_START,
)

__all__ = [
    "CLOSE_CHATS",
    "FLAG_STOP",
    "LLM_STEP",
    "OPEN_CHAT",
    "PUBLISH",
    "RUN_PRELOAD",
    "TOOL_CALL",
    "TURN_END",
    "TURN_START",
]
