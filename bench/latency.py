"""Time to first token, stop latency and tool overhead: agentchat vs the direct SDK.

Each round runs, interleaved so a noisy machine hurts both alike: the `openai` SDK streaming
straight from the loopback model server (the physical limit: no durability; one client kept
across rounds, on the aiohttp transport the worker uses), `AgentChat` on a
follow-up message, and `AgentChat` on a brand-new chat. The echo they get arrives whole at once,
so the step ends before any coalescing could hold its first token: a second pair, the direct SDK
and a follow-up, gets an answer streamed at a fixed rate (`PACED_TOKENS` at `PACED_RATE` a
second), as a model does. Then stop latency: `stop()` during a long answer until the stream has
ended. The model server streams with no think time, so every millisecond above the direct
figure is ours.

Starts its own Temporal dev server and Redis unless AGENTCHAT_TEMPORAL_ADDRESS and
AGENTCHAT_REDIS_URL are set. The worker runs in its own process, as in production.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from agentchat import AgentChat, Settings
from agentchat.testing import FakeAnthropicServer, FakeOpenAIServer, FakeToolCall
from agentchat.testing.local import free_port
from bench.harness import Harness, direct_client, summary

ROOT = Path(__file__).resolve().parent.parent
PACED_TOKENS = 10
PACED_RATE = 50.0
"""The paced rows' answer: tokens, and tokens per second (the first one with no think time)."""
THROUGHPUT_TOKENS = 2000
"""The Anthropic rows' long answer, streamed as fast as the server writes it."""


async def direct_ttft(client: Any) -> float:
    """One request on `client`, kept across rounds as the worker keeps its own."""
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model="direct", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    first = None
    async for event in stream:
        if first is None and event.choices and event.choices[0].delta.content:
            first = time.perf_counter() - started
    assert first is not None
    return first


async def chat_ttft(chat: AgentChat, text: str) -> float:
    started = time.perf_counter()
    stream = await chat.send_message(text)
    first = None
    async for chunk in stream:
        if first is None and chunk.type == "text-delta":
            first = time.perf_counter() - started
    assert first is not None
    return first


async def paced_ttft(
    direct_sdk: Any, chat: AgentChat, server: FakeOpenAIServer, i: int
) -> tuple[float, float]:
    """(direct SDK, AgentChat follow-up) time to first token of an answer streamed at
    `PACED_RATE` tokens a second: the answer outlasts the writer's coalescing interval."""
    server.token_delay = 1.0 / PACED_RATE
    server.reply = lambda messages: [f"w{n} " for n in range(PACED_TOKENS)]
    try:
        return await direct_ttft(direct_sdk), await chat_ttft(chat, f"paced {i}")
    finally:
        server.token_delay = 0.0
        server.reply = lambda messages: "Echo: " + str(messages[-1]["content"])


async def stop_latency(chat: AgentChat, server: FakeOpenAIServer) -> float:
    server.token_delay = 0.01
    server.reply = lambda messages: " ".join(["token"] * 2000)
    stream = await chat.send_message("talk")
    stopped_at = 0.0
    async for chunk in stream:
        if chunk.type == "text-delta" and not stopped_at:
            stopped_at = time.perf_counter()
            await chat.stop()
    ended = time.perf_counter() - stopped_at
    server.token_delay = 0.0
    server.reply = lambda messages: "Echo: " + str(messages[-1]["content"])
    return ended


async def tool_overhead(chat: AgentChat, server: FakeOpenAIServer) -> tuple[float, float]:
    """(tool-input-available -> tool-output-available, tool output -> next step's first token)."""
    server.reply = lambda messages: (
        [FakeToolCall("noop", "{}")] if messages[-1]["role"] == "user" else "done"
    )
    marks: dict[str, float] = {}
    async for chunk in await chat.send_message("use the tool"):
        now = time.perf_counter()
        if chunk.type == "tool-input-available":
            marks["input"] = now
        elif chunk.type == "tool-output-available":
            marks["output"] = now
        elif chunk.type == "text-delta" and "text" not in marks:
            marks["text"] = now
    server.reply = lambda messages: "Echo: " + str(messages[-1]["content"])
    return marks["output"] - marks["input"], marks["text"] - marks["output"]


