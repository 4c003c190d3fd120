"""`agentchat check`: is every part a chat needs reachable from here?

Each check names its part and, on failure, says why in words that carry no secret: URLs are
redacted and API keys never printed. The command exits non-zero when any part fails;
`run_checks` is the same, for Python callers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import click
import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest

from agentchat.cli._common import connection_options, exit_now, settings_from
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import AgentChatError
from agentchat.settings import Settings, redact_url

__all__ = ["CheckResult", "check", "run_checks"]

PARTS = ("temporal", "redis", "worker", "gateway")


@dataclass(frozen=True)
class CheckResult:
    """One part's verdict.

    Attributes:
        part: `temporal`, `redis`, `worker` or `gateway`.
        ok: Whether the part answered as needed.
        detail: Where it was looked for, and what went wrong.
    """

    part: str
    ok: bool
    detail: str


async def run_checks(
    settings: Settings, *, skip: frozenset[str] = frozenset()
) -> list[CheckResult]:
    """Check every part not in `skip`, concurrently, each within the connect timeout."""
    checks = {"temporal": _temporal, "redis": _redis, "worker": _worker, "gateway": _gateway}
    results = await asyncio.gather(
        *(_guard(part, checks[part](settings), settings) for part in PARTS if part not in skip)
    )
    return [result for result in results if result is not None]


async def _guard(
    part: str, check: Coroutine[Any, Any, CheckResult | None], settings: Settings
) -> CheckResult | None:
    try:
        return await asyncio.wait_for(check, settings.connect_timeout + 1)
    except AgentChatError as exc:
        return CheckResult(part, False, str(exc))
    except TimeoutError:
        return CheckResult(part, False, f"no answer within {settings.connect_timeout + 1:g}s")
    except Exception as exc:  # a check reports; it does not crash
        return CheckResult(part, False, f"{type(exc).__name__}: {_clean(str(exc), settings)}")


def _clean(text: str, settings: Settings) -> str:
    # Driver errors can echo the URL they were given; never let a password through.
    return text.replace(settings.redis_url, redact_url(settings.redis_url))[:300]


async def _temporal(settings: Settings) -> CheckResult:
    client = await get_temporal(settings)
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=settings.temporal_namespace)
    )
    return CheckResult(
        "temporal",
        True,
        f"{settings.temporal_address}, namespace {settings.temporal_namespace!r}",
    )


async def _redis(settings: Settings) -> CheckResult:
    redis = await get_redis(settings, check=True)
    info = await redis.info("server")
    version = info.get("redis_version", "?") if isinstance(info, dict) else "?"
    return CheckResult("redis", True, f"{redact_url(settings.redis_url)} (Redis {version})")


async def _worker(settings: Settings) -> CheckResult:
    client = await get_temporal(settings)
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    pollers = {poller.identity for poller in response.pollers}
    if not pollers:
        return CheckResult(
            "worker",
            False,
            f"no worker polls task queue {settings.task_queue!r}: start one with"
            " `agentchat worker --agents module:attr` (AGENTCHAT_TASK_QUEUE must match)",
        )
    return CheckResult("worker", True, f"{len(pollers)} polling task queue {settings.task_queue!r}")


async def _gateway(settings: Settings) -> CheckResult | None:
    if not settings.url:
        return None
    url = settings.url.rstrip("/") + "/readyz"
    shown = redact_url(url)
    async with httpx.AsyncClient(timeout=settings.connect_timeout) as client:
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            return CheckResult("gateway", False, f"cannot reach {shown}: {type(exc).__name__}")
    if response.status_code != 200:
        failing: list[str] = []
        if response.headers.get("content-type", "").startswith("application/json"):
            states = response.json().get("checks", {})
            failing = [name for name, state in states.items() if state != "ok"]
        why = f" ({', '.join(failing)} not ok)" if failing else ""
        return CheckResult("gateway", False, f"{shown} answered {response.status_code}{why}")
    return CheckResult("gateway", True, shown)


@click.command()
@click.option(
    "--skip",
    type=click.Choice(PARTS),
    multiple=True,
    help="Parts not to check; repeatable.",
)
@click.option(
    "--url",
    envvar="AGENTCHAT_URL",
    default=None,
    help="Gateway to check via its /readyz [env AGENTCHAT_URL; unchecked when unset]",
)
@connection_options
def check(skip: tuple[str, ...], url: str | None, **conn: Any) -> None:
    """Check that Temporal, Redis, a worker and the gateway are reachable.

    Exits 1 naming each part that is not, so it serves as a deploy step or health check.
    """
    settings = settings_from(**conn).with_overrides(url=url)
    results = asyncio.run(run_checks(settings, skip=frozenset(skip)))
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        click.echo(f"{mark} {result.part:<9} {result.detail}", err=not result.ok)
    failed = [result.part for result in results if not result.ok]
    if failed:
        click.echo(f"unreachable: {', '.join(failed)}", err=True)
    exit_now(1 if failed else 0)
