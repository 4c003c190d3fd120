"""The benchmark runs end to end (a smoke run: it checks that it works, not how fast)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentchat import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_run(settings: Settings) -> None:
    env = {
        **os.environ,
        "AGENTCHAT_TEMPORAL_ADDRESS": settings.temporal_address,
        "AGENTCHAT_REDIS_URL": settings.redis_url,
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
    assert "'completed_pct': 100.0" in out
    assert "'starts_per_s': 20" in out  # the paced concurrency row ran too


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
