"""The layout stays a map: no import cycles, and the import contracts in pyproject.toml hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_imports_one_that_imports_it_back() -> None:
    # Every import counts: at module level, inside functions (a deferred import that dodges a
    # cycle is the cycle still there) and under TYPE_CHECKING. The root package is left out:
    # it imports nothing when run (its names load lazily), so it closes no cycle.
    graph = grimp.build_graph("agentchat")
    cycles = []
    for module in sorted(graph.modules):
        if module == "agentchat":
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported == "agentchat" or imported == module:
                continue
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None and "agentchat" not in back:
                cycles.append(" -> ".join((module, *back)))
    assert cycles == []


def test_the_import_contracts_hold() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "broken" in out.stdout and " 0 broken" in out.stdout


def test_every_install_uses_the_same_uv() -> None:
    import re
    import tomllib

    script = (ROOT / "scripts/lib/uv.sh").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = re.search(r"^UV_VERSION=(\S+)$", script, re.M)
    in_image = re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.M)
    assert pinned and in_image
    assert pinned.group(1) == in_image.group(1)
    assert pyproject["tool"]["uv"]["required-version"] == f"=={pinned.group(1)}"
