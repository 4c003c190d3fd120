"""The chat page's files: the HTML loads `js/main.js` as a module, and every module it
imports is served as JavaScript (a browser refuses to run a module script of another type)."""

from __future__ import annotations

import mimetypes
import re
from importlib import resources

import httpx
import pytest

from agentchat import Settings
from agentchat.gateway import GatewayConfig, create_app

JS = resources.files("agentchat.gateway").joinpath("static", "js")
IMPORT = re.compile(r"""^import\s[^;]*?from\s+'\./([\w-]+\.js)';""", re.MULTILINE | re.DOTALL)


def client() -> httpx.AsyncClient:
    app = create_app(Settings(), GatewayConfig(api_keys=("k",)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def module_graph() -> set[str]:
    """The modules main.js reaches through its imports (and theirs)."""
    seen: set[str] = set()
    todo = ["main.js"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += IMPORT.findall(JS.joinpath(name).read_text())
    return seen


def test_every_module_is_reached_from_main() -> None:
    files = {p.name for p in JS.iterdir() if p.name.endswith(".js")}
    assert module_graph() == files


async def test_the_page_loads_its_modules_as_javascript() -> None:
    async with client() as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert '<script type="module" src="/static/js/main.js"></script>' in page.text
        for name in sorted(module_graph()):
            response = await http.get(f"/static/js/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith("text/javascript"), name


async def test_scripts_are_javascript_whatever_the_mime_table_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mimetypes.guess_type("x.js")  # loads the table
    monkeypatch.setitem(mimetypes.types_map, ".js", "text/plain")
    assert mimetypes.guess_type("x.js")[0] == "text/plain"
    async with client() as http:
        response = await http.get("/static/js/fold.js")
        css = await http.get("/static/style.css")
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert css.headers["content-type"].startswith("text/css")
