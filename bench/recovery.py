"""Repeated worker crashes: how long a reader waits for its turn to move again.

Chats stream turn after turn on their own task queue, served by `workers` worker processes;
every `every` seconds one of them is SIGKILLed, each in turn, and a new one started in its
place at once. Each reader records the time between consecutive chunks it receives (and from
sending to the first one): a turn's *silence* is its longest such gap, and a *recovery* is a
gap with a kill in it. At the end every reader's text must equal the transcript's answer
exactly and hold the model server's stamped words `w0@.. w1@..` each once, in order: turns
lost (no answer), truncated, doubled or failed are counted.

Where a recovery's time goes is read from Temporal, as a timeline per gap. While a reader is
silent, its chat's workflow is described every `_WATCH_EVERY` seconds: the step's attempt, the
last heartbeat the server recorded, when a retry became due and when a worker started it (the
server's own timestamps: the polling rate bounds what is missed, not the precision). After
the run each chat's history adds its workflow tasks (scheduled, timed out on a dead worker's
sticky queue, started), steps that found no transcript on their worker, steps scheduled
again, and the start of every retried step's last attempt. The workers' own "ready" lines say
when each one came up. Sorted, consecutive marks split a gap into phases named by what ended
them (`PHASES`); time spent waiting for a worker while none was up is "no live worker".
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import (
    EventType,
    PendingActivityState,
    TaskQueueType,
    TimeoutType,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from agentchat import AgentChat
from agentchat.connections import get_temporal
from agentchat.errors import TemporalUnavailableError, TurnFailedError
from agentchat.workflows import chat as chat_workflow
from bench.harness import Harness, pct

SILENT_AFTER = 1.0
"""A gap between two chunks longer than this is a silence worth explaining (the model server
sends a token every 25 ms)."""
IN_FLIGHT = 0.3
"""A kill this long before a reader's last chunk can still be the cause of the gap after it
(chunks already written reach the reader after their worker died)."""
_WATCH_EVERY = 0.2
"""How often a silent reader's workflow is described."""
_WATCH_AFTER = 0.3
"""A reader silent this long gets its workflow described."""

PHASES = {
    "kill": "silent before the kill",
    "timed out": "heartbeat timeout: kill to the step timed out",
    "retry due": "retry backoff (the policy's)",
    "retry started": "retry due to started on a live worker (Temporal's timer floor)",
    "no live worker": "waiting with no worker up (killed ones still starting)",
    "not cached": "retried step on a worker without the transcript",
    "task scheduled": "to a workflow task scheduled",
    "task timed out": "workflow task on a dead worker, until its timeout (10 s by default)",
    "sticky timeout": "workflow task on the dead worker's sticky queue",
    "task started": "workflow task to a live worker",
    "step scheduled": "workflow task: replay, step scheduled again",
    "killed again": "recovering, until killed again",
    "chunk": "step (re)started to the reader's next chunk",
}
"""What the time up to each kind of mark was spent on."""
_WAITS_FOR_A_WORKER = ("retry started", "task started")


@dataclass
class Mark:
    at: float
    kind: str
    pid: int = 0
    """The worker's process id, on "task started" marks from the history."""


@dataclass
class Gap:
    chat: str
    turn: int
    start: float
    end: float
    kills: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Turn:
    chat: str
    index: int
    words: int
    silence: float = 0.0
    text: str | None = None
    failed: bool = False
    error: str | None = None


@dataclass
class _Watch:
    """What describing one chat's workflow during its silences saw."""

    heartbeats: dict[tuple[str, int], float] = field(default_factory=dict)
    """(activity id, attempt) -> the last heartbeat the server recorded for that attempt."""
    retries: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)
    """(activity id, attempt) -> (timed out at, due at) of an attempt after a heartbeat
    timeout."""
    starts: dict[tuple[str, int], tuple[float, int]] = field(default_factory=dict)
    """(activity id, attempt) -> (started at, worker pid)."""
    tasks: dict[tuple[str, float], Mark] = field(default_factory=dict)
    """Workflow tasks seen pending, speculative ones (an update's) included, which the
    history shows only once they completed."""


