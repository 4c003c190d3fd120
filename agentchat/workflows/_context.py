"""The workflow's pure decisions about tokens: budgets, when to compact and where, titles.

Plain functions over the chat's state, with no Temporal (unit-tested without a server, like
`_inbox`). Token counts of what the workflow has not sent yet are estimated at four characters
a token; the provider's own count of the last prompt anchors the estimate (see
`next_prompt_tokens`), so only what changed since is guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentchat.protocol.contracts import AgentSpec, ChatState, TokenUsage
from agentchat.protocol.messages import UIMessage

__all__ = [
    "CHARS_PER_TOKEN",
    "Budget",
    "CompactionPlan",
    "WindowEstimate",
    "budget_exceeded",
    "budget_message",
    "chat_budget_spent",
    "estimate_prompt",
    "message_tokens",
    "next_prompt_tokens",
    "plan_compaction",
    "text_tokens",
    "title_source",
    "wants_title",
    "window_start",
]

CHARS_PER_TOKEN = 4
"""The usual rule of thumb for English text with OpenAI's and Anthropic's tokenizers."""
MESSAGE_OVERHEAD = 4
"""Tokens a message costs beyond its content (role, separators), as OpenAI documents."""
TITLE_SOURCE_CHARS = 4000
"""The first turn's text a title step is given at most."""


# -- estimation --------------------------------------------------------------------------------


def text_tokens(text: str) -> int:
    """Estimated tokens of `text`: its characters over `CHARS_PER_TOKEN`, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


def _part_chars(part: dict[str, Any]) -> int:
    kind = str(part.get("type", ""))
    if kind in ("text", "reasoning"):
        return len(str(part.get("text", "")))
    if kind == "dynamic-tool" or (kind.startswith("tool-") and "toolCallId" in part):
        chars = len(str(part.get("toolName") or kind)) + len(_json(part.get("input")))
        if "output" in part:
            chars += len(_json(part.get("output")))
        return chars + len(str(part.get("errorText") or ""))
    if kind == "data-steer":
        return len(str((part.get("data") or {}).get("text", "")))
    return 0  # step marks, compaction and other data parts are not sent to the model


def _json(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def message_tokens(message: UIMessage) -> int:
    """Estimated tokens `message` costs in a prompt."""
    chars = sum(_part_chars(p) for p in message.parts)
    return MESSAGE_OVERHEAD + -(-chars // CHARS_PER_TOKEN)


def estimate_prompt(
    messages: list[UIMessage], summary: str | None = None, extra: list[UIMessage] | None = None
) -> int:
    """Estimated tokens of a prompt of `messages` (and `extra`), after `summary` if any.

    Instructions and tool definitions are left out: they cost the same in every prompt, and
    `next_prompt_tokens` only ever uses differences of estimates.
    """
    total = sum(message_tokens(m) for m in messages)
    total += sum(message_tokens(m) for m in extra or ())
    if summary:
        total += text_tokens(summary)
    return total


def next_prompt_tokens(estimate: int, reported: int | None, reported_estimate: int) -> int:
    """The next prompt's tokens: the provider's count of the last prompt plus the estimated
    difference between the two (the estimate alone when no count was reported).

    Args:
        estimate: `estimate_prompt` of the next prompt.
        reported: The input tokens the provider reported for the last prompt, if any.
        reported_estimate: `estimate_prompt` of that last prompt.
    """
    if reported is None:
        return estimate
    return max(0, reported + estimate - reported_estimate)


# -- compaction --------------------------------------------------------------------------------


def window_start(state: ChatState) -> int:
    """The first transcript position sent to the model (0 until the chat is compacted)."""
    return state.compaction.upto if state.compaction is not None else 0


@dataclass(frozen=True)
class CompactionPlan:
    """Summarise `transcript[start:upto]` (after the previous summary); send from `upto` on."""

    start: int
    upto: int
    estimate: int
    """The next prompt's estimated tokens that made the plan."""


