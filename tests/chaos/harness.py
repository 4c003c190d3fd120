"""What every chaos scenario shares: its plan (bounded or full), the scripted model, readers
that time their silences, the fault loop, and the checks of every turn.

A scenario runs a few chats at once, each sending its turns one after another and reading
each turn as a client would, while a fault loop kills something whenever the model is in the
middle of an answer (a step is streaming into Redis). Afterwards every turn is checked three
ways: the transcript (`chat.history()`) holds each turn once with the model's whole answer,
each reader assembled exactly the transcript's answer, and each model request carried the
whole conversation so far (checked by the model server as it answers).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agentchat import AgentChat
from agentchat.errors import AgentChatError, ConnectionFailedError
from agentchat.protocol.chunks import TextDeltaChunk
from agentchat.protocol.messages import UIMessage
from agentchat.stream import ChatStream

MODE_VARIABLE = "AGENTCHAT_CHAOS"
"""`bounded` (the default, what CI runs) or `full`."""
SEED_VARIABLE = "AGENTCHAT_CHAOS_SEED"
"""Seeds the choice of victims and fault times (printed with every report)."""

REPORTS: list[str] = []
"""Every scenario's summary line, printed at the end of the pytest run."""

STALLED = 1.0
"""A reader silent this long (seconds) within one turn was hit by a fault, not by pacing."""


def mode() -> str:
    value = os.environ.get(MODE_VARIABLE, "bounded").strip().lower() or "bounded"
    if value not in ("bounded", "full"):
        raise ValueError(f"{MODE_VARIABLE}={value!r}: use 'bounded' (the default) or 'full'")
    return value


def seed() -> int:
    value = os.environ.get(SEED_VARIABLE)
    return int(value) if value else random.SystemRandom().randrange(1_000_000)


@dataclass(frozen=True)
class Plan:
    """How big one scenario runs."""

    chats: int
    """Chats running at once."""
    turns: int
    """Turns per chat, each sent once the previous one was read to its end."""
    faults: int
    """The most faults injected (fewer if the chats finish first)."""
    every: tuple[float, float]
    """Seconds between two faults, drawn uniformly (then the loop waits until the model is
    mid-answer)."""
    outage: tuple[float, float] = (0.0, 0.0)
    """Seconds a killed service stays down before it is restarted."""
    words: int = 60
    """Words in each answer: a reader missing any of them is caught."""
    token_delay: float = 0.03
    """Seconds between two of the model's tokens: an answer streams for words times this."""
    stream_timeout: float = 90.0
    """The clients' `stream_timeout`: a reader silent this long gives up (and the turn counts
    as lost)."""
    budget: float = 150.0
    """Seconds the chats get to finish all their turns."""

    @property
    def total_turns(self) -> int:
        return self.chats * self.turns


def pick(bounded: Plan, full: Plan) -> Plan:
    return full if mode() == "full" else bounded


def timeout_for(bounded: Plan, full: Plan) -> float:
    """pytest-timeout for a scenario: its budget, plus starting and checking."""
    return pick(bounded, full).budget + 90


# -- the model's side ---------------------------------------------------------------------------

PROMPT = re.compile(r"^chaos (?P<key>c\d+) turn (?P<turn>\d+)$")


class Script:
    """The loopback model's answers: a known answer per chat and turn, N numbered words, and a
    check that every request carries the whole conversation so far, word for word."""

    def __init__(self, words: int, token_delay: float) -> None:
        self.words = words
        self.token_delay = token_delay
        self.violations: list[str] = []
        self.requests: Counter[tuple[str, int]] = Counter()
        self._streaming: list[tuple[float, float]] = []

    def mid_answer(self) -> bool:
        """Whether the model is in the middle of an answer (some words out, more to come): a
        step is streaming into Redis right now."""
        now = time.monotonic()
        self._streaming = [(a, b) for a, b in self._streaming if b > now]
        return any(a + 0.2 < now < b - 0.3 for a, b in self._streaming)

    @staticmethod
    def prompt(key: str, turn: int) -> str:
        return f"chaos {key} turn {turn}"

    def answer(self, key: str, turn: int) -> str:
        return " ".join(f"{key}.t{turn}.w{i}" for i in range(1, self.words + 1))

    def conversation(self, key: str, turns: int) -> list[tuple[str, str]]:
        """The conversation after `turns` whole turns, as (role, text) pairs."""
        out: list[tuple[str, str]] = []
        for turn in range(1, turns + 1):
            out += [("user", self.prompt(key, turn)), ("assistant", self.answer(key, turn))]
        return out

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        said = [
            (str(m.get("role")), str(m.get("content") or ""))
            for m in messages
            if m.get("role") != "system"
        ]
        match = PROMPT.match(said[-1][1]) if said else None
        if match is None:
            self.violations.append(f"a request not from the suite: {said[-1:]!r}")
            return "unexpected"
        key, turn = match["key"], int(match["turn"])
        self.requests[(key, turn)] += 1
        now = time.monotonic()
        self._streaming.append((now, now + self.words * self.token_delay))
        want = [*self.conversation(key, turn - 1), ("user", self.prompt(key, turn))]
        if said != want:
            self.violations.append(f"{key} turn {turn}: the model saw {_difference(said, want)}")
        return self.answer(key, turn)