def _ts(message: Any, name: str) -> float | None:
    if not message.HasField(name):
        return None
    return float(getattr(message, name).ToDatetime().timestamp())


def backoff(attempt: int) -> float:
    """The step's retry policy: seconds before `attempt` (2 and up) is due (Temporal's
    default coefficient, 2)."""
    first = chat_workflow._STEP_RETRY_FIRST.total_seconds()
    most = chat_workflow._STEP_RETRY_MAX.total_seconds()
    return float(min(first * 2.0 ** (attempt - 2), most))


class _Workers:
    """`count` worker processes on `queue`; `kill()` SIGKILLs the next one in turn and starts
    a new one in its place at once. Each worker's start, ready line and death are kept."""

    def __init__(
        self, harness: Harness, queue: str, count: int, bytecode_cache: Path | None = None
    ) -> None:
        self.harness = harness
        self.queue = queue
        self.bytecode_cache = bytecode_cache
        self.kills: list[tuple[float, int]] = []
        """(when, pid) of each worker killed."""
        self.lives: dict[int, list[float]] = {}
        """pid -> [started, ready (inf until it is), died (inf while alive)]."""
        self.procs = [self._start() for _ in range(count)]

    def _start(self) -> subprocess.Popen[bytes]:
        proc = self.harness.start_worker(
            task_queue=self.queue, stdout=subprocess.PIPE, bytecode_cache=self.bytecode_cache
        )
        life = self.lives[proc.pid] = [time.time(), float("inf"), float("inf")]

        def ready() -> None:  # the CLI prints "worker ready: ..." once it polls
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(b"worker ready") and life[1] == float("inf"):
                    life[1] = time.time()

        threading.Thread(target=ready, daemon=True).start()
        return proc

    def kill(self) -> float:
        slot = len(self.kills) % len(self.procs)
        victim = self.procs[slot]
        victim.kill()
        at = time.time()
        victim.wait()
        self.lives[victim.pid][2] = at
        self.harness.workers.remove(victim)
        self.procs[slot] = self._start()
        self.kills.append((at, victim.pid))
        return at

    def idle(self) -> list[tuple[float, float]]:
        """The spans during which no worker was up (after the first one came up)."""
        up = sorted((ready, died) for _, ready, died in self.lives.values() if ready < died)
        spans: list[tuple[float, float]] = []
        covered = up[0][1] if up else float("inf")
        for ready, died in up[1:]:
            if ready > covered:
                spans.append((covered, ready))
            covered = max(covered, died)
        return spans

    async def ready(self, client: Client) -> None:
        """Until every worker polls the queue for activities (90 s at most)."""
        want = {p.pid for p in self.procs}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=self.queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                )
            )
            polling = {p.identity.split("@")[0] for p in response.pollers}
            if {str(pid) for pid in want} <= polling:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"workers {sorted(want)} did not poll {self.queue}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.harness.workers.remove(proc)


async def _describe(client: Client, workflow_id: str, watch: _Watch) -> None:
    raw = (await client.get_workflow_handle(workflow_id).describe()).raw_description
    if raw.HasField("pending_workflow_task"):
        task = raw.pending_workflow_task
        first, latest = _ts(task, "original_scheduled_time"), _ts(task, "scheduled_time")
        seen = [(first, "task scheduled"), (_ts(task, "started_time"), "task started")]
        if first is not None and latest is not None and latest - first > 0.5:
            seen.append((latest, "sticky timeout"))  # rescheduled on the normal queue
        for at, kind in seen:
            if at is not None:
                watch.tasks[(kind, round(at, 3))] = Mark(at, kind)
    for pa in raw.pending_activities:
        key = (pa.activity_id, pa.attempt)
        beat = _ts(pa, "last_heartbeat_time")
        started = _ts(pa, "last_started_time")
        running = pa.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        if running and started is not None:
            pid = pa.last_worker_identity.partition("@")[0]
            watch.starts[key] = (started, int(pid) if pid.isdigit() else 0)
            if beat is not None and beat >= started - 0.001:  # this attempt's own heartbeat
                watch.heartbeats[key] = beat
        failure = pa.last_failure
        timed_out = (
            failure.HasField("timeout_failure_info")
            and failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
        )
        due = _ts(pa, "scheduled_time")
        if pa.attempt > 1 and timed_out and due is not None:
            watch.retries[key] = (due - backoff(pa.attempt), due)


