"""The workflow's pure token decisions: estimates, compaction plans, budgets, titles."""

from __future__ import annotations

from agentchat.agent import Agent, Compaction
from agentchat.models._windows import context_window_for
from agentchat.protocol.contracts import (
    AgentSpec,
    ChatState,
    Compacted,
    CompactionSpec,
    StepResult,
    TokenUsage,
)
from agentchat.protocol.messages import UIMessage, user_message
from agentchat.workflows import _context


def said(text: str, n: int) -> UIMessage:
    return UIMessage(id=f"a{n}", role="assistant", parts=[{"type": "text", "text": text}])


def chat_of(turns: int, words: int = 40) -> ChatState:
    """A settled chat of `turns` turns, each ~`words` * 5 characters a message."""
    transcript: list[UIMessage] = []
    for n in range(turns):
        transcript.append(user_message("word " * words, f"u{n}"))
        transcript.append(said("reply " * words, n))
    return ChatState(
        chat_id="c", agent="a", transcript=transcript, settled=len(transcript), last_turn=turns
    )


def spec(window: int | None = 1000, keep: int = 2, **kwargs: int) -> AgentSpec:
    policy = CompactionSpec(keep_turns=keep) if window else None
    return AgentSpec(name="a", context_window=window, compaction=policy, **kwargs)


def test_text_and_message_estimates_count_four_characters_a_token() -> None:
    assert _context.text_tokens("") == 0
    assert _context.text_tokens("abcd") == 1
    assert _context.text_tokens("abcde") == 2
    message = user_message("x" * 40, "u")
    assert _context.message_tokens(message) == 10 + _context.MESSAGE_OVERHEAD
    tool = UIMessage(
        id="a",
        role="assistant",
        parts=[
            {"type": "step-start"},
            {
                "type": "tool-lookup",
                "toolCallId": "c1",
                "state": "output-available",
                "input": {"q": "abc"},
                "output": "x" * 30,
            },
            {"type": "data-compaction", "id": "k", "data": {"status": "done"}},
        ],
    )
    # The tool's name, input and output count; step marks and data parts do not.
    assert _context.message_tokens(tool) > _context.MESSAGE_OVERHEAD + 30 // 4


def test_the_next_prompt_is_the_reported_count_plus_what_changed() -> None:
    assert _context.next_prompt_tokens(500, None, 0) == 500
    # Reported 1,200 for a prompt we put at 1,000: instructions and tools cost ~200 more.
    assert _context.next_prompt_tokens(1100, 1200, 1000) == 1300
    # After a compaction the new prompt is estimated smaller than the last one.
    assert _context.next_prompt_tokens(300, 1200, 1000) == 500
    assert _context.next_prompt_tokens(0, 10, 1000) == 0


def test_no_plan_without_a_window_or_under_the_threshold() -> None:
    state = chat_of(10)
    assert _context.plan_compaction(state, spec(window=None)) is None
    assert _context.plan_compaction(state, spec(window=1_000_000)) is None
    no_policy = AgentSpec(name="a", context_window=100)
    assert _context.plan_compaction(state, no_policy) is None


def test_a_plan_summarises_settled_turns_and_keeps_the_newest_verbatim() -> None:
    state = chat_of(10)  # ~ 10 * 2 * (200 / 4 + 4) = 1,080 tokens
    state.transcript.append(user_message("next", "u10"))  # the running turn
    state.transcript.append(UIMessage(id="a10", role="assistant"))
    plan = _context.plan_compaction(state, spec(window=1000, keep=2))
    assert plan is not None
    assert plan.start == 0
    assert plan.upto == 16  # turns 9 and 10 (positions 16-19) stay, with the running turn
    assert state.transcript[plan.upto].role == "user"
    assert plan.estimate > 800


def test_a_plan_keeps_fewer_turns_when_the_newest_alone_are_too_big() -> None:
    state = chat_of(6, words=200)  # each message ~250 tokens
    plan = _context.plan_compaction(state, spec(window=1000, keep=4))
    assert plan is not None
    # Half the threshold (400 tokens) holds no whole turn: every settled turn is summarised.
    assert plan.upto == len(state.transcript)


def test_a_compacted_chat_is_estimated_from_its_window_and_summary() -> None:
    state = chat_of(10)
    state.compaction = Compacted(upto=16, summary="s" * 400, turn=9)
    plan = _context.plan_compaction(state, spec(window=1000, keep=2))
    assert plan is None  # the window (2 turns) and the summary fit
    state.compaction = Compacted(upto=16, summary="s" * 4000, turn=9)
    plan = _context.plan_compaction(state, spec(window=1000, keep=1))
    assert plan is not None and plan.start == 16 and plan.upto == 18
    # Nothing settled left to summarise beyond what is kept: no plan.
    plan = _context.plan_compaction(state, spec(window=1000, keep=2))
    assert plan is None


