"""The model calls that manage a chat's context: compaction summaries and generated titles.

Each runs as its own activity, writes its progress to the chat's stream under a producer of
its own (fenced by attempt like an LLM step), and returns its result to the workflow, which
records it before moving on: a retried or crashed call never yields a second summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import orjson
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentchat import metrics
from agentchat.activities.transcripts import TranscriptCache
from agentchat.agent import Agent, Compaction, SummaryRequest
from agentchat.connections import get_store
from agentchat.models import Model, ModelRequest, ModelRequestError, StepFinish, TextDelta
from agentchat.models.base import _is_tool_part, _Retryable, _tool_result_text
from agentchat.protocol.contracts import (
    CompactInput,
    CompactResult,
    StreamMark,
    TitleInput,
    TitleResult,
    TokenUsage,
)
from agentchat.protocol.messages import UIMessage, user_message
from agentchat.settings import Settings
from agentchat.stream._store import StreamStore, StreamWriter

__all__ = ["clean_title", "render_for_summary", "run_compaction", "run_title"]

log = logging.getLogger("agentchat.activities")

HEARTBEAT_EVERY = 0.5
"""As an LLM step's (see `agentchat.activities.llm`): a killed worker's call moves on fast."""
PART_CHARS = 2000
"""A tool input or output is cut to this many characters in what the summariser reads."""
SUMMARY_SHARE = 0.5
"""Share of the context window one summariser call's conversation may take; a longer one is
summarised in pieces, each folding the summary so far."""
CHARS_PER_TOKEN = 4


# -- compaction --------------------------------------------------------------------------------


async def run_compaction(
    streams: StreamStore, agent: Agent, req: CompactInput, transcripts: TranscriptCache
) -> CompactResult:
    """Summarise the first `req.count` messages of the chat's window after `req.previous`."""
    window = transcripts.resolve(req)  # before writing anything: a miss is resent
    messages = window[: req.count]
    attempt = req.attempt_base + activity.info().attempt
    writer = StreamWriter(
        streams, req.chat_id, producer=req.producer, attempt=attempt, turn=req.turn
    )
    base = {"type": "data-compaction", "id": req.part_id}
    writer.chunk({**base, "data": {"status": "running", "messages": req.count}})
    writer.start()
    beat = asyncio.create_task(_heartbeat(), name="heartbeat")
    try:
        try:
            summary, usage = await _summarise(agent, req, messages)
        except Exception as exc:
            writer.chunk({**base, "data": {"status": "failed", "messages": req.count}})
            with contextlib.suppress(Exception):
                await writer.close()
            raise _failure(exc) from None
        data = {"status": "done", "messages": req.count, "upto": req.upto}
        writer.chunk({**base, "data": data})
        await writer.close()
    finally:
        beat.cancel()
    if writer.fenced:
        raise ApplicationError("a newer attempt of this compaction owns the stream")
    log.info("compacted %d messages into %d characters", req.count, len(summary))
    return CompactResult(
        summary=summary,
        part={**base, "data": data},
        usage=usage,
        stream=StreamMark(seq=writer.seq, attempt=writer.attempt),
    )


async def _summarise(
    agent: Agent, req: CompactInput, messages: list[UIMessage]
) -> tuple[str, TokenUsage]:
    policy = agent.compaction_policy() or Compaction()
    if policy.summarize is not None:
        request = SummaryRequest(req.chat_id, agent.name, req.previous, messages)
        text = await policy.summarize(request)
        return text.strip(), TokenUsage()
    model = agent.summary_model()
    usage = TokenUsage()
    summary = req.previous
    limit = max(int(req.context_window * SUMMARY_SHARE) * CHARS_PER_TOKEN, 1000)
    for piece in _pieces(render_for_summary(messages), limit):
        prompt = f"The conversation so far:\n\n{piece}"
        if summary:
            prompt = f"The summary of what came before:\n\n{summary}\n\n{prompt}"
        summary, used = await complete(model, agent.name, policy.instructions, prompt)
        usage.add(used)
    if not (summary or "").strip():
        raise ApplicationError(
            "the summariser answered with nothing", type="EmptySummary", non_retryable=True
        )
    return (summary or "").strip(), usage


