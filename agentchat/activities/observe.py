"""Turn bookkeeping for metrics: which agent a chat runs, and how long its turns took.

Turn start and end records are written by different activities, often in different worker
processes (the first LLM step writes the start; the workflow's worker writes the end as a
local activity), and the end record's input names no agent. So a turn's duration comes from
the Redis entry ids of its start and end records (both stamped by the Redis server's clock,
so any worker can compute it), and its agent from what this worker saw of the chat.
"""

from __future__ import annotations

from collections import OrderedDict

from agentchat import metrics

__all__ = ["UNKNOWN", "TurnTracker"]

UNKNOWN = "unknown"


class TurnTracker:
    """Counts each turn's start once and labels turn ends with their chat's agent."""

    def __init__(self, agents: list[str], size: int = 10_000) -> None:
        # A worker serving one agent knows the agent of every chat it sees.
        self.default_agent = agents[0] if len(agents) == 1 else UNKNOWN
        self._agents: OrderedDict[str, str] = OrderedDict()
        self._size = size

    def saw_chat(self, chat_id: str, agent: str) -> None:
        """Remember the agent of a chat (from any activity input that names it)."""
        self._agents[chat_id] = agent
        self._agents.move_to_end(chat_id)
        while len(self._agents) > self._size:
            self._agents.popitem(last=False)

    def agent_of(self, chat_id: str) -> str:
        return self._agents.get(chat_id, self.default_agent)

    def started(self, chat_id: str, turn: int, agent: str | None, attempt: int) -> None:
        """A turn's start records are being written: count the turn on its first attempt only,
        so a retry, on this worker or another, does not count it again."""
        if not metrics.enabled():
            return
        if agent is not None:
            self.saw_chat(chat_id, agent)
        if attempt == 1:
            metrics.turn_started(agent or self.agent_of(chat_id))

    def finished(self, chat_id: str, status: str, start_id: str | None, end_id: str | None) -> None:
        """Count a turn's end, timed from its start record's entry id to its end record's."""
        if not metrics.enabled():
            return
        duration = (_ms(end_id) - _ms(start_id)) / 1000 if start_id and end_id else None
        metrics.turn_finished(self.agent_of(chat_id), status, duration)


def _ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])
