"""Schemathesis against the gateway's OpenAPI document: every operation, with generated valid
and invalid input, must answer without a server error, within a bound, and in the documented
shape; afterwards the gateway still answers a good message.

Schemathesis calls are synchronous, so the gateway and a worker run as subprocesses here (the
in-loop uvicorn of the `gateway` fixture would never be served while a sync test blocks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from agentchat import Settings
from agentchat.gateway import GatewayConfig, create_app
from agentchat.testing.local import LocalStack, free_port
from agentchat.workflows.delete import STREAM_SETTLE
from tests.conftest import ROOT

if TYPE_CHECKING:
    from schemathesis.specs.openapi.schemas import OpenApiCase

API_KEY = "fuzz-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
REQUEST_TIMEOUT = 5.0
"""Bounds every generated request: a streaming answer that does not end by then is a hang."""
MAX_EXAMPLES = 25
"""Generated cases per operation (plus schemathesis' own coverage and example cases)."""


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agentchat", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def gateway_url(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A worker serving tests.agents:all and a gateway in front of it, both subprocesses."""
    logs = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {
        "AGENTCHAT_TEMPORAL_ADDRESS": stack.temporal_address,
        "AGENTCHAT_REDIS_URL": stack.redis_url,
        "AGENTCHAT_DATABASE_URL": stack.database_url,
        "AGENTCHAT_TASK_QUEUE": f"fuzz-{uuid.uuid4().hex[:10]}",
        "AGENTCHAT_API_KEYS": API_KEY,
        "TOOL_LOG": str(logs / "tool.log"),
    }
    worker = _spawn(["worker", "--agents", "tests.agents:all"], env, logs / "worker.log")
    server = _spawn(["gateway", "--port", str(port)], env, logs / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            for process, name in ((worker, "worker"), (server, "gateway")):
                if process.poll() is not None:
                    pytest.fail(f"the {name} exited:\n{(logs / f'{name}.log').read_text()}")
            try:
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the gateway did not start within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        _stop(server)
        _stop(worker)
    log = (logs / "gateway.log").read_text()
    assert "Traceback" not in log, log


# The document the gateway serves, built here so pytest can collect one test per operation
# (`test_the_served_document_is_the_one_tested` checks that the subprocess serves the same).
SPEC = create_app(Settings(), GatewayConfig(api_keys=(API_KEY,))).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.unsupported_method,
    checks.ignored_auth,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: OpenApiCase, gateway_url: str) -> None:
    timeout = REQUEST_TIMEOUT
    if case.operation.method.upper() == "DELETE":
        # A deletion that is waited for lets the run's last stream writes settle first (5 s
        # each, 80 s over the examples): fuzz the rest, test_directory waits for deletions.
        query = case.query or {}
        if query.get("wait") in (None, True, "true"):
            case.query = {**query, "wait": "false"}
        timeout += STREAM_SETTLE.total_seconds()
    response = case.call_and_validate(
        base_url=gateway_url, headers=AUTH, checks=CHECKS, timeout=timeout
    )
    if case.operation.path != "/v1/chats/{chat_id}/events":  # (which follows a live chat)
        # A stream still open at the timeout waits for something that never comes.
        assert not response.stream_cut_short, (
            f"{case.operation.label} hung: {case.as_curl_command()}"
        )


def test_the_served_document_is_the_one_tested(gateway_url: str) -> None:
    assert httpx.get(f"{gateway_url}/openapi.json").json() == SPEC


def test_a_good_message_is_still_answered(gateway_url: str) -> None:
    chat_id = f"after-fuzz-{uuid.uuid4().hex[:8]}"
    events: list[dict[str, Any]] = []
    with (
        httpx.Client(base_url=gateway_url, headers=AUTH, timeout=REQUEST_TIMEOUT) as client,
        client.stream(
            "POST",
            f"/v1/chats/{chat_id}/messages",
            json={"agent": "quick", "message": "still there?"},
        ) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[0]["k"] == "accepted"
    assert events[-1] == {**events[-1], "k": "turn-end", "status": "completed"}
    text = "".join(e["c"].get("delta", "") for e in events if e["k"] == "chunk")
    assert "still there?" in text