def test_the_reported_count_anchors_the_plan() -> None:
    state = chat_of(3)  # ~ 324 tokens by estimate
    assert _context.plan_compaction(state, spec(window=1000, keep=1)) is None
    state.prompt_tokens, state.prompt_estimate = 900, 300  # the provider counted far more
    plan = _context.plan_compaction(state, spec(window=1000, keep=1))
    assert plan is not None and plan.upto == 4


def test_budgets() -> None:
    limited = spec(max_tokens_per_turn=100, max_tokens_per_chat=1000)
    turn = TokenUsage(input_tokens=60, output_tokens=30)
    chat = TokenUsage(input_tokens=600, output_tokens=300)
    assert _context.budget_exceeded(limited, turn, chat) is None
    turn.add(TokenUsage(output_tokens=20))
    budget = _context.budget_exceeded(limited, turn, chat)
    assert budget == _context.Budget("max_tokens_per_turn", 100, 110)
    message = _context.budget_message(budget)
    assert "max_tokens_per_turn is 100" in message and "used 110 tokens" in message
    chat.add(TokenUsage(input_tokens=101))
    small_turn = TokenUsage(input_tokens=1)
    assert _context.budget_exceeded(limited, small_turn, chat) == _context.Budget(
        "max_tokens_per_chat", 1000, 1001
    )
    assert _context.chat_budget_spent(limited, TokenUsage(input_tokens=999)) is None
    spent = _context.chat_budget_spent(limited, TokenUsage(input_tokens=1000))
    assert spent is not None and "no more turns" in _context.budget_message(spent, refused=True)
    assert _context.budget_exceeded(spec(), turn, chat) is None


def test_usage_sums_and_speaks_the_ai_sdk_names() -> None:
    step = StepResult(input_tokens=10, output_tokens=5, cached_tokens=4, reasoning_tokens=2)
    total = TokenUsage()
    total.add(step.usage())
    total.add(step.usage())
    total.add(StepResult().usage())  # nothing reported: nothing counted
    assert total == TokenUsage(
        input_tokens=20, output_tokens=10, cached_tokens=8, reasoning_tokens=4, calls=2
    )
    wire = total.wire()
    assert wire == {
        "inputTokens": 20,
        "outputTokens": 10,
        "totalTokens": 30,
        "cachedInputTokens": 8,
        "reasoningTokens": 4,
        "modelCalls": 2,
    }
    back = TokenUsage.from_wire(wire)
    assert back == total
    assert TokenUsage.from_wire("nope") is None


def test_a_title_is_wanted_once_after_a_turn_that_did_not_fail() -> None:
    titled = AgentSpec(name="a", title=True)
    state = chat_of(1)
    assert _context.wants_title(titled, state, "completed")
    assert _context.wants_title(titled, state, "stopped")
    assert not _context.wants_title(titled, state, "failed")
    assert not _context.wants_title(AgentSpec(name="a"), state, "completed")
    state.titled = True
    assert not _context.wants_title(titled, state, "completed")
    text, user = _context.title_source(chat_of(1, words=2000).transcript)
    assert len(text) == _context.TITLE_SOURCE_CHARS and text.startswith("User: word")
    assert user.startswith("word ")


def test_known_models_have_a_context_window() -> None:
    assert context_window_for("openai:gpt-4o-mini-2024-07-18") == 128_000
    assert context_window_for("openai:gpt-4.1-nano") == 1_047_576
    assert context_window_for("openai:gpt-4") == 8_192
    assert context_window_for("anthropic:claude-sonnet-4-5") == 200_000
    assert context_window_for("openai:my-local-model") is None
    assert context_window_for("offline") is None
    agent = Agent(name="a", model="openai:gpt-4o")
    assert agent.spec().context_window == 128_000
    assert agent.spec().compaction == CompactionSpec()
    assert Agent(name="b").spec().compaction is None  # offline: no known window
    assert Agent(name="c", context_window=5000).spec().context_window == 5000
    off = Agent(name="d", model="openai:gpt-4o", compaction=False)
    assert off.spec().compaction is None
    tuned = Agent(name="e", context_window=9, compaction=Compaction(threshold=0.5, keep_turns=1))
    assert tuned.spec().compaction == CompactionSpec(threshold=0.5, keep_turns=1)
    assert Agent(name="f", title="Name it").spec().title


def test_the_window_estimate_adds_only_what_settled_since() -> None:
    state = chat_of(6)
    kept = _context.WindowEstimate()
    assert kept.prompt(state) == _context.estimate_prompt(state.transcript)
    state.transcript.append(user_message("more " * 30, "u6"))
    extra = [user_message("steer", "s")]
    assert kept.prompt(state, extra) == _context.estimate_prompt(state.transcript, None, extra)
    state.settled = len(state.transcript)
    assert kept.prompt(state) == _context.estimate_prompt(state.transcript)
    state.compaction = Compacted(upto=4, summary="s" * 40, turn=3)
    expected = _context.estimate_prompt(state.transcript[4:], "s" * 40)
    assert kept.prompt(state) == expected
    assert _context.plan_compaction(state, spec(window=100), prompt=expected) is not None
