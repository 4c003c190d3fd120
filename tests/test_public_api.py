"""The public surface is small and frozen; importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import agentchat


def test_public_names_are_frozen() -> None:
    assert agentchat.__all__ == [
        "Agent",
        "AgentChat",
        "AgentChatError",
        "ChatResult",
        "ChatSession",
        "ChatStream",
        "PreloadContext",
        "Settings",
        "UIMessage",
        "__version__",
        "run_worker",
    ]
    for name in agentchat.__all__:
        assert getattr(agentchat, name) is not None


def test_import_pulls_in_no_io_libraries() -> None:
    code = (
        "import sys, agentchat; "
        "print(sorted(m for m in ('redis', 'httpx', 'openai', 'temporalio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_workflow_package_imports_no_io_libraries() -> None:
    code = (
        "import sys, agentchat.workflows; "
        "print(sorted(m for m in ('redis', 'httpx', 'openai', 'orjson') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
