"""A loopback server speaking Anthropic's Messages streaming protocol, for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentchat.testing import FakeAnthropicServer


@pytest.fixture(scope="session")
async def anthropic_server() -> AsyncIterator[FakeAnthropicServer]:
    server = await FakeAnthropicServer().start()
    yield server
    await server.stop()


@pytest.fixture
def claude(anthropic_server: FakeAnthropicServer) -> FakeAnthropicServer:
    """The loopback Anthropic server, reset for this test."""
    anthropic_server.reset()
    return anthropic_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Like `openai_server` (tests/conftest.py): a test that starts a server is an integration
    # test, which `scripts/check.sh`'s fast loop leaves out.
    for item in items:
        if "anthropic_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
