"""Prometheus metrics for workers and gateways (the `metrics` extra).

Recording is off until something will expose the numbers: `start_metrics_server` (a worker
with `AGENTCHAT_METRICS_PORT`), `render` (the gateway's `GET /metrics`) or `enable` (an
application that serves the default `prometheus_client` registry itself). Until then, and
whenever `prometheus-client` is not installed, every recording call is a cheap no-op, so an
`AgentChat` in a webhook never imports prometheus_client (≈50 ms) or pays per token.

Metrics (all in the default registry; labels are bounded: never a chat id):

| name | type | labels |
| --- | --- | --- |
| `agentchat_turns_started_total` | counter | agent |
| `agentchat_turns_finished_total` | counter | agent, status (completed, stopped, failed) |
| `agentchat_turn_duration_seconds` | histogram | agent, status |
| `agentchat_time_to_first_token_seconds` | histogram | agent |
| `agentchat_llm_steps_total` | counter | agent, outcome (ok, stopped, error) |
| `agentchat_llm_step_errors_total` | counter | agent, type |
| `agentchat_llm_prefetches_total` | counter | agent, outcome (used, discarded) |
| `agentchat_tokens_total` | counter | agent, model, kind (input, output, cached, reasoning) |
| `agentchat_tool_calls_total` | counter | agent, tool, outcome (ok, error, cancelled) |
| `agentchat_tool_errors_total` | counter | agent, tool, kind (see below) |
| `agentchat_tool_call_duration_seconds` | histogram | agent, tool |
| `agentchat_stream_write_batches_total` | counter | outcome (ok, fenced, error) |
| `agentchat_stream_write_batch_entries` | histogram | |
| `agentchat_stream_write_duration_seconds` | histogram | |
| `agentchat_active_streams` | gauge | api (native, aisdk) |
| `agentchat_streams_opened_total` | counter | api |

Tokens are counted as the provider reported them, per model call that returned (LLM steps,
compaction summaries, titles): `input` counts whole prompts, cached tokens included, and
`cached` is the part read from the prompt cache; `output` counts everything generated, and
`reasoning` is the part spent thinking. A call whose result a crash kept from Temporal is run
again and counted again, as the provider bills it again.

Tool error kinds are `invalid_input`, `unknown_tool` and `exception` (the tool raised).

A prefetch is a step's model request sent while Temporal records the step (see
`agentchat.activities.prefetch`): `used` when the step took it over, `discarded` when it was
closed unused (the step ran elsewhere, or was a retry), which paid for a prompt twice.

Time to first token is measured per LLM step attempt, in the step activity: from the activity
starting on the worker to the model's first text or tool-call chunk being handed to the stream
writer (which sends a first chunk at once, without waiting for a batch). A step whose
request was sent early (a prefetch) started with its stream under way: its figure is what was
left of the model's wait.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from agentchat.errors import ConfigurationError

__all__ = [
    "MetricsServer",
    "enable",
    "enabled",
    "first_token",
    "llm_step",
    "prefetch",
    "render",
    "start_metrics_server",
    "stream_write",
    "tokens",
    "tool_call",
    "track_stream",
    "turn_finished",
    "turn_started",
]

_INSTALL_HINT = "Prometheus metrics need prometheus-client: pip install 'agentchat[metrics]'"
_LLM_ERROR_TYPES = frozenset(
    {"ModelRequestError", "ModelUnavailable", "StepSuperseded", "WorkerShutdown"}
)

T = TypeVar("T")


class _Metrics:
    """The metric objects, created once `enable` imported prometheus_client."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        latency = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
        self.turns_started = Counter(
            "agentchat_turns_started", "Turns a worker started.", ["agent"]
        )
        self.turns_finished = Counter(
            "agentchat_turns_finished", "Turns that ended, by status.", ["agent", "status"]
        )
        self.turn_duration = Histogram(
            "agentchat_turn_duration_seconds",
            "Seconds from a turn's start record to its end record.",
            ["agent", "status"],
            buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0),
        )
        self.ttft = Histogram(
            "agentchat_time_to_first_token_seconds",
            "Seconds from an LLM step activity starting to its first text or tool chunk.",
            ["agent"],
            buckets=latency,
        )
        self.llm_steps = Counter(
            "agentchat_llm_steps", "LLM step attempts, by outcome.", ["agent", "outcome"]
        )
        self.llm_errors = Counter(
            "agentchat_llm_step_errors", "LLM step attempts that failed.", ["agent", "type"]
        )
        self.prefetches = Counter(
            "agentchat_llm_prefetches",
            "Model requests sent before their step started, by outcome.",
            ["agent", "outcome"],
        )
        self.tokens = Counter(
            "agentchat_tokens",
            "Tokens model calls used, as the provider reported them.",
            ["agent", "model", "kind"],
        )
        self.tool_calls = Counter(
            "agentchat_tool_calls", "Server tool calls, by outcome.", ["agent", "tool", "outcome"]
        )
        self.tool_errors = Counter(
            "agentchat_tool_errors",
            "Tool calls the model got an error for.",
            ["agent", "tool", "kind"],
        )
        self.tool_duration = Histogram(
            "agentchat_tool_call_duration_seconds",
            "Seconds a server tool ran.",
            ["agent", "tool"],
            buckets=latency,
        )
        self.write_batches = Counter(
            "agentchat_stream_write_batches", "Appends to chat streams in Redis.", ["outcome"]
        )
        self.write_entries = Histogram(
            "agentchat_stream_write_batch_entries",
            "Stream entries per Redis append.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
        )
        self.write_duration = Histogram(
            "agentchat_stream_write_duration_seconds",
            "Seconds one append to a chat stream took (one Redis round trip).",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
        )
        self.active_streams = Gauge(
            "agentchat_active_streams", "SSE responses the gateway has open.", ["api"]
        )
        self.streams_opened = Counter(
            "agentchat_streams_opened", "SSE responses the gateway opened.", ["api"]
        )


