"""`python -m bench`: what durability costs, against the no-durability baseline in one run.

Starts its own Temporal dev server and Redis (or uses AGENTCHAT_TEMPORAL_ADDRESS and
AGENTCHAT_REDIS_URL), a model server process and worker processes, runs each benchmark, and
writes `docs/bench/results.json`, `docs/bench/README.md` and PNG plots. `--quick` is the smoke
run CI uses: every benchmark at a tiny size, nothing written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench import recovery, suite
from bench.gateway import gateway as bench_gateway
from bench.gateway import websocket as bench_websocket
from bench.harness import ROOT, Harness
from bench.latency import NOTES, report, run_latency
from bench.store import report as store_report
from bench.store import store_bench

FULL: dict[str, Any] = {
    "latency_rounds": 30,
    "throughput_tokens": 20_000,
    "concurrency": [100, 300, 1000],
    "starts_per_s": 20,
    "long_turns": 500,
    "idle_chats": 10_000,
    "recovery_rounds": 9,
    "crashes": {"turns": 100, "chats": 4, "workers": 2, "every": 3.0},
    "gateway": {"entries": 20_000, "readers": 20, "rounds": 3},
    "websocket": {"entries": 20_000, "readers": 20, "rounds": 3},
    "store": {"chats": 100_000, "owners": 1_000, "messages": 10, "rounds": 200},
}
QUICK: dict[str, Any] = {
    "latency_rounds": 3,
    "throughput_tokens": 500,
    "concurrency": [5],
    "starts_per_s": 20,
    "long_turns": 12,
    "idle_chats": 10,
    "recovery_rounds": 3,
    "crashes": {"turns": 4, "chats": 2, "workers": 2, "every": 3.0, "max_kills": 2},
    "gateway": {"entries": 200, "readers": 2, "rounds": 1},
    "websocket": {"entries": 200, "readers": 2, "rounds": 1},
    "store": {"chats": 500, "owners": 10, "messages": 2, "rounds": 5},
}
NAMES = [
    "latency",
    "throughput",
    "concurrency",
    "long",
    "idle",
    "recovery",
    "crashes",
    "gateway",
    "websocket",
    "store",
]


async def run_all(harness: Harness, size: dict[str, Any], only: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "size": size,
    }
    started = time.perf_counter()
    if "latency" in only:
        results["latency"] = await run_latency(harness, size["latency_rounds"])
        print(report(results["latency"]), flush=True)
    if "throughput" in only:
        results["throughput"] = await suite.throughput(harness, size["throughput_tokens"], 2)
        print("throughput", results["throughput"], flush=True)
    if "long" in only:
        results["long"] = await suite.long_conversation(harness, size["long_turns"])
        print("long", {k: v for k, v in results["long"].items() if k != "ttft_ms"}, flush=True)
    if "recovery" in only:
        results["recovery"] = await suite.recovery(harness, size["recovery_rounds"])
        print("recovery", results["recovery"], flush=True)
    if "crashes" in only:
        results["crashes"] = await recovery.crashes(harness, **size["crashes"])
        print(f"crashes\n{recovery.report(results['crashes'])}", flush=True)
    if "concurrency" in only:
        results["concurrency"] = []
        # Paced rows first: a thundering herd leaves retried steps behind for a while.
        for starts in (size["starts_per_s"], None):
            for chats in size["concurrency"]:
                row = await suite.concurrency(harness, chats, 300, 30, starts_per_s=starts)
                results["concurrency"].append(row)
                print("concurrency", row, flush=True)
                await suite.settle(harness)
    if "gateway" in only:
        results["gateway"] = await bench_gateway(harness, **size["gateway"])
        print("gateway", results["gateway"], flush=True)
    if "websocket" in only:
        results["websocket"] = await bench_websocket(harness, **size["websocket"])
        print("websocket", results["websocket"], flush=True)
    if "idle" in only:
        results["idle"] = await suite.idle_chats(harness, size["idle_chats"])
        print("idle", results["idle"], flush=True)
    if "store" in only:
        results["store"] = await store_bench(**size["store"])
        print(f"store\n{store_report(results['store'])}", flush=True)
    results["elapsed_s"] = time.perf_counter() - started
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Measured by `python -m bench` on this repository's CI machine",
        f"class ({results['machine']['cpus']} cores), in {results['elapsed_s']:.0f} s.",
        "",
    ]
    if results.get("updated"):
        again = results["updated"]
        lines.insert(
            -1,
            f"Then {', '.join(again['sections'])} measured again with `--only`, in"
            f" {again['elapsed_s']:.0f} s.",
        )
    if "latency" in results:
        lines += ["## Time to first token, stop, tools", "", report(results["latency"]), ""]
    if "throughput" in results:
        t = results["throughput"]
        lines += [
            "## Streaming throughput",
            "",
            f"One chat, {t['tokens']} tokens as fast as the model server sends them:"
            f" direct SDK {t['direct_tokens_per_s']:,.0f} tokens/s, through agentchat"
            f" {t['agentchat_tokens_per_s']:,.0f} tokens/s: **{t['ratio']:.2f}x** of"
            " direct (target ≥ 0.8). Above 1 because the direct client pays the SDK's"
            " per-chunk objects while the worker reads the chunks as JSON and the reader"
            " receives them coalesced, several tokens per Redis entry.",
            "",
        ]
    if "concurrency" in results:
        lines += [
            "## Concurrent chats (300 tokens at 30/s each, one worker process)",
            "",
            "| chats | sent | most streaming at once | completed | resent | delivery delay"
            " p50 ms | p99 ms | first token p50 ms | p99 ms | worker CPU s / 1k tokens |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in results["concurrency"]:
            starts = row.get("starts_per_s")
            first = row.get("first_token", {})
            lines.append(
                f"| {row['chats']} | {f'{starts:g}/s' if starts else 'at once'} |"
                f" {row.get('peak_streaming', '')} | {row['completed_pct']:.0f}% |"
                f" {row.get('resent', '')} |"
                f" {row['delay']['p50_ms']:.1f} | {row['delay']['p99_ms']:.1f} |"
                f" {first.get('p50_ms', 0):.0f} | {first.get('p99_ms', 0):.0f} |"
                f" {row['worker_cpu_s_per_1k_tokens']:.3f} |"
            )
        lines += [
            "",
            "![delivery delay](concurrency.png)",
            "",
            "Delivery delay is from the model server stamping a token to the reader receiving it."
            ' "At once" sends every chat\'s message in the same instant (a thundering herd);'
            ' "paced" sends them at the given rate, as traffic arrives in practice. One worker'
            " process streams every step on one event loop, and takes on a new step only while"
            " that loop lags less than `AGENTCHAT_WORKER_MAX_LAG` (20 ms): past its capacity,"
            " chats wait in Temporal's task queue to start (the first-token columns) instead of"
            ' stalling mid-answer. "Most streaming at once" is where it settled on this machine,'
            " whose 2 cores also run Temporal, Redis, the model server and every reader."
            ' "Resent" counts messages the stack did not accept within `accept_timeout`'
            " (15 s), sent again with the same message id as the error says (no second turn"
            " runs). A chat is completed when its reader received the whole answer; a reader"
            " waits up to 180 s for a queued chat to start (`stream_timeout`), as long as the"
            " benchmark resends, so the queue's wait shows in the first-token columns.",
            "",
        ]
    if "long" in results:
        lg = results["long"]
        marks = ", ".join(f"turn {t}: {v:.1f} ms" for t, v in lg["added_ms_at"].items())
        lines += [
            "## Long conversations",
            "",
            f"One chat of {lg['turns']} turns. What agentchat adds to the time to first"
            " token, over the direct SDK sending the same (growing) conversation to the"
            f" same model server: {marks}; last / turn 10 ="
            f" **{lg['added_ratio_last_to_turn_10']:.2f}** (target ≤ 1.2). The raw time to"
            " first token grows with the prompt for both (plot). Workflow history grows"
            " linearly and continue-as-new resets it:",
            "",
            "| turn | history events | history bytes |",
            "|---|---|---|",
        ]
        lines += [f"| {h['turn']} | {h['events']} | {h['bytes']:,} |" for h in lg["history"]]
        lines += ["", "![long conversation](long.png)", ""]
    if "idle" in results:
        i = results["idle"]
        lines += [
            "## Idle chats",
            "",
            f"{i['chats']:,} chats opened ({i['opened_per_s']:.0f}/s), one short turn each. Redis"
            " per chat as soon as all were open (the earliest had already passed the idle TTL):"
            f" {i['redis_bytes_per_chat_turn_just_ended']:,.0f} bytes; a chat whose turn just"
            " ended holds ~4.7 KB (Redis preallocates a 4 KB node per stream). Once idle past"
            f" the stream's idle TTL ({i['idle_ttl_s']} s here, 600 s by default):"
            f" **{i['redis_bytes_per_idle_chat']:,.0f} bytes** per chat (target ≤ 2 KB). Worker"
            f" RSS {i['worker_rss_mb']:.0f} MB. Time to first token for a chat the worker holds:"
            f" {i['warm_ttft']['p50_ms']:.1f} ms; after a worker restart (no chat cached,"
            f" history replayed): {i['cold_ttft']['p50_ms']:.1f} ms ="
            f" **{i['cold_to_warm']:.2f}x** (target ≤ 2x).",
            "",
        ]
    if "recovery" in results:
        r = results["recovery"]
        lines += [
            "## Resume and crash recovery",
            "",
            f"`reconnect()` to the first missed chunk: p50"
            f" {r['reconnect_to_first_chunk']['p50_ms']:.1f} ms. A SIGKILLed worker until"
            f" the stream moves again (a new worker started at once): p50"
            f" {r['crash_to_stream_moving']['p50_ms']:.0f} ms, p95"
            f" {r['crash_to_stream_moving']['p95_ms']:.0f} ms (target ≤ 5 s; the LLM step's"
            " heartbeat timeout, 2 s by default and counted from its last heartbeat, and"
            " Temporal's ~1 s floor on the retry's timer dominate).",
            "",
        ]
    if "crashes" in results:
        lines += [
            "## Repeated crashes",
            "",
            "Readers' longest silence (time between two chunks, or from sending to the first)"
            " while worker processes are SIGKILLed on a schedule and restarted at once; every"
            " reader's text checked against the transcript (`bench/recovery.py`).",
            "",
            recovery.report(results["crashes"]),
            "",
        ]
    if "gateway" in results:
        g = results["gateway"]
        lines += [
            "## HTTP gateway",
            "",
            f"One gateway process, {g['readers']} concurrent SSE readers each replaying a turn of"
            f" {g['entries']:,} stream entries (`GET /v1/chats/{{id}}/turn`):"
            f" **{g['gateway_events_per_s']:,.0f} events/s** delivered, against"
            f" {g['xread_events_per_s']:,.0f} entries/s for as many raw `XREAD` loops on the"
            f" same stream ({g['ratio']:.2f}x; readers, gateway and Redis share the machine's"
            " cores). Resume, `Last-Event-ID` in the middle of the turn to the first missed"
            f" event over HTTP: p50 {g['resume_ms']['p50_ms']:.1f} ms, p95"
            f" {g['resume_ms']['p95_ms']:.1f} ms (a raw `XREAD` from the same cursor:"
            f" {g['xread_resume_ms']['p50_ms']:.2f} ms).",
            "",
        ]
    if "websocket" in results:
        w = results["websocket"]
        lines += [
            "## WebSocket against SSE",
            "",
            f"One gateway process, {w['readers']} concurrent readers each replaying a chat of"
            f" {w['entries']:,} stream entries, in the same run: WebSocket sessions"
            f" (`/v1/chats/{{id}}/ws?last_event_id=0-0`) delivered"
            f" **{w['ws_events_per_s']:,.0f} events/s**, SSE (`/v1/chats/{{id}}/events`)"
            f" {w['sse_events_per_s']:,.0f} events/s (WS/SSE {w['ratio']:.2f}x). Resume, a new"
            " connection after the middle entry's id to its first event: WebSocket p50"
            f" {w['ws_resume_ms']['p50_ms']:.1f} ms, p95 {w['ws_resume_ms']['p95_ms']:.1f} ms;"
            f" SSE p50 {w['sse_resume_ms']['p50_ms']:.1f} ms, p95"
            f" {w['sse_resume_ms']['p95_ms']:.1f} ms (WS/SSE {w['resume_ratio']:.2f}x; SSE"
            " reuses a pooled TCP connection, a WebSocket opens one and shakes hands).",
            "",
        ]
    if "store" in results:
        lines += [
            "## Chat store",
            "",
            "Listing and search through `ChatStore` (`bench/store.py`), on SQLite and on"
            " PostgreSQL, against a primary-key `get_chat` on the same database:",
            "",
            store_report(results["store"]),
            "",
        ]
    return "\n".join(lines) + "\n" + NOTES


def plots(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if results.get("concurrency"):
        fig, left = plt.subplots(figsize=(6, 3.5))
        for ramped, style in ((False, "-"), (True, ":")):
            rows = [r for r in results["concurrency"] if bool(r.get("starts_per_s")) == ramped]
            chats = [r["chats"] for r in rows]
            how = "paced starts" if ramped else "all at once"
            left.plot(chats, [r["delay"]["p50_ms"] for r in rows], "o" + style, label=f"p50, {how}")
            left.plot(chats, [r["delay"]["p99_ms"] for r in rows], "s" + style, label=f"p99, {how}")
        rows = [r for r in results["concurrency"] if not r.get("starts_per_s")]
        chats = [r["chats"] for r in rows]
        left.set_xlabel("chats")
        left.set_ylabel("token delivery delay (ms, log)")
        left.set_yscale("log")
        right = left.twinx()
        right.plot(
            chats,
            [r["worker_cpu_s_per_1k_tokens"] for r in rows],
            "^--",
            color="gray",
            label="worker CPU s / 1k tokens",
        )
        right.set_ylabel("worker CPU s per 1k tokens")
        fig.legend(loc="upper center", fontsize="x-small", ncols=3)
        fig.tight_layout()
        fig.savefig(out / "concurrency.png", dpi=110)
        plt.close(fig)
    if results.get("long"):
        ttft = results["long"]["ttft_ms"]
        fig, axis = plt.subplots(figsize=(6, 3.5))
        axis.plot(range(1, len(ttft) + 1), ttft, ".", markersize=3)
        axis.set_xlabel("turn")
        axis.set_ylabel("time to first token (ms)")
        axis.set_ylim(bottom=0)
        fig.tight_layout()
        fig.savefig(out / "long.png", dpi=110)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, nothing written")
    parser.add_argument(
        "--only",
        default=",".join(NAMES),
        help=f"comma list of {NAMES}; updates those sections of docs/bench/results.json",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    parser.add_argument(
        "--crash-workers", type=int, help="crashes: worker processes killed in turn (default 2)"
    )
    parser.add_argument(
        "--crash-every", type=float, help="crashes: seconds between two kills (default 3)"
    )
    parser.add_argument(
        "--crash-bytecode",
        action="store_true",
        help="crashes: workers start from a bytecode cache, as a production image's do",
    )
    parser.add_argument(
        "--render", action="store_true", help="only re-render README.md and plots from results.json"
    )
    args = parser.parse_args()
    if args.render:
        results = json.loads((args.out / "results.json").read_text())
        (args.out / "README.md").write_text(markdown(results))
        plots(results, args.out)
        return
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {NAMES}")
    size = QUICK if args.quick else FULL
    crash_options = {
        "workers": args.crash_workers,
        "every": args.crash_every,
        "bytecode": args.crash_bytecode,
    }
    size = {**size, "crashes": {**size["crashes"], **{k: v for k, v in crash_options.items() if v}}}
    harness = Harness.start()
    try:
        results = asyncio.run(run_all(harness, size, only))
    finally:
        harness.stop()
    print(f"done in {results['elapsed_s']:.0f} s")
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        previous = args.out / "results.json"
        if set(only) != set(NAMES) and previous.exists():
            # A partial run updates its own sections of the last full run's results.
            merged = json.loads(previous.read_text())
            merged.update({k: v for k, v in results.items() if k in only})
            merged["updated"] = {"sections": only, "elapsed_s": results["elapsed_s"]}
            results = merged
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "README.md").write_text(markdown(results))
        plots(results, args.out)


if __name__ == "__main__":
    main()