def _difference(said: list[tuple[str, str]], want: list[tuple[str, str]]) -> str:
    for i, (got, expected) in enumerate(zip(said, want, strict=False)):
        if got != expected:
            return (
                f"message {i} as {got[0]} with {len(got[1].split())} words"
                f" (expected {expected[0]} with {len(expected[1].split())})"
            )
    return f"{len(said)} messages (expected {len(want)})"


# -- readers ------------------------------------------------------------------------------------


@dataclass
class Reading:
    """What one reader made of one turn."""

    key: str
    turn: int
    reader: str
    text: str | None = None
    """What the reader assembled; None if it never finished the turn."""
    status: str | None = None
    silence: float = 0.0
    """The longest wait for the next event, from the send to the end of the turn (seconds)."""
    settled: bool = False
    """The reader finished from the transcript: the stream had lost the turn's end."""
    resets: int = 0
    resumes: int = 0
    error: str | None = None


class Silence:
    """The longest gap between a reader's events."""

    def __init__(self, began: float) -> None:
        self.last = began
        self.longest = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self.last)
        self.last = now


async def model_mid_answer(script: Script, done: asyncio.Event, within: float = 15.0) -> bool:
    """Until the model is mid-answer; False if the chats finished or none came `within`."""
    deadline = time.monotonic() + within
    while not script.mid_answer():
        if done.is_set() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def read_stream(
    stream: ChatStream, reading: Reading, began: float, pause: float = 0.0
) -> None:
    """Read a `ChatStream` to its end as an application would, timing its silences (`pause`:
    seconds spent on each text chunk, as a slow consumer does, so it lags behind the writer)."""
    silence = Silence(began)
    deltas: list[str] = []
    try:
        async for chunk in stream:
            silence.tick()
            if isinstance(chunk, TextDeltaChunk):
                deltas.append(chunk.delta)
                if pause:
                    await asyncio.sleep(pause)
            elif chunk.type == "reset-step":
                reading.resets += 1
                deltas.clear()  # one step per turn: a reset restarts the text
        result = await stream.result()
        reading.text, reading.status = result.text, result.status
        # The chunks and the outcome differ only when the stream finished from the transcript.
        reading.settled = result.text != "".join(deltas)
    except AgentChatError as exc:
        reading.error = f"{type(exc).__name__}: {exc}"
    finally:
        silence.tick()
        reading.silence = silence.longest


async def send(
    chat: AgentChat, text: str, message_id: str, counters: Counter[str], within: float
) -> ChatStream:
    """`send_message`, resent with the same message id while a service is unreachable (which
    the README says is safe: the chat runs the message once)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await chat.send_message(text, message_id=message_id)
        except ConnectionFailedError:
            if time.monotonic() > deadline:
                raise
            counters["send retries"] += 1
            await asyncio.sleep(0.5)


AlsoRead = Callable[["Scenario", str, int, str, ChatStream, float], Awaitable[None]]
"""Another reader of each turn: (scenario, chat key, turn, message id, the sender's stream,
send time)."""


def lagging_reader(others: dict[str, AgentChat], pause: float) -> AlsoRead:
    """A second, slow reader of each turn, on its own `AgentChat` of the same chat: it sends
    the same message id again (the chat runs it once and streams the original turn) and then
    spends `pause` seconds on each chunk, so its cursor trails the writer's."""

    async def read(
        scenario: Scenario, key: str, turn: int, message_id: str, _: ChatStream, began: float
    ) -> None:
        reading = scenario.reading(key, turn, "lagging")
        prompt = scenario.script.prompt(key, turn)
        try:
            stream = await send(others[key], prompt, message_id, scenario.counters, 60)
        except AgentChatError as exc:
            reading.error = f"send failed: {type(exc).__name__}: {exc}"
            return
        await read_stream(stream, reading, began, pause)

    return read


