"""OpenTelemetry tracing through temporalio's interceptor (the `otel` extra).

Tracing is on when the `otel` extra is installed and the environment asks for it:
`AGENTCHAT_TRACING=otel`, or a standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (`AGENTCHAT_TRACING=off` wins over both). Then every
Temporal client is created with temporalio's `TracingInterceptor`, and so is every worker
built from such a client: a trace runs from the client call (start, update, signal) through
the workflow to its activities, across processes, in Temporal headers.

`configure_tracing` installs an SDK `TracerProvider` exporting OTLP over HTTP, configured by
the standard variables (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`); `OTEL_TRACES_EXPORTER=console` prints
spans instead, `none` exports nothing. An application that set up its own provider keeps it.
"""

from __future__ import annotations

import os
from typing import Any

from temporalio.client import Interceptor

from agentchat.errors import ConfigurationError

__all__ = ["client_interceptors", "configure_tracing", "tracing_enabled"]

_INSTALL_HINT = "pip install 'agentchat[otel]'"
_ON = frozenset({"otel", "on", "true", "1", "yes"})
_OFF = frozenset({"off", "none", "false", "0", "no"})


def tracing_enabled() -> bool:
    """Whether the environment asks for tracing (see the module docstring).

    Raises:
        ConfigurationError: `AGENTCHAT_TRACING` has a value other than on/off words.
    """
    value = os.environ.get("AGENTCHAT_TRACING", "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    if value:
        raise ConfigurationError(
            f"unknown AGENTCHAT_TRACING {value!r}: use 'otel' to trace, 'off' not to"
        )
    return any(
        os.environ.get(name, "").strip()
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _tracing_interceptor() -> Interceptor:
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        raise ConfigurationError(
            f"tracing was asked for (AGENTCHAT_TRACING or OTEL_EXPORTER_OTLP_ENDPOINT) but"
            f" OpenTelemetry is not installed: {_INSTALL_HINT}, or unset those variables"
        ) from None
    return TracingInterceptor()


def client_interceptors() -> list[Interceptor]:
    """Interceptors every Temporal client (and so every worker) is created with.

    Returns:
        `[TracingInterceptor()]` when tracing is enabled, else `[]`.

    Raises:
        ConfigurationError: tracing is asked for but the `otel` extra is not installed.
    """
    return [_tracing_interceptor()] if tracing_enabled() else []


def configure_tracing(service_name: str = "agentchat") -> bool:
    """Install a global `TracerProvider` exporting spans, if tracing is on and none is set.

    Args:
        service_name: The `service.name` resource attribute unless `OTEL_SERVICE_NAME` or
            `OTEL_RESOURCE_ATTRIBUTES` names one.

    Returns:
        Whether tracing is on (with this provider or one the application installed).

    Raises:
        ConfigurationError: tracing is asked for but the `otel` extra is not installed.
    """
    if not tracing_enabled():
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError:
        raise ConfigurationError(
            f"tracing was asked for but the OpenTelemetry SDK is not installed: {_INSTALL_HINT}"
        ) from None
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return True  # the application configured its own: leave it alone
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, but attributes
    # passed to it win: pass our default name only when the environment names no service.
    named = os.environ.get("OTEL_SERVICE_NAME", "").strip() or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create() if named else Resource.create({SERVICE_NAME: service_name})
    provider = TracerProvider(resource=resource)
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    exporter: SpanExporter | None
    if kind == "console":
        exporter = ConsoleSpanExporter()
    elif kind == "none":
        exporter = None
    elif kind in ("otlp", "otlp_proto_http", ""):
        exporter = _otlp_http_exporter()
    else:
        raise ConfigurationError(
            f"unsupported OTEL_TRACES_EXPORTER {kind!r}: agentchat sets up 'otlp' (over HTTP),"
            " 'console' or 'none'; configure a TracerProvider yourself for others"
        )
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True


def _otlp_http_exporter() -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigurationError(
            f"the OTLP/HTTP span exporter is not installed: {_INSTALL_HINT}"
        ) from None
    # No arguments: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, etc.
    return OTLPSpanExporter()