def history_marks(events: Any) -> list[Mark]:
    """Marks from a chat's history: workflow tasks, transcript misses, steps scheduled and
    the start of each retried step's last attempt."""
    marks: list[Mark] = []
    for event in events:
        at = event.event_time.ToDatetime().timestamp()
        kind = None
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            kind = "task scheduled"
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            worker = event.workflow_task_started_event_attributes.identity.partition("@")[0]
            marks.append(Mark(at, "task started", int(worker) if worker.isdigit() else 0))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            timeout = event.workflow_task_timed_out_event_attributes.timeout_type
            if timeout == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START:
                kind = "sticky timeout"
            elif timeout == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE:
                kind = "task timed out"  # its worker died while running it
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failure = event.activity_task_failed_event_attributes.failure
            if failure.application_failure_info.type == "TranscriptNotCached":
                kind = "not cached"
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            kind = "step scheduled"
        elif (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and event.activity_task_started_event_attributes.attempt > 1
        ):
            kind = "retry started"  # written when the step ends, at its last attempt's start
        if kind is not None:
            marks.append(Mark(at, kind))
    return marks


def watch_marks(watch: _Watch) -> list[Mark]:
    marks = []
    for timed_out, due in watch.retries.values():
        marks += [Mark(timed_out, "timed out"), Mark(due, "retry due")]
    for (_, attempt), (started, _) in watch.starts.items():
        if attempt > 1:
            marks.append(Mark(started, "retry started"))
    return marks + list(watch.tasks.values())


def relevant_kills(
    gap: Gap, kills: list[tuple[float, int]], watch: _Watch | None, marks: list[Mark]
) -> list[float]:
    """The kills that kept a chat's gap from ending: of a worker that ran one of the chat's
    step attempts, or that held the chat's workflow (its last workflow task) when killed,
    in the gap or, for the workflow's, before it. With none such, the first kill in it."""
    ran = {pid for _, pid in (watch.starts.values() if watch else ())}
    tasks = sorted((m.at, m.pid) for m in marks if m.kind == "task started" and m.pid)

    def held_workflow(at: float, pid: int) -> bool:
        before = [worker for started, worker in tasks if started <= at]
        return bool(before) and before[-1] == pid

    relevant = [
        at
        for at, pid in kills
        if at <= gap.end
        and (
            (at >= gap.start - IN_FLIGHT and pid in ran)
            or (at >= gap.start - 30 and held_workflow(at, pid))  # its task comes later
        )
    ]
    # A workflow lost before the gap counts only if no task of it started since.
    relevant = [
        at
        for at in relevant
        if at >= gap.start - IN_FLIGHT or not any(at < t < gap.start for t, _ in tasks)
    ]
    if not relevant:
        relevant = [at for at, _ in kills if gap.start - IN_FLIGHT <= at <= gap.end][:1]
    return relevant


def _overlap(a: float, b: float, spans: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for start, end in spans)


def phases(
    gap: Gap, marks: list[Mark], idle: list[tuple[float, float]] | None = None
) -> dict[str, float]:
    """Split `gap` into phases, each named by the mark that ended it (`PHASES`).

    The marks inside the gap are sorted; the time up to the first kill is "kill", up to a
    later one "killed again", after the last mark "chunk". Of a phase that waited for a
    worker to take a task, the part when none was up (`idle`) is "no live worker". The
    phases add up to the gap.
    """
    inside = [m for m in marks if gap.start < m.at < gap.end]
    inside += [Mark(max(k, gap.start), "kill") for k in gap.kills[:1]]
    inside += [Mark(max(k, gap.start), "killed again") for k in gap.kills[1:]]
    inside.sort(key=lambda m: m.at)
    spent: dict[str, float] = {}
    previous = gap.start
    for mark in [*inside, Mark(gap.end, "chunk")]:
        seconds = mark.at - previous
        if mark.kind in _WAITS_FOR_A_WORKER and idle:
            waiting = _overlap(previous, mark.at, idle)
            spent["no live worker"] = spent.get("no live worker", 0.0) + waiting
            seconds -= waiting
        spent[mark.kind] = spent.get(mark.kind, 0.0) + seconds
        previous = mark.at
    return spent


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_s": statistics.median(values) if values else 0.0,
        "p99_s": pct(values, 0.99),
        "max_s": max(values, default=0.0),
    }