# -- the scenario -------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One scenario: chats conversing while a fault loop injects `fault`."""

    name: str
    plan: Plan
    script: Script
    chats: dict[str, AgentChat]
    fault: Callable[[], Awaitable[None]]
    rng: random.Random
    seed: int
    also: AlsoRead | None = None
    readings: list[Reading] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    faults: int = 0

    def reading(self, key: str, turn: int, reader: str) -> Reading:
        reading = Reading(key, turn, reader)
        self.readings.append(reading)
        return reading

    async def run(self) -> Report:
        began = time.monotonic()
        done = asyncio.Event()
        faults = asyncio.create_task(self._inject(done))
        talks = asyncio.gather(*(self._converse(key, chat) for key, chat in self.chats.items()))
        try:
            await asyncio.wait_for(talks, self.plan.budget)
        except TimeoutError:
            self.counters["budget exceeded"] += 1
        finally:
            done.set()
            await faults  # each fault ends with the service back up
        wall = time.monotonic() - began
        return await self._verify(wall)

    async def _inject(self, done: asyncio.Event) -> None:
        while self.faults < self.plan.faults:
            try:
                await asyncio.wait_for(done.wait(), self.rng.uniform(*self.plan.every))
                return
            except TimeoutError:
                pass
            if not await model_mid_answer(self.script, done):
                return
            await self.fault()
            self.faults += 1

    async def _converse(self, key: str, chat: AgentChat) -> None:
        # Chats out of step with each other: a fault catches their answers at different words.
        await asyncio.sleep(self.rng.uniform(0, self.plan.words * self.plan.token_delay))
        for turn in range(1, self.plan.turns + 1):
            reading = self.reading(key, turn, "client")
            message_id = f"{key}-t{turn}"
            began = time.monotonic()
            try:
                stream = await send(
                    chat, self.script.prompt(key, turn), message_id, self.counters, 60
                )
            except AgentChatError as exc:
                reading.error = f"send failed: {type(exc).__name__}: {exc}"
                continue
            readers: list[Awaitable[None]] = [read_stream(stream, reading, began)]
            if self.also is not None:
                readers.append(self.also(self, key, turn, message_id, stream, began))
            await asyncio.gather(*readers)

    async def _verify(self, wall: float) -> Report:
        report = Report(
            scenario=self.name,
            turns=self.plan.total_turns,
            readings=len(self.readings),
            faults=self.faults,
            wall=wall,
            seed=self.seed,
            model_requests=sum(self.script.requests.values()),
            silences=[r.silence for r in self.readings if r.text is not None],
            counters=self.counters,
        )
        for violation in self.script.violations:
            report.problem("history", violation)
        for key, chat in self.chats.items():
            answers = transcript_answers(await history_of(chat), self.script, key, report)
            for turn in range(1, self.plan.turns + 1):
                want = self.script.answer(key, turn)
                kept = answers.get(turn, [])
                if not kept or kept == [None]:
                    report.problem("lost", f"{key} turn {turn}: not in the transcript")
                    continue
                if len(kept) > 1:
                    report.problem(
                        "doubled", f"{key} turn {turn}: {len(kept)} times in the transcript"
                    )
                text = kept[0] or ""
                verdict = compare(text, want)
                if verdict != "ok":
                    report.problem(verdict, f"{key} turn {turn}: transcript {describe(text, want)}")
                for reading in self.readings:
                    if (reading.key, reading.turn) == (key, turn):
                        self._check_reading(reading, text, report)
        report.settled = sum(r.settled for r in self.readings)
        report.resets = sum(r.resets for r in self.readings)
        report.resumes = sum(r.resumes for r in self.readings)
        return report

    @staticmethod
    def _check_reading(reading: Reading, text: str, report: Report) -> None:
        where = f"{reading.key} turn {reading.turn} {reading.reader}"
        if reading.text is None:
            report.problem("lost", f"{where}: never finished ({reading.error})")
            return
        verdict = compare(reading.text, text)
        if verdict != "ok":
            report.problem(
                verdict,
                f"{where}: {describe(reading.text, text)}, status {reading.status}"
                f"{', finished from the transcript' if reading.settled else ''}",
            )