_metrics: _Metrics | None = None
_lock = threading.Lock()


def enable() -> bool:
    """Start recording into the default `prometheus_client` registry.

    Returns:
        False when prometheus-client is not installed (recording stays a no-op).
    """
    global _metrics
    if _metrics is not None:
        return True
    with _lock:
        if _metrics is None:
            try:
                _metrics = _Metrics()
            except ImportError:
                return False
    return True


def enabled() -> bool:
    """Whether recording calls record anything."""
    return _metrics is not None


def _require() -> None:
    if not enable():
        raise ConfigurationError(_INSTALL_HINT)


# -- recording: each is a no-op until enabled, and never raises into the caller ---------------


def turn_started(agent: str) -> None:
    """Count a turn whose start record this process wrote."""
    if _metrics is not None:
        _metrics.turns_started.labels(agent).inc()


def turn_finished(agent: str, status: str, duration: float | None) -> None:
    """Count a turn's end record, with seconds since its start when known."""
    if _metrics is not None:
        _metrics.turns_finished.labels(agent, status).inc()
        if duration is not None and duration >= 0:
            _metrics.turn_duration.labels(agent, status).observe(duration)


def first_token(agent: str, seconds: float) -> None:
    """Observe an LLM step's time to first token (see the module docstring)."""
    if _metrics is not None:
        _metrics.ttft.labels(agent).observe(seconds)


def llm_step(agent: str, outcome: str, error_type: str | None = None) -> None:
    """Count an LLM step attempt: `ok`, `stopped` or `error` (with the error's type)."""
    if _metrics is not None:
        _metrics.llm_steps.labels(agent, outcome).inc()
        if error_type is not None:
            # Arbitrary exception class names would grow the series without bound.
            kind = error_type if error_type in _LLM_ERROR_TYPES else "other"
            _metrics.llm_errors.labels(agent, kind).inc()


def prefetch(agent: str, outcome: str) -> None:
    """Count a model request sent before its step started: `used` or `discarded`."""
    if _metrics is not None:
        _metrics.prefetches.labels(agent, outcome).inc()


def tokens(
    agent: str,
    model: str,
    *,
    input: int | None = None,
    output: int | None = None,
    cached: int | None = None,
    reasoning: int | None = None,
) -> None:
    """Count one model call's tokens (None: not reported, nothing counted)."""
    if _metrics is not None:
        for kind, count in (
            ("input", input),
            ("output", output),
            ("cached", cached),
            ("reasoning", reasoning),
        ):
            if count:
                _metrics.tokens.labels(agent, model, kind).inc(count)


def tool_call(
    agent: str,
    tool: str,
    outcome: str,
    *,
    error_kind: str | None = None,
    seconds: float | None = None,
) -> None:
    """Count a tool call; `tool` must be a name the agent defines (the caller maps others)."""
    if _metrics is not None:
        _metrics.tool_calls.labels(agent, tool, outcome).inc()
        if error_kind is not None:
            _metrics.tool_errors.labels(agent, tool, error_kind).inc()
        if seconds is not None:
            _metrics.tool_duration.labels(agent, tool).observe(seconds)


def stream_write(entries: int, outcome: str, seconds: float) -> None:
    """Record one append of `entries` envelopes to a chat stream: `ok`, `fenced` or `error`."""
    if _metrics is not None:
        _metrics.write_batches.labels(outcome).inc()
        _metrics.write_entries.observe(entries)
        _metrics.write_duration.observe(seconds)


def track_stream(api: str, events: AsyncIterator[T]) -> AsyncIterator[T]:
    """`events`, counted as an active stream while it is iterated (as is, when not recording).

    The gauge drops when the generator finishes, fails, or is closed or cancelled because
    the client went away.
    """
    if _metrics is None:
        return events
    return _tracked(_metrics, api, events)


async def _tracked(metrics: _Metrics, api: str, events: AsyncIterator[T]) -> AsyncIterator[T]:
    metrics.streams_opened.labels(api).inc()
    gauge = metrics.active_streams.labels(api)
    gauge.inc()
    try:
        async for event in events:
            yield event
    finally:
        gauge.dec()


# -- exposition ------------------------------------------------------------------------------


def render() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, and its content type.

    Raises:
        ConfigurationError: prometheus-client is not installed.
    """
    _require()
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


@dataclass
class MetricsServer:
    """A running worker metrics server; `port` is the bound one (useful with port 0)."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # One thread per scrape so a slow client cannot block the health check.
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not worth a log line


def start_metrics_server(
    port: int,
    host: str = "0.0.0.0",
    *,
    healthy: Callable[[], bool] | None = None,
) -> MetricsServer:
    """Serve `/metrics` and `/healthz` for a worker process on `port`, in a daemon thread.

    `/metrics` is the Prometheus text format (gzip when asked for); `/healthz` answers
    `200 ok`, or `503` while `healthy()` returns False; other paths are `404`.

    Args:
        port: The TCP port; 0 picks a free one (see `MetricsServer.port`).
        host: The address to bind.
        healthy: Optional liveness probe behind `/healthz`.

    Raises:
        ConfigurationError: prometheus-client is not installed.
    """
    _require()
    from prometheus_client import REGISTRY, make_wsgi_app

    metrics_app = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            ok = healthy is None or healthy()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n" if ok else b"unhealthy\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /healthz\n"]

    server = make_server(host, port, app, _ThreadingServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="agentchat metrics", daemon=True)
    thread.start()
    return MetricsServer(server, thread)