def _indices(text: str) -> list[str]:
    return [word.partition("@")[0] for word in text.split()]


def check(turn: Turn) -> str | None:
    """What is wrong with a turn's text: "lost", "failed", "truncated", "doubled" or None."""
    if turn.failed:
        return "failed"
    if turn.text is None:
        return "lost"
    words = _indices(turn.text)
    if len(words) != len(set(words)):
        return "doubled"
    if words != [f"w{i}" for i in range(turn.words)]:
        return "truncated"
    return None


def summarize(
    turns: list[Turn],
    gaps: list[Gap],
    marks: dict[str, list[Mark]],
    watches: dict[str, _Watch],
    idle: list[tuple[float, float]],
) -> dict[str, Any]:
    """The figures: silences, recoveries, their phases, and what went wrong with turns."""
    recoveries = [g for g in gaps if g.kills]
    total: dict[str, float] = {}
    for gap in recoveries:
        for kind, seconds in phases(gap, marks.get(gap.chat, []), idle).items():
            total[kind] = total.get(kind, 0.0) + seconds
    ages, detect = [], []
    for gap in recoveries:
        watch = watches.get(gap.chat)
        if watch is None:
            continue
        kill = gap.kills[0]
        beats = [b for b in watch.heartbeats.values() if kill - 10 < b <= kill]
        if beats:
            ages.append(kill - max(beats))
        for (activity_id, attempt), (timed_out, _) in watch.retries.items():
            beat = watch.heartbeats.get((activity_id, attempt - 1))
            if beat is not None and gap.start - IN_FLIGHT <= timed_out <= gap.end:
                detect.append(timed_out - beat)
    worst = sorted(recoveries, key=lambda g: g.seconds, reverse=True)[:3]
    problems = [check(t) for t in turns]
    return {
        "turns": len(turns),
        "silence": _stats([t.silence for t in turns]),
        "recovery": _stats([g.seconds for g in recoveries]),
        "recoveries_killed_again": sum(1 for g in recoveries if len(g.kills) > 1),
        "other_silences": sum(1 for g in gaps if not g.kills),
        "phases_mean_s": {
            kind: total[kind] / len(recoveries) for kind in PHASES if total.get(kind, 0.0) > 0
        },
        "heartbeat_age_at_kill_mean_s": statistics.fmean(ages) if ages else 0.0,
        "last_heartbeat_to_timed_out_mean_s": statistics.fmean(detect) if detect else 0.0,
        "no_worker_s": sum(end - start for start, end in idle),
        "worst": [
            {
                "seconds": round(g.seconds, 2),
                "kills": len(g.kills),
                "phases": {
                    k: round(v, 2)
                    for k, v in phases(g, marks.get(g.chat, []), idle).items()
                    if v >= 0.005
                },
            }
            for g in worst
        ],
        **{kind: problems.count(kind) for kind in ("lost", "doubled", "truncated", "failed")},
    }