async def run(rounds: int, settings: Settings, model_port: int) -> dict[str, Any]:
    server = await FakeOpenAIServer(port=model_port).start()
    direct_sdk = direct_client(server.base_url)
    try:
        chat = AgentChat(agent="bench", settings=settings)
        await chat_ttft(chat, "warm up")  # first contact: connections, worker caches
        await direct_ttft(direct_sdk)
        tools_chat = AgentChat(agent="bench-tools", settings=settings)
        await tool_overhead(tools_chat, server)
        direct, follow_up, new_chat, stops = [], [], [], []
        paced_direct, paced_follow_up = [], []
        tool_calls, after_tool = [], []
        for i in range(rounds):
            direct.append(await direct_ttft(direct_sdk))
            follow_up.append(await chat_ttft(chat, f"follow-up {i}"))
            fresh = AgentChat(agent="bench", id=f"new-{uuid.uuid4().hex}", settings=settings)
            new_chat.append(await chat_ttft(fresh, "hello"))
            paced = await paced_ttft(direct_sdk, chat, server, i)
            paced_direct.append(paced[0])
            paced_follow_up.append(paced[1])
            stops.append(await stop_latency(chat, server))
            call, resume = await tool_overhead(tools_chat, server)
            tool_calls.append(call)
            after_tool.append(resume)
    finally:
        await direct_sdk.close()
        await server.stop()
    base = statistics.median(direct)
    paced_base = statistics.median(paced_direct)
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "rounds": rounds,
        "direct_ttft": summary(direct),
        "followup_ttft": summary(follow_up),
        "new_chat_ttft": summary(new_chat),
        "paced": {"tokens": PACED_TOKENS, "rate": PACED_RATE},
        "paced_direct_ttft": summary(paced_direct),
        "paced_followup_ttft": summary(paced_follow_up),
        "added_p50_ms": {
            "followup": (statistics.median(follow_up) - base) * 1000,
            "new_chat": (statistics.median(new_chat) - base) * 1000,
            "paced_followup": (statistics.median(paced_follow_up) - paced_base) * 1000,
        },
        "stop_to_stream_end": summary(stops),
        "tool_call": summary(tool_calls),
        "tool_output_to_next_token": summary(after_tool),
    }


