"""LLM providers behind one small interface; `resolve_model` turns a model string into one.

Model strings: `openai:<model>` (the official `openai` SDK, honouring `OPENAI_BASE_URL` and
`OPENAI_API_KEY`, so vLLM, Ollama and other compatible servers work), `anthropic:<model>` (the
official `anthropic` SDK, honouring `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY`; construct
`AnthropicModel` for extended thinking or another `max_tokens`) and `offline` or
`offline:<tokens per second>` (a deterministic model for demos and tests, no network).
"""

from __future__ import annotations

from agentchat.errors import ConfigurationError
from agentchat.models.base import (
    Model,
    ModelEvent,
    ModelRequest,
    ModelRequestError,
    ReasoningDelta,
    ReasoningEnd,
    StepFinish,
    TextDelta,
    to_chat_messages,
)
from agentchat.models.offline import OfflineModel

__all__ = [
    "Model",
    "ModelEvent",
    "ModelRequest",
    "ModelRequestError",
    "OfflineModel",
    "ReasoningDelta",
    "ReasoningEnd",
    "StepFinish",
    "TextDelta",
    "resolve_model",
    "to_chat_messages",
]


def resolve_model(model: str | Model) -> Model:
    """Return a `Model` for a model string, or `model` itself when it already is one."""
    if not isinstance(model, str):
        return model
    provider, _, name = model.partition(":")
    if provider == "offline":
        try:
            rate = float(name) if name else 40.0
        except ValueError:
            raise ConfigurationError(
                f"model {model!r}: 'offline:' takes a token rate in tokens per second"
            ) from None
        return OfflineModel(tokens_per_second=rate)
    if provider == "openai" and name:
        from agentchat.models.openai import OpenAIModel

        return OpenAIModel(name)
    if provider == "anthropic" and name:
        from agentchat.models.anthropic import AnthropicModel

        return AnthropicModel(name)
    raise ConfigurationError(
        f"unknown model string {model!r}: use 'openai:<model>', 'anthropic:<model>' or"
        " 'offline[:<tokens/s>]'"
    )