@dataclass
class _Run:
    """One run of the section: its chats, readers, workers and what they saw."""

    settings: Any
    client: Client
    pool: _Workers
    words: int
    rate: float
    chats: int
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    turns: list[Turn] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    watches: dict[str, _Watch] = field(default_factory=dict)
    streaming: asyncio.Event = field(default_factory=asyncio.Event)
    first_chunks: set[int] = field(default_factory=set)

    def chat(self, c: int) -> AgentChat:
        return AgentChat(agent="bench", id=f"crash-{self.tag}-{c}", settings=self.settings)

    async def send(self, chat: AgentChat, turn: Turn, c: int) -> Any:
        text = f"turn {turn.index} tokens={self.words} rate={self.rate}"
        give_up = time.monotonic() + 120
        while True:
            try:
                return await chat.send_message(text, message_id=f"{self.tag}-{c}-{turn.index}")
            except TemporalUnavailableError:  # not accepted in time: resend, as it says
                if time.monotonic() > give_up:
                    raise

    async def read(self, c: int, chat: AgentChat, turn: Turn, silent_since: list[float]) -> None:
        stream = await self.send(chat, turn, c)
        async for _chunk in stream:
            now = time.time()
            if now - silent_since[0] > SILENT_AFTER:
                self.gaps.append(Gap(turn.chat, turn.index, silent_since[0], now))
            turn.silence = max(turn.silence, now - silent_since[0])
            silent_since[0] = now
            if c not in self.first_chunks:
                self.first_chunks.add(c)
                if len(self.first_chunks) == self.chats:
                    self.streaming.set()
        try:
            turn.text = (await stream.result()).text
        except TurnFailedError as exc:
            turn.failed, turn.error = True, str(exc)[:200]

    async def one_chat(self, c: int, count: int) -> None:
        chat = self.chat(c)
        watch = self.watches.setdefault(chat.workflow_id, _Watch())
        for i in range(count):
            turn = Turn(chat.workflow_id, i, self.words)
            self.turns.append(turn)
            silent_since = [time.time()]
            watching = asyncio.create_task(
                _watch(self.client, chat.workflow_id, watch, silent_since)
            )
            try:
                await self.read(c, chat, turn, silent_since)
            except Exception as exc:  # the reader never got its answer: lost
                turn.error = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching

    async def kill_every(self, every: float, max_kills: int | None) -> None:
        await self.streaming.wait()
        while max_kills is None or len(self.pool.kills) < max_kills:
            await asyncio.sleep(every)
            self.pool.kill()

    async def marks(self) -> dict[str, list[Mark]]:
        marks = {}
        for workflow_id, watch in self.watches.items():
            history = await self.client.get_workflow_handle(workflow_id).fetch_history()
            marks[workflow_id] = history_marks(history.events) + watch_marks(watch)
        return marks

    async def not_transcript(self) -> int:
        """Turns whose reader's text differs from the transcript's answer, or is missing."""
        wrong = 0
        for c in range(self.chats):
            chat = self.chat(c)
            answers = [
                "".join(str(p.get("text", "")) for p in m.parts if p.get("type") == "text")
                for m in await chat.history()
                if m.role == "assistant"
            ]
            read = [t for t in self.turns if t.chat == chat.workflow_id]
            wrong += abs(len(answers) - len(read))
            wrong += sum(
                1
                for t, answer in zip(read, answers, strict=False)
                if t.text is not None and t.text != answer
            )
        return wrong


