"""The support agent, loaded from this folder.

    agentchat worker --agents examples.support.agent:support    # from the repository's root

It runs on the offline model unless AGENTCHAT_SUPPORT_MODEL names another (for example
`anthropic:claude-sonnet-4-5`); `protocol.yaml`'s own model is used when it is set to "".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentchat import Agent
from examples.support.tools import tools

__all__ = ["FOLDER", "load", "support"]

FOLDER = Path(__file__).resolve().parent


def load(**options: Any) -> Agent:
    """The agent of `protocol.yaml` with this folder's tools; `options` override the file."""
    return Agent.from_protocol(FOLDER, tools=tools, **options)


_model = os.environ.get("AGENTCHAT_SUPPORT_MODEL", "offline")
support = load(model=_model) if _model else load()
