"""Prometheus metrics for workers and gateways (the `metrics` extra).

Placeholder interface; the implementation replaces this module.
"""

from __future__ import annotations

__all__ = ["render", "start_metrics_server"]


def start_metrics_server(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve `/metrics` and `/healthz` for a worker process on `port`."""
    raise NotImplementedError


def render() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, and its content type."""
    raise NotImplementedError
