"""Activity names: the strings by which workflow code schedules the worker's activities.

They are recorded in every chat's history, so they never change; the implementations live on
`agentchat.activities.ChatActivities`.
"""

from __future__ import annotations

OPEN_CHAT = "agentchat.open_chat"
TURN_START = "agentchat.turn_start"
TURN_END = "agentchat.turn_end"
RUN_PRELOAD = "agentchat.run_preload"
LLM_STEP = "agentchat.llm_step"
FLAG_STOP = "agentchat.flag_stop"
TOOL_CALL = "agentchat.tool_call"
PUBLISH = "agentchat.publish"
CLOSE_CHATS = "agentchat.close_chats"
SAVE_TURN = "agentchat.save_turn"
DELETE_STEP = "agentchat.delete_step"
FIND_EXPIRED = "agentchat.find_expired"
COMPACT = "agentchat.compact"
TITLE = "agentchat.title"

__all__ = [
    "CLOSE_CHATS",
    "COMPACT",
    "DELETE_STEP",
    "FIND_EXPIRED",
    "FLAG_STOP",
    "LLM_STEP",
    "OPEN_CHAT",
    "PUBLISH",
    "RUN_PRELOAD",
    "SAVE_TURN",
    "TITLE",
    "TOOL_CALL",
    "TURN_END",
    "TURN_START",
]
