#!/usr/bin/env python3
"""Container health check for the agentchat image (`agentchat-healthcheck`).

    agentchat-healthcheck [URL]

With a URL: healthy when a GET of it answers 2xx within the timeout. Without one it looks at
the container's main process: a gateway is checked on its `/healthz`
(`AGENTCHAT_GATEWAY_PORT`, default 8080), a worker on the `/healthz` of its metrics port
(`AGENTCHAT_METRICS_PORT`; a worker without one has nothing to probe and counts as healthy),
anything else (`agentchat send`, `--help`) counts as healthy. Standard library only: the
slim image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT = float(os.environ.get("HEALTHCHECK_TIMEOUT", "4"))


def _main_command() -> list[str]:
    try:
        with open("/proc/1/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def default_url(argv: list[str]) -> str | None:
    """The URL to probe for a container whose main process runs `argv`."""
    if "gateway" in argv:
        port = _option(argv, "--port") or os.environ.get("AGENTCHAT_GATEWAY_PORT") or "8080"
        return f"http://127.0.0.1:{port}/healthz"
    if "worker" in argv:
        port = os.environ.get("AGENTCHAT_METRICS_PORT", "").strip()
        if port and port != "0":
            return f"http://127.0.0.1:{port}/healthz"
    return None


def probe(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if not 200 <= status < 300:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


def main(args: list[str]) -> int:
    url = args[0] if args else default_url(_main_command())
    return 0 if url is None else probe(url)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
