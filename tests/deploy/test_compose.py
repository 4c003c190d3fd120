"""The docker-compose stack and the Dockerfile, checked without a Docker engine.

`docker-compose config` (Debian's docker-compose package) validates and normalizes the
compose file; the assertions below read its output for the mistakes that would only show at
`docker compose up`: a dependency that never turns healthy, a misspelt setting, a secret with
a default, a port that does not match its health check. The Dockerfile is parsed for the
rules of the deployment issue (pinned base, non-root user, health check, real extras).
Nothing is built or run.
"""

from __future__ import annotations

import fnmatch
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from agentchat.agent import load_agents
from agentchat.testing.local import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CLOUD_OVERRIDE = ROOT / "deploy" / "compose.temporal-cloud.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"

# Dummy values so `config` can interpolate the required secrets; never used anywhere real.
SECRETS = {"AGENTCHAT_API_KEYS": "ci-dummy-key", "POSTGRES_PASSWORD": "ci-dummy-password"}
APP_SERVICES = ("worker", "gateway")
SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|PWD|TOKEN)S?$")


# -- running docker-compose ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_bin() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        reason = "docker-compose is not installed (apt-get install docker-compose)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must validate docker-compose.yml")
        pytest.skip(reason)
    return path


def run_compose(
    compose_bin: str,
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    files: tuple[Path, ...] = (COMPOSE,),
) -> subprocess.CompletedProcess[str]:
    """`docker-compose <args>` with exactly `env`: not the caller's shell, not a local .env."""
    empty = tmp_path / "empty.env"
    empty.touch()
    cmd = [compose_bin, "--project-directory", str(ROOT), "--env-file", str(empty)]
    for file in files:
        cmd += ["-f", str(file)]
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    return subprocess.run(
        [*cmd, *args],
        env={**base, **(SECRETS if env is None else env)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def load_config(compose_bin: str, tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    result = run_compose(compose_bin, tmp_path, "config", **kwargs)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture(scope="module")
def config(compose_bin: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The normalized compose file, as `docker compose up` would see it with only the secrets."""
    return load_config(compose_bin, tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = config["services"]
    return result


@cache
def raw_compose(path: Path = COMPOSE) -> dict[str, Any]:
    """The file as written (anchors merged), before interpolation."""
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


@cache
def agentchat_variables() -> frozenset[str]:
    """Every `AGENTCHAT_*` name the package's source mentions."""
    names: set[str] = set()
    for path in (ROOT / "agentchat").rglob("*.py"):
        names.update(re.findall(r"\bAGENTCHAT_[A-Z0-9_]+\b", path.read_text()))
    return frozenset(names)


def depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):  # short syntax means service_started
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def parse_port(port: str | dict[str, Any]) -> dict[str, str]:
    """A published port as host_ip, published and target, from either output style."""
    if isinstance(port, dict):  # the long syntax (newer compose)
        return {k: str(port.get(k, "")) for k in ("host_ip", "published", "target")}
    parts = port.split("/")[0].split(":")  # [host_ip:][published:]target, IPv4 hosts only
    parts = [""] * (3 - len(parts)) + parts
    return dict(zip(("host_ip", "published", "target"), parts, strict=True))


def port_of(url: str) -> str:
    match = re.search(r"://[^/:]+:(\d+)/", url)
    assert match, url
    return match.group(1)


# -- the compose file ------------------------------------------------------------------------


def test_config_validates(compose_bin: str, tmp_path: Path) -> None:
    result = run_compose(compose_bin, tmp_path, "config", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_required_secrets_have_no_default(compose_bin: str, tmp_path: Path, missing: str) -> None:
    env = {name: value for name, value in SECRETS.items() if name != missing}
    result = run_compose(compose_bin, tmp_path, "config", "-q", env=env)
    assert result.returncode != 0
    assert missing in result.stderr
    # An empty value (a copied .env.example nobody filled in) is refused too.
    result = run_compose(compose_bin, tmp_path, "config", "-q", env={**env, missing: ""})
    assert result.returncode != 0


def test_expected_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgresql", "temporal", "temporal-ui", "redis", "worker", "gateway"} <= set(services)


def test_built_services_use_the_repo_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    built = {name for name, service in services.items() if "build" in service}
    assert built == set(APP_SERVICES)
    for name in built:
        build = services[name]["build"]
        assert Path(build["context"]).resolve() == ROOT, name
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile", name
    assert DOCKERFILE.is_file()
    # One image for both roles, so `--build` builds it once.
    assert len({services[name]["image"] for name in built}) == 1


def test_app_services_are_healthy_only_after_temporal_and_redis(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        service = services[name]
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not service["healthcheck"].get("disable"), name
        deps = depends(service)
        assert deps.get("temporal") == "service_healthy", name
        assert deps.get("redis") == "service_healthy", name
        # A healthy frontend does not mean the namespace exists yet.
        assert deps.get("temporal-namespace") == "service_completed_successfully", name


def test_dependency_conditions_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    """`service_healthy` on a service without a health check, or `completed` on a service
    that restarts forever, would leave `docker compose up` waiting for good."""
    for name, service in services.items():
        for dep, condition in depends(service).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy"
            elif condition == "service_completed_successfully":
                restart = services[dep].get("restart", "no")
                assert restart == "no" or restart.startswith("on-failure"), (name, dep)


def test_health_checks_probe_the_ports_the_processes_serve(
    services: dict[str, dict[str, Any]],
) -> None:
    worker, gateway = services["worker"], services["gateway"]
    assert worker["healthcheck"]["test"][1] == "agentchat-healthcheck"
    worker_url = worker["healthcheck"]["test"][2]
    assert worker_url.endswith("/healthz")
    assert port_of(worker_url) == worker["environment"]["AGENTCHAT_METRICS_PORT"]

    gateway_url = gateway["healthcheck"]["test"][2]
    assert gateway_url.endswith("/healthz")
    env = gateway["environment"]
    assert port_of(gateway_url) == env["AGENTCHAT_GATEWAY_PORT"]
    assert [parse_port(p)["target"] for p in gateway["ports"]] == [env["AGENTCHAT_GATEWAY_PORT"]]
    # Reachable from the host at all; the API keys make that safe (see the secrets test).
    assert env["AGENTCHAT_GATEWAY_HOST"] == "0.0.0.0"
    assert env["AGENTCHAT_API_KEYS"] == SECRETS["AGENTCHAT_API_KEYS"]


def test_workers_and_gateways_drain_before_docker_kills_them(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        service = services[name]
        grace = float(service["environment"]["AGENTCHAT_SHUTDOWN_GRACE"])
        period = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert period, service["stop_grace_period"]
        assert int(period.group(1)) >= grace + 10, name
        assert service.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_app_services_can_scale(compose_bin: str, tmp_path: Path) -> None:
    # A fixed container name or host port would make `--scale` fail; the documented recipe
    # publishes the gateway on a host port range.
    config = load_config(
        compose_bin, tmp_path, env={**SECRETS, "GATEWAY_PUBLISH": "127.0.0.1:8080-8083"}
    )
    for name in APP_SERVICES:
        assert "container_name" not in config["services"][name], name
    [port] = config["services"]["gateway"]["ports"]
    assert parse_port(port)["published"] == "8080-8083"
    assert "ports" not in config["services"]["worker"]


def test_redis_is_append_only_on_a_volume(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    assert redis["image"].startswith("redis:")
    command = redis["command"]
    command = command if isinstance(command, list) else command.split()
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "redis-cli" in redis["healthcheck"]["test"]
    [volume] = [v for v in redis["volumes"] if v.split(":")[1] == "/data"]
    assert volume.split(":")[0] in config["volumes"]


def test_temporal_persists_to_postgres(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    env = temporal["environment"]
    assert env["DB"] in ("postgres12", "postgres12_pgx")
    database = services[env["POSTGRES_SEEDS"]]
    assert database["image"].startswith("postgres:")
    assert any(v.endswith(":/var/lib/postgresql/data:rw") for v in database["volumes"])
    assert "pg_isready" in " ".join(database["healthcheck"]["test"])
    assert env["POSTGRES_PWD"] == database["environment"]["POSTGRES_PASSWORD"]
    assert env["POSTGRES_USER"] == database["environment"]["POSTGRES_USER"]

    schema = services["temporal-schema"]
    assert depends(temporal)["temporal-schema"] == "service_completed_successfully"
    assert schema["environment"]["SQL_PLUGIN"] == env["DB"]
    assert schema["environment"]["SQL_HOST"] == env["POSTGRES_SEEDS"]
    assert schema["environment"]["SQL_PASSWORD"] == env["POSTGRES_PWD"]
    # The setup job migrates to its own version: it must match the server's.
    server_tag = temporal["image"].split(":")[1]
    for job in ("temporal-schema", "temporal-namespace"):
        assert services[job]["image"] == f"temporalio/admin-tools:{server_tag}", job
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_namespace_job_registers_the_namespace_agentchat_uses(
    compose_bin: str, tmp_path: Path
) -> None:
    env = {**SECRETS, "AGENTCHAT_TEMPORAL_NAMESPACE": "x"}
    config = load_config(compose_bin, tmp_path, env=env)
    services = config["services"]
    assert services["temporal-namespace"]["environment"]["NAMESPACE"] == "x"
    for name in APP_SERVICES:
        assert services[name]["environment"]["AGENTCHAT_TEMPORAL_NAMESPACE"] == "x"


def test_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"{name}: {source}"
    # The scripts the one-shot jobs run, and the server's dynamic config file.
    for job in ("temporal-schema", "temporal-namespace"):
        [script] = [a for a in services[job]["command"] if a.startswith("/scripts/")]
        path = ROOT / "deploy" / "temporal" / script.removeprefix("/scripts/")
        assert path.is_file(), script
        subprocess.run(["sh", "-n", str(path)], check=True)
    temporal = services["temporal"]
    # Relative paths are resolved against the server image's working directory.
    dynamic = os.path.join("/etc/temporal", temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"])
    [mount] = [v for v in temporal["volumes"] if dynamic.startswith(v.split(":")[1] + "/")]
    source, target = mount.split(":")[:2]
    dynamic_config = yaml.safe_load((Path(source) / dynamic.removeprefix(target + "/")).read_text())
    for key, values in dynamic_config.items():
        assert isinstance(values, list), key
        assert all("value" in entry for entry in values), key


def test_ports_are_published_on_loopback_by_default(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            assert parse_port(port)["host_ip"] == "127.0.0.1", f"{name} publishes {port}"
            published += 1
    assert published >= 3  # gateway, Temporal frontend, Temporal UI


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        assert "@sha256:" in image or re.search(r":[^/]*\d", image), f"{name}: {image}"
        assert not image.endswith(":latest"), name


def test_no_secret_has_a_literal_value() -> None:
    """Secrets come from the environment or .env: `${X:?...}`, `${X:-}` or pass-through."""
    for path in (COMPOSE, CLOUD_OVERRIDE):
        for name, service in raw_compose(path)["services"].items():
            env = service.get("environment") or {}
            assert isinstance(env, dict), f"{path.name}: {name}: use the mapping form"
            for key, value in env.items():
                if not SECRET_NAME.search(key):
                    continue
                assert value is None or re.fullmatch(r"\$\{\w+(:\?[^}]*|:-)?\}", str(value)), (
                    f"{path.name}: {name}.{key} = {value!r}"
                )


def test_every_agentchat_variable_is_real() -> None:
    """A misspelt `AGENTCHAT_*` name would be silently ignored by the processes."""
    known = agentchat_variables()
    for path in (COMPOSE, CLOUD_OVERRIDE, ENV_EXAMPLE, DOCKERFILE, HEALTHCHECK):
        used = set(re.findall(r"\bAGENTCHAT_[A-Z0-9_]+\b", path.read_text()))
        assert used - known == set(), f"{path.name} names unknown variables"
    # And the compose file sets the ones the issue asks for.
    worker = raw_compose()["services"]["worker"]["environment"]
    gateway = raw_compose()["services"]["gateway"]["environment"]
    assert {
        "AGENTCHAT_TEMPORAL_ADDRESS",
        "AGENTCHAT_TEMPORAL_NAMESPACE",
        "AGENTCHAT_TASK_QUEUE",
        "AGENTCHAT_REDIS_URL",
        "AGENTCHAT_SHUTDOWN_GRACE",
        "AGENTCHAT_METRICS_PORT",
        "AGENTCHAT_LOG_FORMAT",
        "AGENTCHAT_LOG_LEVEL",
    } <= set(worker)
    assert {"AGENTCHAT_API_KEYS", "AGENTCHAT_GATEWAY_HOST", "AGENTCHAT_GATEWAY_PORT"} <= set(
        gateway
    )


def test_env_example_covers_the_compose_variables() -> None:
    """Every variable the compose file interpolates is documented in deploy/.env.example."""
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*(\w+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert used - documented == set()


def test_default_agents_load_and_include_the_gateway_default(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    command = services["worker"]["command"]
    assert command[0] == "worker"
    ref = command[command.index("--agents") + 1]
    names = {agent.name for agent in load_agents([ref])}
    assert services["gateway"]["environment"]["AGENTCHAT_GATEWAY_AGENT"] in names
    # The example in the mounted agents folder loads the way the worker would load it.
    monkeypatch.syspath_prepend(str(ROOT / "deploy" / "agents"))
    assert [agent.name for agent in load_agents(["example_agents:agents"])] == ["counter"]


def test_temporal_cloud_override(compose_bin: str, tmp_path: Path) -> None:
    env = {
        **SECRETS,
        "AGENTCHAT_TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233",
        "AGENTCHAT_TEMPORAL_NAMESPACE": "ns.acct",
        "TEMPORAL_API_KEY": "ci-dummy",
    }
    files = (COMPOSE, CLOUD_OVERRIDE)
    config = load_config(compose_bin, tmp_path, env=env, files=files)
    for name in APP_SERVICES:
        service_env = config["services"][name]["environment"]
        assert service_env["AGENTCHAT_TEMPORAL_ADDRESS"] == env["AGENTCHAT_TEMPORAL_ADDRESS"]
        assert service_env["TEMPORAL_API_KEY"] == "ci-dummy"
        assert service_env["TEMPORAL_TLS"] is None  # passed through only when set
    # Without an address the override refuses instead of dialling the local server.
    del env["AGENTCHAT_TEMPORAL_ADDRESS"]
    result = run_compose(compose_bin, tmp_path, "config", "-q", env=env, files=files)
    assert result.returncode != 0
    assert "AGENTCHAT_TEMPORAL_ADDRESS" in result.stderr


# -- the Dockerfile --------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per build stage; stage 0 holds the ARGs before any FROM."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), " ".join(args.split())))
    return stages


def arg_defaults() -> dict[str, str]:
    defaults = {}
    for stage in dockerfile_stages():
        for instruction, args in stage:
            if instruction == "ARG" and "=" in args:
                name, _, value = args.partition("=")
                defaults[name] = value.strip('"')
    return defaults


def expand(value: str) -> str:
    defaults = arg_defaults()
    return re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), value)


def final_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def test_dockerfile_base_images_are_pinned() -> None:
    stage_names: set[str] = set()
    for stage in dockerfile_stages()[1:]:
        args = stage[0][1].split()
        args = [a for a in args if not a.startswith("--platform")]
        image = expand(args[0])
        if image not in stage_names:
            assert "@sha256:" in image or re.search(r":[^/]*\d", image), image
            assert not image.endswith(":latest"), image
            assert "slim" in image or "@sha256:" in image, f"{image}: use a small base image"
        if len(args) == 3 and args[1].upper() == "AS":
            stage_names.add(args[2])
    assert len(dockerfile_stages()) >= 3, "multi-stage: a builder and a runtime"


def test_dockerfile_runs_as_non_root() -> None:
    users = [args for instruction, args in final_stage() if instruction == "USER"]
    assert users, "the runtime stage needs a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001" or "10001" in " ".join(a for i, a in final_stage() if i == "RUN")


def test_dockerfile_runtime_contract() -> None:
    stage = final_stage()
    instructions = dict(stage)  # the last of each
    healthcheck = instructions.get("HEALTHCHECK", "")
    assert healthcheck and not healthcheck.upper().startswith("NONE")
    assert "agentchat-healthcheck" in healthcheck
    assert json.loads(instructions["ENTRYPOINT"]) == ["agentchat"]
    assert instructions["STOPSIGNAL"] == "SIGTERM"
    env = " ".join(args for instruction, args in stage if instruction == "ENV")
    for name in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PYTHONPATH=/app/agents"):
        assert name in env
    # No compilers or package installs in the runtime image: it only copies the venv.
    runs = " ".join(args for instruction, args in stage if instruction == "RUN")
    assert not re.search(r"apt-get install|apk add|build-essential|gcc|pip install", runs)
    assert any(i == "COPY" and a.startswith("--from=builder") for i, a in stage)


def test_dockerfile_installs_real_extras_from_the_lock() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    installs = [
        expand(args)
        for stage in dockerfile_stages()
        for instruction, args in stage
        if instruction == "RUN" and "uv sync" in args
    ]
    assert installs, "the builder installs with `uv sync` from uv.lock"
    assert all("--locked" in command for command in installs), installs
    wanted = {extra for command in installs for extra in re.findall(r"--extra (\S+)", command)}
    # The CLI is the entrypoint; the gateway and OpenAI extras serve the stack's two roles.
    assert {"cli", "gateway", "openai"} <= wanted
    assert wanted - extras == set(), f"not in pyproject's optional-dependencies: {wanted - extras}"
    copies = " ".join(args for stage in dockerfile_stages() for i, args in stage if i == "COPY")
    assert "uv.lock" in copies
    assert not dockerignored("uv.lock")


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the repo) out of the build context."""
    ignored = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.removeprefix("**/")]
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(
            fnmatch.fnmatchcase(prefix, candidate)
            or (candidate != pattern and fnmatch.fnmatchcase(part, candidate))
            for candidate in candidates
            for prefix, part in zip(prefixes, parts, strict=True)
        )
        if hit:
            ignored = not negate
    return ignored


def test_dockerfile_copies_only_what_the_context_keeps() -> None:
    sources = []
    for stage in dockerfile_stages():
        for instruction, args in stage:
            if instruction in ("COPY", "ADD") and "--from=" not in args:
                parts = [a for a in args.split() if not a.startswith("--")]
                sources += parts[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source), f".dockerignore drops {source}, which COPY needs"


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    for path in (
        ".git/config",
        ".venv/bin/python",
        "tests/gateway/aisdk/node_modules/x/index.js",
        "node_modules/x",
        ".env",
        "docs/gateway-page.png",
        "bench/results/latency.json",
        "agentchat/__pycache__/x.pyc",
        "agentchat.egg-info/PKG-INFO",
    ):
        assert dockerignored(path), path
    for path in ("pyproject.toml", "README.md", "agentchat/gateway/static/js/main.js"):
        assert not dockerignored(path), path


# -- the health check script -----------------------------------------------------------------


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agentchat_healthcheck", HEALTHCHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def probe_server() -> Iterator[tuple[str, dict[str, int]]]:
    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(state["status"] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_probes_a_url(
    healthcheck: ModuleType, probe_server: tuple[str, dict[str, int]]
) -> None:
    base, state = probe_server
    assert healthcheck.main([f"{base}/healthz"]) == 0
    state["status"] = 503
    assert healthcheck.main([f"{base}/healthz"]) == 1
    assert healthcheck.main([f"{base}/missing"]) == 1
    # Nothing listens there: refused, not a hang and not a crash.
    assert healthcheck.main([f"http://127.0.0.1:{free_port()}/healthz"]) == 1


def test_healthcheck_finds_the_role_of_the_main_process(
    healthcheck: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    agentchat = ["/opt/venv/bin/python", "/opt/venv/bin/agentchat"]
    monkeypatch.delenv("AGENTCHAT_GATEWAY_PORT", raising=False)
    monkeypatch.delenv("AGENTCHAT_METRICS_PORT", raising=False)
    url = healthcheck.default_url
    assert url([*agentchat, "gateway"]) == "http://127.0.0.1:8080/healthz"
    assert url([*agentchat, "gateway", "--port", "9000"]) == "http://127.0.0.1:9000/healthz"
    assert url([*agentchat, "worker", "--agents", "m:a"]) is None
    assert url([*agentchat, "--help"]) is None
    monkeypatch.setenv("AGENTCHAT_GATEWAY_PORT", "8081")
    monkeypatch.setenv("AGENTCHAT_METRICS_PORT", "9464")
    assert url([*agentchat, "gateway"]) == "http://127.0.0.1:8081/healthz"
    assert url([*agentchat, "worker", "--agents", "m:a"]) == "http://127.0.0.1:9464/healthz"