def report(results: dict[str, Any]) -> str:
    base = results["direct_ttft"]["p50_ms"]
    rows: list[tuple[str, dict[str, float], float | None]] = [
        ("TTFT, direct openai SDK (baseline)", results["direct_ttft"], base),
        ("TTFT, AgentChat follow-up message", results["followup_ttft"], base),
        ("TTFT, AgentChat new chat", results["new_chat_ttft"], base),
    ]
    paced = results.get("paced")  # absent from results recorded before the paced rows
    if paced is not None:
        how = f"{paced['tokens']} tokens at {paced['rate']:g}/s"
        paced_base = results["paced_direct_ttft"]["p50_ms"]
        rows += [
            (f"TTFT, direct SDK, {how} (baseline)", results["paced_direct_ttft"], paced_base),
            (f"TTFT, AgentChat follow-up, {how}", results["paced_followup_ttft"], paced_base),
        ]
    rows += [
        ("stop() until the stream has ended", results["stop_to_stream_end"], None),
        ("tool call: input available -> output (no-op tool)", results["tool_call"], None),
        ("tool output -> next step's first token", results["tool_output_to_next_token"], None),
    ]
    lines = [
        "| measure | n | p50 ms | p95 ms | p99 ms | p50 / baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, row, against in rows:
        versus = f"{row['p50_ms'] / against:.1f}x" if against else ""
        lines.append(
            f"| {name} | {row['n']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} |"
            f" {row['p99_ms']:.1f} | {versus} |"
        )
    added = results["added_p50_ms"]
    paced_added = (
        f", follow-up streamed at a fixed rate {added['paced_followup']:.1f} ms"
        if "paced_followup" in added
        else ""
    )
    lines.append("")
    lines.append(
        f"Added by agentchat at p50: follow-up {added['followup']:.1f} ms,"
        f" new chat {added['new_chat']:.1f} ms{paced_added}."
    )
    if "anthropic" in results:  # absent from results recorded before the Anthropic rows
        lines += ["", "`anthropic:` on a loopback Anthropic server:", ""]
        lines.append(report_anthropic(results["anthropic"]))
    return "\n".join(lines)


NOTES = """\
## Reading the figures

- The model server streams with no think time, so the direct SDK row is pure client and HTTP
  cost, and every millisecond above it is what durability adds: an update through Temporal,
  a workflow task, an eagerly dispatched
  activity, the model request, a Lua append to Redis, and the blocked `XREAD` waking up.
- "New chat" adds starting a workflow run and looking for an earlier run of the same chat id
  (a visibility query) so a reopened conversation keeps its history.
- "stop()" runs from the call until the stream has delivered its `abort`: the Redis stop flag
  is seen at the step's next flush, the step hands back its partial answer, and the workflow
  writes the turn's end.
- Rounds run back to back without pauses. The dev server has one history shard, and a shard
  reads its task queues at most 20 times a second by default
  (`history.transferProcessorMaxPollRPS`): under such steady load every workflow task waited
  up to 50 ms in history before a worker could take it (a 4 s pause refilled the rate limiter,
  which is how it hid). `agentchat dev`, the tests and this benchmark raise it to 1000/s
  (`agentchat.testing.local.DEV_SERVER_TUNING`); the compose stack's dynamic config does the same.
- The worker sends the conversation to the model in the SDK's `extra_body`: the `openai` SDK's
  type-driven walk over `messages` cost ~60% of a worker's CPU on a 400-message chat, and it
  grows with every turn (profiled with `py-spy record -p <worker pid>`).
- Many chats share each Redis round trip: a worker's running steps send what they queued in one
  script call (`agentchat.stream._multiplex.AppendBatcher`), and the blocked readers of a
  process share one `XREAD BLOCK` over all their streams (`ReadMux`). At 100 chats the
  worker's CPU per 1,000 tokens went from 0.37 to 0.32 s and the p99 delivery delay from 162
  to 94 ms; the gateway's replay from 22,000 to 30,000-38,000 events/s (two full runs). Its resume,
  measured back to back, went from 15 to 22 ms: the previous resume's stream, which the client
  closed after one event, still sends the rest of its turn to the closed socket until the
  gateway notices, and does so faster now (with 0.3 s between resumes: 17.6 ms).
- One worker process streams on one event loop, and the Temporal SDK hands it one task per
  turn of that loop. Before admission control (`agentchat.worker._admission`), a burst of chats took
  on every step at once and ran workflow tasks on up to 500 threads contending for the GIL:
  the loop fell seconds behind, steps started at the server reached the worker late, missed
  their heartbeat deadline and ran twice, and 1,000 chats at once completed 13%.
- What a token costs the worker, traced per token at 300 chats (model stamp to worker
  receipt, to the append's start, to its reply): the HTTP read through the SDK's default
  httpx stack took half of it (0.15 s of CPU per 1,000 tokens read over 140 streams; 0.07 s
  through the SDK's aiohttp transport, which the `openai` extra now brings); a chat's next
  append waited a full 20 ms after the previous one returned (now 20 ms after it began); and
  the one script call in flight held every other chat's tokens for its round trip (now two
  may be out). Delivery p50 at 300 chats went from 42-54 to 19-24 ms.
- Temporal's workflow sandbox runs code inside the sandbox for every payload of every
  activation, on the worker's event loop: 40% of the worker's time per update (py-spy,
  a loop of updates). Workers run workflows unsandboxed; the test suite and the replay tests
  run them in the full sandbox, which fails on any restricted call. Per follow-up, send to
  activity start went from 17-19 to 15 ms.
- The direct SDK row keeps one client across rounds, on the aiohttp transport the worker
  uses, as the worker keeps its own: 2.3 ms at p50, where a new default client per round
  took 4-4.5 ms. The figures added by agentchat are measured against the faster one.
- A step retries on the openai SDK's own timing (first after 0.5 s, at most 8 s apart) rather
  than Temporal's default 1 s: after a crash, the step's heartbeat timeout and that first
  backoff are most of the recovery.
- Python's full garbage collections stop the worker's loop for as long as they walk its heap
  (timed with `gc.callbacks`). They walked everything the worker had loaded, up to 170 ms;
  the worker now freezes what startup loaded (`gc.freeze()`), including the models' SDKs,
  which it makes before serving (the openai SDK used to load with the first chat: 900
  modules; after 100 chats a full pass walked 90,000 objects with it, 40,000 without). What
  is left is the chats: every cached workflow is some 350 objects, and at 300 chats a full
  pass came every 8 to 20 s and took 50 to 200 ms. In a paced 300-chat row, all 130 tokens
  delayed past 100 ms arrived in the quarter second of such a pass (tokens binned by arrival).
  A worker now makes a full pass after 100 middle-generation ones rather than 10
  (`GC_THRESHOLDS`): one in four minutes of concurrency rows (290 ms, in a 1,000-chat row),
  and paced 300-chat p99 47-62 ms where it was 53-112 ms (single rows). Garbage in cycles
  waits that much longer: after the idle benchmark's 10,000 chats the worker held 364 MB
  (258 MB before). With 300 chats sent at once, the tail is a 1-2 s stretch while the worker
  is still taking chats on, not a collection.
- Workflow tasks run on 2 threads: with 4, a burst of new chats took more of the GIL from
  the loop that streams (300 chats at once, p99 190 vs 105-140 ms, measured while workflows
  still ran sandboxed; without the sandbox, 2 and 4 were within the noise of a few runs).
  Chats then wait longer to be accepted, which the resent column counts.
- Where a follow-up's time went, stamped per activation in the worker (around the SDK's bridge
  calls) and per RPC in the client, 40 follow-ups: the client spent ~1.3 ms before its update
  left (the stream's end from Redis, the request); Temporal took ~5 ms to hand the update to
  the worker (its own metrics: matching 1.4 ms, recording the task's start 0.7 ms, reading
  history 0.4 ms); workflow code 1.3-2 ms; the task's completion, with the step handed back
  on it, 3.4-4.4 ms; then the model request, the first append and the reader's wake-up. Two
  changes came of it. A plain update of a chat seen running costs Temporal ~0.5 ms less than
  update-with-start (11.0 vs 11.5 ms for a trivial update, 150 of each, interleaved), so a
  client that has seen the chat's run sends one. And the worker sends a step's model request
  while the completion is in flight (`agentchat.activities.prefetch`): with two workers in one
  run, one of them prefetching, 100 interleaved rounds twice, follow-up TTFT added went from
  16.5 and 17.0 to 14.9 and 15.2 ms, new chat from 26.0 and 26.9 to 25.1 and 25.4 ms. With
  the model on another host the whole completion overlaps the model's own time to first
  token; here the model server shares the bench's process and both share 2 cores.
- Readers used to finish some turns from the transcript under a burst, 5-7 s after the last
  token with no chunk for what streamed meanwhile (logged as "ended without its end in the
  stream"; 26 to 124 chats per 300- or 1,000-chat row). A reader silent for 5 s asks the
  workflow whether its turn ended elsewhere (lost with Redis, say), and it used to wait for
  the answer instead of reading: under a burst the worker answered seconds late, the turn
  streamed and ended meanwhile, and the answer "ended" sent the reader to the transcript. It
  now asks in the background, reads on, and asks less often each time (one status query when
  the answer is no, where it made three calls). Every reader now gets every chunk. The
  300-chat rows improved with it: paced, first token p50 0.3-2.8 s (7.2 s in the last run)
  and p99 48-83 ms, as the worker's workflow-task slots no longer answer 300 readers'
  queries every 5 s. At once, p99 73.9-192.3 ms in nine rows, median 94.2 (77.0-149.9,
  median ~98, in fourteen before, when the tokens of readers sent to the transcript were not
  counted). Above 100 ms, two things show: the worker took on 175-180 chats at the peak
  (its own share of the delay p50 35-45 ms there), and messages resent after
  `accept_timeout` read their turn from its start, seconds after it streamed (next point).
- Under 300 chats at once a new chat's first workflow task waits up to 15 s in Temporal's
  queue (the "resent" column): the worker's 2 workflow-task slots take new chats at 20-35 a
  second while it streams. With 8 or 16 slots no message was resent, but the extra tasks took
  the loop from streaming (p99 114-173 ms at once, 118 paced). Looking up earlier runs of
  chats in one visibility query per burst instead of one each (300 at once hit the dev
  server's rate limit, and waited up to 3.6 s in the SDK's retries) made no difference at 2
  slots, where at most 2 lookups overlap, so it was not kept.
- A model that streams its first token at once lost ~15 ms to the writer: the step that opens
  a turn writes the turn's `start` the moment it begins, and that append started the 20 ms
  coalescing interval as content does, so the first token, arriving meanwhile, waited it out.
  The echo rows hid it: their whole answer arrives at once, and the step's end flushes it at
  once. The "10 tokens at 50/s" rows stream a fixed-rate answer with no think time, each with
  its direct SDK baseline of the same run. Now only content starts the interval; a step's
  opening (the turn's `start`, an injected steer, `start-step`) goes out without one
  (`agentchat.stream._writer`). Two interleaved runs each of
  `python -m bench --only latency --out /tmp/bench-latency` (30 rounds; the machine was
  shared with other jobs, so every row is slower than in the table above): follow-up at
  50 tokens/s p50 43.1 and 40.4 ms before (39.2 and 37.5 ms added), 20.3 and 23.9 ms after
  (17.2 and 21.1 ms added), where the echo follow-up took 28.3 and 24.5 ms before, 24.4 and
  29.1 ms after.
- The `anthropic:` rows run a worker agent on `anthropic:bench-model` against
  `FakeAnthropicServer` in the benchmark's process, and the direct `anthropic` SDK (one client
  across rounds, on the aiohttp transport the worker uses, iterating the SDK's typed events)
  against the same server; each round also runs an `openai:` direct/follow-up pair, so both
  added figures come from the same minutes of the machine. Throughput is a 2,000-token answer
  written as fast as the server can, from the first text to the stream's end: the direct SDK
  builds a pydantic event per delta, the worker reads the events as JSON and coalesces them into
  ~20 ms appends, so the reader of AgentChat counts more tokens a second than the direct SDK
  does. One run (30 rounds, a shared 2-core machine): `anthropic:` follow-up added 15.1 ms at
  p50, the interleaved `openai:` follow-ups 12.5 ms. Most of the 2.6 ms between them was the
  order of each round: the `anthropic:` follow-up always came right after the previous round's
  2,000-token turn, whose tail (the turn's end in the workflow and the worker) it met. Rounds
  alternating which pair goes first (120 rounds, one worker, old code): following the long
  turn cost whichever row did so 2.2-2.7 ms at p50 (gap 2.9-3.0 ms with `anthropic:` first,
  -1.5 to -2.5 ms with `openai:` first; 0.9-1.6 ms both ways without the long turns). The pairs
  now take turns going first and the throughput rounds run after them. What is left is
  `anthropic:`'s own (stamped in the worker and the server, 60 rounds, p50): the fake server
  takes 0.3 ms longer to answer (it validates the request and hashes the prompt's prefixes for
  its cache, 0.44 vs 0.13 ms), the first text is the fourth event where OpenAI's is the second,
  and `anthropic` 2 copies every request body in Python before sending it (`extra_body`
  included: 130 us at 16 turns, 190 us at 30); left as it is (avoiding it would lean on the
  SDK's private modules). Its events are now split from the raw bytes rather than the SDK's
  text lines (client CPU per token of a 2,000-token answer 6.0 -> 5.5 us). Four runs of
  `python -m bench --only latency` after the change, p50 added: `anthropic:` 18.0, 14.7, 15.1,
  16.3 ms; the interleaved `openai:` 16.7, 14.1, 13.1, 15.9 ms; the gap 1.3, 0.6, 2.0, 0.4 ms
  (median 1.0 ms; before: 2.3-4.3 ms over five runs, median 2.7 ms). The new order with the
  old client code gave 0.5 ms twice: the client's own gain, ~0.1 ms a step by the worker's
  stamps, is below what these rows resolve.
- Repeated crashes (`bench/recovery.py`): 4 chats stream 100 turns of 80 words at 40/s while
  one of 2 worker processes is SIGKILLed every 3 s, each in turn, and a new one started at
  once; every reader's text is checked against the transcript, and each silence is split into
  phases from Temporal's own timestamps. Two runs each, before and after, of
  `python -m bench --only crashes --crash-bytecode --out /tmp/bench-crashes` (workers start
  from a bytecode cache, as the Docker image's do): longest silence per turn p50 6.5 and
  5.2 s before, 4.2 and 4.2 s after; p99 13.2 and 10.2 s, 6.2 and 10.0 s; max 13.2 and
  10.2 s, 10.2 and 12.2 s; a recovery (a gap with a kill in it) p50 4.0 and 4.3 s, 3.3 and
  3.1 s, mean 5.2-5.3 s, 3.6 s; nothing lost, doubled or truncated, 1 turn failed before (one
  step killed on all 5 attempts), none after. Of a recovery, on average: the heartbeat
  timeout took 2.3-2.4 s of it before and 1.6 s after (`Agent.step_heartbeat` 3 s → 2 s,
  heartbeats sent every 1.5 s → 1 s; Temporal fires the timeout ~0.5 s late), the retry
  0.7-0.8 s and 0.7 s (0.5 s of backoff → 0.1 s, but Temporal fires a timer set less than
  ~1 s ahead up to ~1 s late, `history.timerProcessorMaxTimeShift`), the dead worker's sticky
  queue 1.4-1.6 s and 0.8-0.9 s (3 s → 2 s; at 1 s, 300 chats sent at once timed out 60%
  more sticky tasks). Without `--crash-bytecode` this machine compiles every module at each
  worker start (`PYTHONDONTWRITEBYTECODE`), and the SDK's default build id compiled them all
  again: workers took 4-7 s to start, no worker was up for 392 of 747 s, the per-turn p50 /
  p99 / max was 8.9 / 50.3 / 52.5 s and 45 turns failed; with a build id of the workflow
  code's digest (2.3 s to start, 1.0 s from a bytecode cache) no worker was missing, 3.5 /
  10.2 / 16.1 s, 2 failed. What is left above 10 s is Temporal's workflow task timeout: a
  worker killed while it runs a chat's workflow task (a turn's end, a replay) holds the chat
  10 s, the default the client leaves at start. One run with the dev server's default at 3 s
  (`history.defaultWorkflowTaskTimeout`): p50 / p99 / max 3.9 / 9.1 / 9.3 s.
"""


# -- anthropic: ------------------------------------------------------------------------------


def anthropic_client(base_url: str) -> Any:
    """The baseline's `anthropic` client: the SDK on the transport the worker uses (aiohttp)."""
    import anthropic

    from agentchat.models._http import aiohttp_client

    return anthropic.AsyncAnthropic(
        base_url=base_url, api_key="x", max_retries=0, http_client=aiohttp_client(anthropic)
    )


async def anthropic_direct(client: Any) -> tuple[float, float, int]:
    """(time to first text, time to the last, text deltas) of one streamed message."""
    started = time.perf_counter()
    stream = await client.messages.create(
        model="direct",
        max_tokens=8192,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    )
    first = None
    deltas = 0
    async for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            deltas += 1
            if first is None:
                first = time.perf_counter() - started
    assert first is not None
    return first, time.perf_counter() - started, deltas


async def chat_stream(chat: AgentChat, text: str) -> tuple[float, float, str]:
    """(time to first text, time to the stream's end, the answer) of one AgentChat turn."""
    started = time.perf_counter()
    stream = await chat.send_message(text)
    first = None
    async for chunk in stream:
        if first is None and chunk.type == "text-delta":
            first = time.perf_counter() - started
    assert first is not None
    return first, time.perf_counter() - started, await stream.text()


def _rate(tokens: int, first: float, last: float) -> float:
    return tokens / (last - first) if last > first else 0.0


async def run_anthropic(
    rounds: int, settings: Settings, server: FakeAnthropicServer, openai_url: str
) -> Any:
    """TTFT and throughput of `anthropic:` through AgentChat against the direct SDK, on one
    loopback server speaking Anthropic's protocol, interleaved round by round with the same
    pair for `openai:` (a chat of its own), so the two added figures meet the same machine.

    The two pairs take turns going first, and the throughput rounds run after them: a
    follow-up sent right after a 2,000-token turn meets that turn's tail in the worker
    (1-3 ms at p50), and one row alone must not always be the one to meet it."""
    echo = lambda messages: "Echo: hi"  # noqa: E731 - the same short answer for both
    long = lambda messages: [f"w{n} " for n in range(THROUGHPUT_TOKENS)]  # noqa: E731
    direct_sdk = anthropic_client(server.base_url)
    openai_sdk = direct_client(openai_url)
    chat = AgentChat(agent="bench-claude", settings=settings)
    openai_chat = AgentChat(agent="bench", settings=settings)
    direct, follow_up, direct_rate, chat_rate = [], [], [], []
    openai_direct, openai_follow_up = [], []

    async def anthropic_pair(i: int) -> None:
        direct.append((await anthropic_direct(direct_sdk))[0])
        follow_up.append((await chat_stream(chat, f"follow-up {i}"))[0])

    async def openai_pair(i: int) -> None:
        openai_direct.append(await direct_ttft(openai_sdk))
        openai_follow_up.append((await chat_stream(openai_chat, f"follow-up {i}"))[0])

    try:
        server.reply = echo
        await anthropic_direct(direct_sdk)
        await chat_stream(chat, "warm up")
        await chat_stream(openai_chat, "warm up")
        for i in range(rounds):
            pairs = (anthropic_pair, openai_pair) if i % 2 == 0 else (openai_pair, anthropic_pair)
            for pair in pairs:
                await pair(i)
        server.reply = long
        for _ in range(rounds):
            first, last, deltas = await anthropic_direct(direct_sdk)
            direct_rate.append(_rate(deltas, first, last))
            # A chat of its own: the long answers would grow the follow-ups' prompt.
            fresh = AgentChat(
                agent="bench-claude", id=f"long-{uuid.uuid4().hex}", settings=settings
            )
            first, last, answer = await chat_stream(fresh, "talk")
            chat_rate.append(_rate(len(answer.split()), first, last))
    finally:
        await direct_sdk.close()
        await openai_sdk.close()
    return {
        "direct_ttft": summary(direct),
        "chat_ttft": summary(follow_up),
        "added_p50_ms": (statistics.median(follow_up) - statistics.median(direct)) * 1000,
        "openai_added_p50_ms": (
            statistics.median(openai_follow_up) - statistics.median(openai_direct)
        )
        * 1000,
        "throughput_tokens": THROUGHPUT_TOKENS,
        "direct_tokens_per_s": statistics.median(direct_rate),
        "chat_tokens_per_s": statistics.median(chat_rate),
    }


def report_anthropic(results: dict[str, Any]) -> str:
    base = results["direct_ttft"]["p50_ms"]
    lines = [
        "| measure | n | p50 ms | p95 ms | p99 ms | p50 / baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in (
        ("TTFT, direct anthropic SDK (baseline)", results["direct_ttft"]),
        ("TTFT, AgentChat `anthropic:` follow-up message", results["chat_ttft"]),
    ):
        lines.append(
            f"| {name} | {row['n']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} |"
            f" {row['p99_ms']:.1f} | {row['p50_ms'] / base:.1f}x |"
        )
    lines += [
        "",
        f"Added by agentchat at p50: {results['added_p50_ms']:.1f} ms (`openai:` follow-ups"
        f" interleaved with these: {results.get('openai_added_p50_ms', float('nan')):.1f} ms)."
        " Throughput of a"
        f" {results['throughput_tokens']:,}-token answer: direct SDK"
        f" {results['direct_tokens_per_s']:,.0f} tokens/s, AgentChat"
        f" {results['chat_tokens_per_s']:,.0f} tokens/s (median per round).",
    ]
    return "\n".join(lines)


async def run_latency(harness: Harness, rounds: int) -> dict[str, Any]:
    """TTFT, stop and tool overhead against an in-process model server with scripted replies."""
    port = free_port()
    settings = harness.settings.with_overrides(task_queue=harness.settings.task_queue + "-latency")
    claude = await FakeAnthropicServer(record=False).start()
    worker = harness.start_worker(
        f"http://127.0.0.1:{port}/v1",
        settings.task_queue,
        extra_env={"ANTHROPIC_BASE_URL": claude.base_url, "ANTHROPIC_API_KEY": "unused"},
    )
    try:
        results = await run(rounds, settings, port)
        server = await FakeOpenAIServer(port=port).start()  # `run` stopped its own
        try:
            results["anthropic"] = await run_anthropic(rounds, settings, claude, server.base_url)
        finally:
            await server.stop()
        return results
    finally:
        worker.terminate()
        worker.wait(30)
        harness.workers.remove(worker)
        await claude.stop()
