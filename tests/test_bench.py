"""The benchmark runs end to end (a smoke run: it checks that it works, not how fast)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentchat import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_run(settings: Settings) -> None:
    env = {
        **os.environ,
        "AGENTCHAT_TEMPORAL_ADDRESS": settings.temporal_address,
        "AGENTCHAT_REDIS_URL": settings.redis_url,
        "AGENTCHAT_DATABASE_URL": settings.database_url or "",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "TTFT, AgentChat follow-up message | 3 |" in out
    assert "TTFT, direct SDK, 10 tokens at 50/s (baseline) | 3 |" in out
    assert "TTFT, AgentChat follow-up, 10 tokens at 50/s | 3 |" in out
    assert "follow-up streamed at a fixed rate" in out
    assert "stop() until the stream has ended | 3 |" in out
    assert "tool call: input available -> output (no-op tool) | 3 |" in out
    for name in ("throughput", "long", "recovery", "concurrency", "idle"):
        assert f"\n{name} {{" in out, f"{name} did not report"
    # The chat store on SQLite and a PostgreSQL server of its own, in a tiny form.
    store = out.split("\nstore\n", 1)[1]
    for database in ("sqlite", "postgresql"):
        assert f"| get_chat by id (baseline) | {database} | 5 |" in store, store[:800]
        assert f"| one owner's 50 newest chats | {database} | 5 |" in store
    assert "'completed_pct': 100.0" in out
    assert "'starts_per_s': 20" in out  # the paced concurrency row ran too
    # Repeated crashes, in a tiny form: 4 turns, a worker SIGKILLed once or twice.
    crashes = out.split("\ncrashes\n", 1)[1]
    kills = re.search(r"; (\d+) kills, one of 2 workers every 3 s", crashes)
    assert kills is not None and int(kills.group(1)) >= 1, crashes[:400]
    assert "| longest gap per turn | 4 |" in crashes
    correct = "lost 0, doubled 0, truncated 0, failed 0, reader != transcript 0;"
    assert correct in crashes, crashes[:800]


def test_peak_streaming_counts_overlapping_streams() -> None:
    from bench.suite import _peak

    assert _peak([]) == 0
    assert _peak([(0.0, 10.0), (5.0, 15.0), (12.0, 20.0)]) == 2
    assert _peak([(0.0, 1.0), (1.0, 2.0)]) == 1  # one ends as the next begins
    assert _peak([(0.0, 9.0), (1.0, 8.0), (2.0, 7.0)]) == 3


def test_the_latency_report_renders_results_recorded_before_the_paced_rows() -> None:
    from bench.latency import report

    row = {"n": 1, "p50_ms": 2.0, "p95_ms": 3.0, "p99_ms": 4.0}
    rows = ("direct_ttft", "followup_ttft", "new_chat_ttft", "stop_to_stream_end", "tool_call")
    old: dict[str, Any] = {name: row for name in (*rows, "tool_output_to_next_token")}
    old["added_p50_ms"] = {"followup": 1.0, "new_chat": 2.0}
    assert "50/s" not in report(old) and "| 1.0x |" in report(old)
    new = {
        **old,
        "paced": {"tokens": 10, "rate": 50.0},
        "paced_direct_ttft": {**row, "p50_ms": 4.0},
        "paced_followup_ttft": {**row, "p50_ms": 10.0},
        "added_p50_ms": {"followup": 1.0, "new_chat": 2.0, "paced_followup": 6.0},
    }
    assert "| TTFT, AgentChat follow-up, 10 tokens at 50/s | 1 | 10.0 | 3.0 | 4.0 | 2.5x |" in (
        report(new)
    )
    assert report(new).endswith("follow-up streamed at a fixed rate 6.0 ms.")


def test_a_silence_splits_into_phases_named_by_what_ended_them() -> None:
    from bench.recovery import Gap, Mark, phases

    gap = Gap("chat:x", 0, start=100.0, end=106.0, kills=[100.2, 104.0])
    marks = [
        Mark(99.0, "task started"),  # before the gap: ignored
        Mark(102.0, "timed out"),
        Mark(102.1, "retry due"),
        Mark(103.5, "retry started"),
        Mark(105.5, "timed out"),
        Mark(107.0, "chunk"),  # after the gap: ignored
    ]
    spent = phases(gap, marks, idle=[(102.5, 103.0)])
    assert spent == {
        "kill": pytest.approx(0.2),
        "timed out": pytest.approx(1.8 + 1.5),
        "retry due": pytest.approx(0.1),
        "no live worker": pytest.approx(0.5),  # of the wait for a worker to start the retry
        "retry started": pytest.approx(0.9),
        "killed again": pytest.approx(0.5),
        "chunk": pytest.approx(0.5),
    }
    assert sum(spent.values()) == pytest.approx(gap.seconds)


def test_a_kill_counts_for_a_gap_when_it_hit_the_chats_step_or_workflow() -> None:
    from bench.recovery import Gap, Mark, _Watch, relevant_kills

    watch = _Watch(starts={("3", 1): (95.0, 11), ("3", 2): (103.0, 22)})
    marks = [Mark(90.0, "task started", pid=33)]
    gap = Gap("chat:x", 0, start=100.0, end=108.0)
    kills = [(97.0, 33), (100.1, 11), (102.0, 44), (104.0, 22), (109.0, 11)]
    # The workflow's worker (33) died before the gap; the step's (11) in it; 44 ran nothing
    # of this chat; the retry's worker (22) died too; 109 is after the gap.
    assert relevant_kills(gap, kills, watch, marks) == [97.0, 100.1, 104.0]
    # A workflow task that started since on another worker clears the earlier loss.
    later = [*marks, Mark(98.0, "task started", pid=11)]
    assert relevant_kills(gap, kills, watch, later) == [100.1, 104.0]
    # Nothing known of the chat: the first kill in the gap.
    assert relevant_kills(gap, kills[1:], None, []) == [100.1]


def test_a_turns_text_is_checked_word_by_word() -> None:
    from bench.recovery import Turn, check

    def turn(text: str | None, failed: bool = False) -> Turn:
        return Turn("chat:x", 0, words=3, text=text, failed=failed)

    assert check(turn("w0@1 w1@2 w2@3 ")) is None
    assert check(turn("w0@1 w2@3 ")) == "truncated"
    assert check(turn("w0@1 w1@2 w1@5 w2@3 ")) == "doubled"
    assert check(turn(None)) == "lost"
    assert check(turn(None, failed=True)) == "failed"
