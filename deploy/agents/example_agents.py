"""An agent of your own for the compose stack.

Files in this folder are mounted into the worker at /app/agents, which is on PYTHONPATH, so
`WORKER_AGENTS=example_agents:agents docker compose up -d worker` serves this module's
`agents`. Like the demo, it answers offline unless OPENAI_API_KEY or OPENAI_BASE_URL is set.
"""

from __future__ import annotations

from agentchat import Agent
from agentchat.demo import demo_model
from agentchat.tools import tool


@tool
async def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: The text to count.
    """
    return len(text.split())


counter = Agent(
    name="counter",
    model=demo_model(),
    instructions="You count words. Use word_count for any text the user gives you.",
    tools=[word_count],
)

agents = [counter]
