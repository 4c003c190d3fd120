"""Agents for worker subprocesses started by the tests (`--agents tests.agents:all`)."""

from __future__ import annotations

import os
from datetime import timedelta

from agentchat import Agent
from agentchat.models import OfflineModel

#: A long, slow, deterministic answer: a retried step reproduces it exactly.
slow = Agent(
    name="slow",
    model=OfflineModel(
        tokens_per_second=float(os.environ.get("SLOW_RATE", "25")), first_token_delay=0.0, words=80
    ),
    step_heartbeat=timedelta(seconds=2),
)
quick = Agent(name="quick", model=OfflineModel(tokens_per_second=0, first_token_delay=0.0))

all = [slow, quick]
