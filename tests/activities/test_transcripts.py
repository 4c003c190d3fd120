"""The worker-local transcript cache that keeps LLM step inputs flat as a chat grows."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from agentchat.activities.transcripts import TranscriptCache
from agentchat.protocol.contracts import StepInput
from agentchat.protocol.messages import UIMessage, fold_digest, user_message


def msgs(*texts: str) -> list[UIMessage]:
    return [user_message(t, f"m-{t}") for t in texts]


def step(**fields: object) -> StepInput:
    return StepInput(chat_id="c", agent="a", turn=1, step=1, message_id="x", **fields)


def test_delta_steps_rebuild_the_transcript_from_the_cache() -> None:
    cache = TranscriptCache()
    first = msgs("a", "b")
    d1 = fold_digest("", first)
    got = cache.resolve(step(transcript=msgs("now"), prefix_digest=d1, prefix_len=2, delta=first))
    assert [m.text() for m in got] == ["a", "b", "now"]
    more = msgs("c", "d")
    d2 = fold_digest(d1, more)
    got = cache.resolve(
        step(transcript=msgs("next"), prefix_digest=d2, prefix_len=4, base_digest=d1, delta=more)
    )
    assert [m.text() for m in got] == ["a", "b", "c", "d", "next"]
    # Same prefix again (a second step of the same turn): nothing new to send.
    got = cache.resolve(
        step(transcript=msgs("step2"), prefix_digest=d2, prefix_len=4, base_digest=d2)
    )
    assert [m.text() for m in got] == ["a", "b", "c", "d", "step2"]


def test_a_step_resolved_again_finds_its_prefix_cached() -> None:
    # A retried step (or one whose model request went out early) has the same input again:
    # its base is gone from the cache by then, replaced by the prefix it built.
    cache = TranscriptCache()
    first = msgs("a", "b")
    d1 = fold_digest("", first)
    cache.resolve(step(transcript=msgs("now"), prefix_digest=d1, prefix_len=2, delta=first))
    more = msgs("c")
    d2 = fold_digest(d1, more)
    again = step(
        transcript=msgs("next"), prefix_digest=d2, prefix_len=3, base_digest=d1, delta=more
    )
    assert [m.text() for m in cache.resolve(again)] == ["a", "b", "c", "next"]
    assert [m.text() for m in cache.resolve(again)] == ["a", "b", "c", "next"]


def test_a_miss_asks_for_the_full_transcript_and_a_resend_fills_the_cache() -> None:
    cache = TranscriptCache()
    prefix = msgs("a", "b")
    digest = fold_digest("", prefix)
    with pytest.raises(ApplicationError) as info:
        cache.resolve(
            step(transcript=msgs("t"), prefix_digest=digest, prefix_len=2, base_digest="unknown")
        )
    assert info.value.type == "TranscriptNotCached" and info.value.non_retryable
    full = prefix + msgs("t")
    assert (
        cache.resolve(step(transcript=full, prefix_digest=digest, prefix_len=2, full=True)) == full
    )
    got = cache.resolve(
        step(transcript=msgs("u"), prefix_digest=digest, prefix_len=2, base_digest=digest)
    )
    assert [m.text() for m in got] == ["a", "b", "u"]


def test_a_corrupt_delta_is_a_miss_not_a_wrong_answer() -> None:
    cache = TranscriptCache()
    good = msgs("a")
    with pytest.raises(ApplicationError):
        cache.resolve(
            step(
                transcript=[],
                prefix_digest=fold_digest("", good),
                prefix_len=1,
                delta=msgs("tampered"),
            )
        )


def test_the_cache_is_bounded() -> None:
    cache = TranscriptCache(max_chats=2)
    for chat in ("c1", "c2", "c3"):
        prefix = msgs(chat)
        cache.resolve(
            StepInput(
                chat_id=chat,
                agent="a",
                turn=1,
                step=1,
                message_id="x",
                transcript=[],
                prefix_digest=fold_digest("", prefix),
                prefix_len=1,
                delta=prefix,
            )
        )
    assert list(cache._entries) == ["c2", "c3"]