async def history_of(chat: AgentChat) -> list[UIMessage]:
    """`chat.history()`, asked again while a restarted service comes back."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await chat.history()
        except ConnectionFailedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


def transcript_answers(
    history: list[UIMessage], script: Script, key: str, report: Report
) -> dict[int, list[str | None]]:
    """Each turn's answers in the transcript (one per time its prompt appears; None when no
    assistant message follows it)."""
    answers: dict[int, list[str | None]] = {}
    for i, message in enumerate(history):
        if message.role != "user":
            continue
        match = PROMPT.match(message.text())
        if match is None or match["key"] != key:
            report.problem("mismatched", f"{key}: an unexpected user message {message.text()!r}")
            continue
        following = history[i + 1] if i + 1 < len(history) else None
        answer = (
            following.text() if following is not None and following.role == "assistant" else None
        )
        answers.setdefault(int(match["turn"]), []).append(answer)
    return answers


Verdict = Literal["ok", "truncated", "doubled", "mismatched"]


def compare(got: str, want: str) -> Verdict:
    """How a text differs from the one it should equal, word by word."""
    if got == want:
        return "ok"
    words, wanted = got.split(), want.split()
    if len(words) > len(wanted) or len(set(words)) < len(words):
        return "doubled"
    position = {word: i for i, word in enumerate(wanted)}
    at = [position.get(word, -1) for word in words]
    if -1 not in at and at == sorted(at):
        return "truncated"  # a part of the answer, in order: words are missing
    return "mismatched"


def describe(got: str, want: str) -> str:
    words, wanted = got.split(), want.split()
    missing = [w for w in wanted if w not in set(words)]
    where = f", first missing {missing[0]}" if missing else ""
    return f"{len(words)} of {len(wanted)} words{where}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


@dataclass
class Report:
    """A scenario's outcome: the problems found, and how long readers waited."""

    scenario: str
    turns: int
    readings: int
    faults: int
    wall: float
    seed: int
    model_requests: int
    silences: list[float]
    counters: Counter[str]
    problems: dict[str, list[str]] = field(default_factory=dict)
    settled: int = 0
    resets: int = 0
    resumes: int = 0

    def problem(self, kind: str, what: str) -> None:
        self.problems.setdefault(kind, []).append(what)

    def count(self, kind: str) -> int:
        return len(self.problems.get(kind, []))

    def line(self) -> str:
        stalled = [s for s in self.silences if s >= STALLED]
        other = {k: len(v) for k, v in self.problems.items() if k not in _HEADLINE}
        extras = [
            f"{self.settled} finished from the transcript",
            f"{self.resets} step resets",
            f"{self.model_requests} model requests",
        ]
        if self.resumes:
            extras.append(f"{self.resumes} SSE resumes")
        extras += [f"{n} {what}" for what, n in sorted(self.counters.items())]
        extras += [f"{n} {kind}" for kind, n in sorted(other.items())]
        return (
            f"chaos {self.scenario} [{mode()}, seed {self.seed}]: {self.turns} turns,"
            f" {self.readings} readings, {self.faults} faults, {self.wall:.0f} s |"
            f" lost {self.count('lost')} / doubled {self.count('doubled')}"
            f" / truncated {self.count('truncated')}"
            f" (mismatched {self.count('mismatched')}, history {self.count('history')}) |"
            f" recovery (longest silence of a reader in a turn) p50"
            f" {percentile(self.silences, 0.5):.2f} s p99 {percentile(self.silences, 0.99):.2f} s"
            f" max {max(self.silences, default=0.0):.2f} s;"
            f" {len(stalled)} readings stalled >= {STALLED:g} s"
            f" (p50 {percentile(stalled, 0.5):.2f} s) | " + ", ".join(extras)
        )

    def check(self) -> None:
        """Fail with every problem found (the summary line first)."""
        assert self.faults > 0, f"no fault was injected: {self.line()}"
        if self.problems or self.counters["budget exceeded"]:
            listed = [
                f"  {kind}: {what}" for kind, whats in self.problems.items() for what in whats
            ]
            shown = "\n".join(listed[:40]) + (
                f"\n  ... {len(listed) - 40} more" if len(listed) > 40 else ""
            )
            raise AssertionError(f"{self.line()}\n{shown}")


_HEADLINE = ("lost", "doubled", "truncated", "mismatched", "history")