def plan_compaction(
    state: ChatState,
    spec: AgentSpec,
    *,
    extra: list[UIMessage] | None = None,
    prompt: int | None = None,
) -> CompactionPlan | None:
    """Whether the next step's prompt needs the window's start summarised, and up to where.

    The next prompt is the summary, the window `transcript[window_start:]` (the running turn
    included) and `extra` (steers joining at this step). When its estimate exceeds
    `threshold` of the context window, settled turns are summarised, keeping the newest
    `keep_turns` verbatim, or fewer when those alone would take more than half the threshold.
    The running turn is never summarised. None: no compaction (not needed, not configured, or
    nothing settled left to summarise). `prompt` is `estimate_prompt` of that next prompt when
    the caller keeps it (see `WindowEstimate`).
    """
    window, policy = spec.context_window, spec.compaction
    if not window or policy is None:
        return None
    start = window_start(state)
    if prompt is None:
        summary = state.compaction.summary if state.compaction is not None else None
        prompt = estimate_prompt(state.transcript[start:], summary, extra)
    estimate = next_prompt_tokens(prompt, state.prompt_tokens, state.prompt_estimate)
    limit = policy.threshold * window
    if estimate <= limit:
        return None
    settled = min(state.settled, len(state.transcript))
    starts = [i for i in range(start, settled) if state.transcript[i].role == "user"]
    keep = min(max(policy.keep_turns, 0), len(starts))
    while keep > 0:
        kept = estimate_prompt(state.transcript[starts[-keep] :], None, extra)
        if kept <= limit / 2:
            break
        keep -= 1
    upto = starts[-keep] if keep > 0 else settled
    if upto <= start:
        return None
    return CompactionPlan(start=start, upto=upto, estimate=estimate)


class WindowEstimate:
    """`estimate_prompt` of a chat's next prompt, with the settled part of the window kept
    between steps, so each step estimates only the running turn (not a deterministic-state
    matter: rebuilt from the transcript whenever the window moved or a run replays)."""

    def __init__(self) -> None:
        self._start = -1
        self._upto = 0
        self._tokens = 0

    def prompt(self, state: ChatState, extra: list[UIMessage] | None = None) -> int:
        start = window_start(state)
        settled = min(state.settled, len(state.transcript))
        if start != self._start or settled < self._upto:
            self._start, self._upto, self._tokens = start, start, 0
        self._tokens += sum(message_tokens(m) for m in state.transcript[self._upto : settled])
        self._upto = settled
        summary = state.compaction.summary if state.compaction is not None else None
        return self._tokens + estimate_prompt(state.transcript[settled:], summary, extra)


# -- budgets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """A token budget that was exceeded."""

    name: str
    """`max_tokens_per_turn` or `max_tokens_per_chat`."""
    limit: int
    used: int

    def details(self) -> dict[str, Any]:
        return {"name": self.name, "limit": self.limit, "used": self.used}


def budget_exceeded(spec: AgentSpec, turn: TokenUsage, chat: TokenUsage) -> Budget | None:
    """The budget a turn's steps went over so far (the turn's own first), if any."""
    per_turn, per_chat = spec.max_tokens_per_turn, spec.max_tokens_per_chat
    if per_turn is not None and turn.total_tokens > per_turn:
        return Budget("max_tokens_per_turn", per_turn, turn.total_tokens)
    if per_chat is not None and chat.total_tokens > per_chat:
        return Budget("max_tokens_per_chat", per_chat, chat.total_tokens)
    return None


def chat_budget_spent(spec: AgentSpec, chat: TokenUsage) -> Budget | None:
    """The chat's budget, when it has none left for another turn."""
    per_chat = spec.max_tokens_per_chat
    if per_chat is not None and chat.total_tokens >= per_chat:
        return Budget("max_tokens_per_chat", per_chat, chat.total_tokens)
    return None


def budget_message(budget: Budget, *, refused: bool = False) -> str:
    """The `error` chunk's text for a budget: which one, and the figures."""
    scope = "this turn" if budget.name == "max_tokens_per_turn" else "this chat"
    head = (
        "token budget spent: the chat takes no more turns"
        if refused
        else "token budget exceeded: the turn was ended"
    )
    return f"{head} ({scope} used {budget.used:,} tokens; {budget.name} is {budget.limit:,})"


# -- titles ------------------------------------------------------------------------------------


def wants_title(spec: AgentSpec, state: ChatState, status: str) -> bool:
    """A generated title is made once, after the chat's first turn that did not fail."""
    return spec.title and not state.titled and status != "failed"


def title_source(messages: list[UIMessage]) -> tuple[str, str]:
    """A turn's text for the title step, cut to `TITLE_SOURCE_CHARS`, and its user text."""
    lines: list[str] = []
    user_text = ""
    for message in messages:
        texts = [str(p.get("text", "")) for p in message.parts if p.get("type") == "text"]
        text = "".join(texts).strip()
        if message.role == "user" and not user_text:
            user_text = "".join(texts)
        if text:
            lines.append(f"{message.role.capitalize()}: {text}")
    return "\n\n".join(lines)[:TITLE_SOURCE_CHARS], user_text