def render_for_summary(messages: list[UIMessage]) -> list[str]:
    """The messages as plain text the summariser reads, one entry per message."""
    out: list[str] = []
    for message in messages:
        lines: list[str] = []
        for part in message.parts:
            kind = part.get("type")
            if kind == "text" and str(part.get("text", "")).strip():
                lines.append(str(part["text"]))
            elif kind == "data-steer":
                lines.append(f"(the user added) {(part.get('data') or {}).get('text', '')}")
            elif _is_tool_part(part):
                name = part.get("toolName") or str(kind)[5:]
                args = orjson.dumps(part.get("input")).decode()[:PART_CHARS]
                result = _tool_result_text(part)[:PART_CHARS]
                lines.append(f"[tool {name}({args}) -> {result}]")
        if lines:
            out.append(f"{message.role.capitalize()}: " + "\n".join(lines))
    return out


def _pieces(entries: list[str], limit: int) -> list[str]:
    """`entries` joined into pieces of at most ~`limit` characters (an entry is cut to fit)."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for entry in entries:
        entry = entry[:limit]
        if current and size + len(entry) > limit:
            pieces.append("\n\n".join(current))
            current, size = [], 0
        current.append(entry)
        size += len(entry) + 2
    if current:
        pieces.append("\n\n".join(current))
    return pieces


async def complete(
    model: Model, agent: str, instructions: str, prompt: str
) -> tuple[str, TokenUsage]:
    """One model call's whole text for `prompt` (a user message), and its usage."""
    request = ModelRequest(instructions, [user_message(prompt, "context")])
    text: list[str] = []
    finish = StepFinish()
    async for event in model.stream(request):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, StepFinish):
            finish = event
    metrics.tokens(
        agent,
        model.name,
        input=finish.input_tokens,
        output=finish.output_tokens,
        cached=finish.cached_tokens,
        reasoning=finish.reasoning_tokens,
    )
    reported = finish.input_tokens is not None or finish.output_tokens is not None
    usage = TokenUsage(
        input_tokens=finish.input_tokens or 0,
        output_tokens=finish.output_tokens or 0,
        cached_tokens=finish.cached_tokens or 0,
        reasoning_tokens=finish.reasoning_tokens or 0,
        calls=1 if reported else 0,
    )
    return "".join(text), usage


def _failure(exc: Exception) -> Exception:
    if isinstance(exc, ModelRequestError):
        return ApplicationError(str(exc), type="ModelRequestError", non_retryable=True)
    if isinstance(exc, _Retryable):
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
        return ApplicationError(exc.message, type="ModelUnavailable", next_retry_delay=delay)
    return exc


async def _heartbeat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_EVERY)


# -- titles ------------------------------------------------------------------------------------


def clean_title(text: str) -> str | None:
    """A model's answer as a title: its first line, unquoted, whitespace collapsed, cut short."""
    from agentchat.store import default_title

    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = line.strip().strip("\"'`*#").strip()
    if line.lower().startswith("title:"):
        line = line[6:].strip()
    if not line:
        return None
    return default_title(line, limit=80) or None


async def run_title(
    streams: StreamStore, agent: Agent, req: TitleInput, settings: Settings
) -> TitleResult:
    """Generate the chat's title, store it (unless the user renamed the chat), stream it."""
    from agentchat.store import default_title

    instructions = agent.title_instructions() or ""
    beat = asyncio.create_task(_heartbeat(), name="heartbeat")
    try:
        answer, usage = await complete(agent.resolved_model(), agent.name, instructions, req.text)
    except Exception as exc:
        raise _failure(exc) from None
    finally:
        beat.cancel()
    title = clean_title(answer)
    if title is None:
        return TitleResult(usage=usage)
    # Stored first: a reader that sees the chunk finds the title in `info()`.
    store = await get_store(settings, who="a worker")
    record = await store.get_chat(req.chat_id)
    automatic = default_title(req.user_text) if req.user_text.strip() else None
    if record is None or record.title not in (None, automatic):
        log.info("chat %s: renamed meanwhile; the generated title is not used", req.chat_id)
        return TitleResult(usage=usage)
    await store.update_chat(req.chat_id, title=title)
    writer = StreamWriter(
        streams,
        req.chat_id,
        producer=req.producer,
        attempt=activity.info().attempt,
        turn=req.turn,
    )
    writer.chunk({"type": "data-title", "data": {"title": title}, "transient": True})
    if not await writer.flush():
        raise ApplicationError("stream write failed; retrying")
    return TitleResult(
        title=title, usage=usage, stream=StreamMark(seq=writer.seq, attempt=writer.attempt)
    )
