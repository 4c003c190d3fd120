"""Turn bookkeeping for metrics: which agent a chat runs and when its turns started.

Turn start and end records are written by different activities, often in different worker
processes (the first LLM step writes the start; the workflow's worker writes the end as a
local activity), and the end record's input names no agent. So each worker remembers, for a
bounded number of chats, the agent and the start of the turns it saw begin; a turn that began
elsewhere gets its duration from the Redis entry ids of its start and end records (both
stamped by the Redis server's clock) and its agent from what this worker saw of the chat.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from agentchat import metrics

__all__ = ["UNKNOWN", "TurnTracker"]

UNKNOWN = "unknown"


class _Lru(OrderedDict[tuple[str, int] | str, object]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: tuple[str, int] | str, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class TurnTracker:
    """Counts turn starts once per worker and times turns from start to end."""

    def __init__(self, agents: list[str], size: int = 10_000) -> None:
        # A worker serving one agent knows the agent of every chat it sees.
        self.default_agent = agents[0] if len(agents) == 1 else UNKNOWN
        self._agents = _Lru(size)
        self._turns = _Lru(size)

    def saw_chat(self, chat_id: str, agent: str) -> None:
        """Remember the agent of a chat (from any activity input that names it)."""
        self._agents.put(chat_id, agent)

    def agent_of(self, chat_id: str) -> str:
        agent = self._agents.get(chat_id)
        return agent if isinstance(agent, str) else self.default_agent

    def started(self, chat_id: str, turn: int, agent: str | None, attempt: int) -> None:
        """A turn's start records are being written; count the turn on its first attempt.

        Retries of the same activity on this worker find the turn already known; a retry on
        another worker is not its first attempt. Either way the turn is counted once.
        """
        if not metrics.enabled():
            return
        if agent is not None:
            self.saw_chat(chat_id, agent)
        key = (chat_id, turn)
        if attempt != 1 or key in self._turns:
            # A later attempt on this worker did not see the start: the end record's entry
            # id against the start record's gives the duration instead.
            return
        self._turns.put(key, time.monotonic())
        metrics.turn_started(agent or self.agent_of(chat_id))

    def known(self, chat_id: str, turn: int) -> bool:
        return (chat_id, turn) in self._turns

    def finished(
        self,
        chat_id: str,
        turn: int,
        status: str,
        *,
        start_id: str | None = None,
        end_id: str | None = None,
    ) -> None:
        """Count a turn's end; duration from this worker's clock, else from the entry ids."""
        if not metrics.enabled():
            return
        began = self._turns.pop((chat_id, turn), None)
        duration: float | None = None
        if isinstance(began, float):
            duration = time.monotonic() - began
        elif start_id and end_id:
            duration = (_ms(end_id) - _ms(start_id)) / 1000
        metrics.turn_finished(self.agent_of(chat_id), status, duration)


def _ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])