async def _connect(settings: Any) -> Client:
    """The Temporal client, once a dev server just started is healthy (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await get_temporal(settings)
        except TemporalUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def crashes(
    harness: Harness,
    *,
    turns: int,
    chats: int = 4,
    workers: int = 2,
    every: float = 3.0,
    words: int = 80,
    rate: float = 40.0,
    max_kills: int | None = None,
    bytecode: bool = False,
) -> dict[str, Any]:
    """`turns` turns over `chats` chats while one of `workers` workers is SIGKILLed every
    `every` seconds, each in turn, and restarted at once.

    Each answer is `words` words at `rate` a second. Kills begin once every chat streams and
    end with the last turn (or after `max_kills`). With `bytecode` the workers start from a
    bytecode cache (see `Harness.start_worker`), as a production image's do.
    """
    with tempfile.TemporaryDirectory(prefix="bench-bytecode-") as cache:
        return await _crashes(
            harness,
            turns=turns,
            chats=chats,
            workers=workers,
            every=every,
            words=words,
            rate=rate,
            max_kills=max_kills,
            bytecode_cache=Path(cache) if bytecode else None,
        )


async def _crashes(
    harness: Harness,
    *,
    turns: int,
    chats: int,
    workers: int,
    every: float,
    words: int,
    rate: float,
    max_kills: int | None,
    bytecode_cache: Path | None,
) -> dict[str, Any]:
    settings = harness.settings.with_overrides(task_queue=f"{harness.settings.task_queue}-crashes")
    client = await _connect(settings)
    per_chat = [n for n in (turns // chats + (c < turns % chats) for c in range(chats)) if n]
    pool = _Workers(harness, settings.task_queue, workers, bytecode_cache)
    run = _Run(settings, client, pool, words, rate, len(per_chat))
    try:
        await pool.ready(client)
        killing = asyncio.create_task(run.kill_every(every, max_kills))
        started = time.perf_counter()
        try:
            await asyncio.gather(*(run.one_chat(c, n) for c, n in enumerate(per_chat)))
        finally:
            killing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killing
        elapsed = time.perf_counter() - started
        marks = await run.marks()
        for gap in run.gaps:
            watch = run.watches.get(gap.chat)
            gap.kills = relevant_kills(gap, pool.kills, watch, marks.get(gap.chat, []))
        mismatched = await run.not_transcript()
    finally:
        pool.stop()
    figures = summarize(run.turns, run.gaps, marks, run.watches, pool.idle())
    figures.update(
        reader_not_transcript=mismatched,
        chats=len(per_chat),
        workers=workers,
        every_s=every,
        words=words,
        rate=rate,
        kills=len(pool.kills),
        bytecode_cache=bytecode_cache is not None,
        elapsed_s=elapsed,
        errors=sorted({t.error for t in run.turns if t.error})[:3],
    )
    return figures


async def _watch(
    client: Client, workflow_id: str, watch: _Watch, silent_since: list[float]
) -> None:
    """Describe the chat's workflow while its reader is silent, and once more after."""
    described = False
    while True:
        await asyncio.sleep(_WATCH_EVERY)
        silent = time.time() - silent_since[0] > _WATCH_AFTER
        if silent or described:
            with contextlib.suppress(Exception):
                await _describe(client, workflow_id, watch)
        described = silent


def report(r: dict[str, Any]) -> str:
    """The section as text: silences, recoveries, where their time went, correctness."""
    lines = [
        f"{r['turns']} turns over {r['chats']} chats, {r['words']} words at {r['rate']:g}/s"
        f" each; {r['kills']} kills, one of {r['workers']} workers every {r['every_s']:g} s,"
        f" restarted at once{' from a bytecode cache' if r.get('bytecode_cache') else ''}"
        f" ({r['elapsed_s']:.0f} s; no worker up for {r['no_worker_s']:.1f} s)",
        "",
        "| reader silence | n | p50 s | p99 s | max s |",
        "|---|---|---|---|---|",
    ]
    for key, name in (("silence", "longest gap per turn"), ("recovery", "gaps with a kill")):
        v = r[key]
        lines.append(
            f"| {name} | {v['n']} | {v['p50_s']:.2f} | {v['p99_s']:.2f} | {v['max_s']:.2f} |"
        )
    lines += [
        "",
        f"lost {r['lost']}, doubled {r['doubled']}, truncated {r['truncated']}, failed"
        f" {r['failed']}, reader != transcript {r['reader_not_transcript']}; recoveries"
        f" killed again {r['recoveries_killed_again']}; gaps over {SILENT_AFTER:g} s without"
        f" a kill {r['other_silences']}",
        "where a recovery's time went, mean s (the last heartbeat"
        f" {r['heartbeat_age_at_kill_mean_s']:.2f} s old at the kill; from it to timed out"
        f" {r['last_heartbeat_to_timed_out_mean_s']:.2f} s):",
    ]
    lines += [f"  {seconds:5.2f}  {PHASES[kind]}" for kind, seconds in r["phases_mean_s"].items()]
    lines.append(f"  {sum(r['phases_mean_s'].values()):5.2f}  in all (the mean recovery)")
    for worst in r["worst"]:
        lines.append(f"  worst {worst['seconds']} s, {worst['kills']} kill(s): {worst['phases']}")
    return "\n".join(lines)
