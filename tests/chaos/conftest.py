"""Fixtures of the chaos suite: a stack of the scenario's own (it kills Redis and Temporal, so
it cannot share the session's), worker and gateway subprocesses, and the scripted model.

`pytest -m chaos` runs the bounded form (what CI runs with every test run);
`AGENTCHAT_CHAOS=full pytest -m chaos` the full one. See docs/reliability.md.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentchat.testing import FakeOpenAIServer
from tests.chaos.harness import REPORTS, Plan, Report, Script, mode, seed
from tests.chaos.services import ChaosStack, GatewayPool, WorkerPool


def pytest_configure(config: pytest.Config) -> None:
    mode()  # a bad AGENTCHAT_CHAOS fails at once, not after the stack started


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test here starts servers and kills them: `chaos`, and `integration` so that
    # scripts/check.sh (-m "not integration") leaves them out while a plain `pytest` runs them.
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.section("chaos")
        for line in REPORTS:
            terminalreporter.write_line(line)


@pytest.fixture
def chaos_stack(tmp_path: Path) -> Iterator[ChaosStack]:
    stack = ChaosStack(tmp_path / "stack").start()
    yield stack
    stack.stop()


@pytest.fixture
def workers(
    chaos_stack: ChaosStack, model_server: FakeOpenAIServer, tmp_path: Path
) -> Iterator[WorkerPool]:
    pool = WorkerPool(chaos_stack.settings, model_server.base_url, tmp_path)
    yield pool
    pool.stop()


@pytest.fixture
def gateways(chaos_stack: ChaosStack, tmp_path: Path) -> Iterator[GatewayPool]:
    pool = GatewayPool(chaos_stack.settings, tmp_path)
    yield pool
    pool.stop()


@pytest.fixture
def scripted(model_server: FakeOpenAIServer) -> Iterator[Callable[[Plan], Script]]:
    """Factory: the loopback model answering with the plan's numbered words (the shared
    server is reset afterwards)."""

    def script(plan: Plan) -> Script:
        answers = Script(plan.words, plan.token_delay)
        model_server.reply = answers
        model_server.token_delay = plan.token_delay
        return answers

    yield script
    model_server.reset()


@pytest.fixture
def chaos_rng() -> tuple[random.Random, int]:
    value = seed()
    return random.Random(value), value


@pytest.fixture
def record_report() -> Callable[[Report], None]:
    """Print a scenario's summary line now (seen with -s) and at the end of the run."""

    def record(report: Report) -> None:
        line = report.line()
        print(line)
        REPORTS.append(line)

    return record
