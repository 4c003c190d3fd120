"""OpenTelemetry tracing through temporalio's interceptor (the `otel` extra).

Placeholder interface; the implementation replaces this module.
"""

from __future__ import annotations

from temporalio.client import Interceptor

__all__ = ["client_interceptors"]


def client_interceptors() -> list[Interceptor]:
    """Interceptors every Temporal client (and so every worker) is created with."""
    return []
