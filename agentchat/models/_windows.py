"""Context windows of known models, for compaction's default (`Agent(context_window=...)`)."""

from __future__ import annotations

__all__ = ["context_window_for"]

_WINDOWS: dict[str, dict[str, int]] = {
    # Longest prefix wins, so dated and suffixed names (`gpt-4o-2024-08-06`) match their family.
    "openai": {
        "gpt-5": 400_000,
        "gpt-4.1": 1_047_576,
        "gpt-4o": 128_000,
        "gpt-4-turbo": 128_000,
        "gpt-4-32k": 32_768,
        "gpt-4": 8_192,
        "gpt-3.5-turbo": 16_385,
        "o1-mini": 128_000,
        "o1": 200_000,
        "o3": 200_000,
        "o4-mini": 200_000,
    },
    "anthropic": {
        "claude-": 200_000,  # every Claude model since 3 (1M only behind a beta header)
    },
}


def context_window_for(model: str) -> int | None:
    """The context window in tokens of a model string (`openai:gpt-4o`), None when unknown.

    Args:
        model: `provider:name` as `Agent(model=...)` takes it, or a `Model`'s `name`.
    """
    provider, _, name = model.partition(":")
    table = _WINDOWS.get(provider)
    if not table or not name:
        return None
    matches = [prefix for prefix in table if name.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None
