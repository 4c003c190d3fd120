# syntax=docker/dockerfile:1
# agentchat worker / gateway image.
#
#   docker build -t agentchat:local .
#   docker run --rm agentchat:local worker --agents agentchat.demo:agents
#   docker run --rm -p 8080:8080 -e AGENTCHAT_API_KEYS=... -e AGENTCHAT_GATEWAY_HOST=0.0.0.0 \
#       agentchat:local gateway
#
# Your agents: mount them at /app/agents (on PYTHONPATH) or bake them into a derived image
# (FROM agentchat:local, COPY your package to /app/agents); see docs/deploy.md.

# Debian bookworm slim, Python 3.11 (the oldest Python agentchat supports). Pin by digest
# (python:3.11-slim-bookworm@sha256:...) for fully reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: install agentchat and exactly the packages uv.lock pins into a virtualenv ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every dependency ships wheels for linux amd64 and arm64, so no compiler is needed here
# either; a build that wants one fails loudly instead of dragging build tools along.
COPY pyproject.toml uv.lock README.md ./
COPY agentchat ./agentchat
COPY deploy/healthcheck.py ./healthcheck.py
# uv at the version scripts/lib/uv.sh pins; `--locked` refuses a uv.lock that pyproject.toml
# has moved away from, so the image holds the very versions the test suite ran against.
ARG UV_VERSION=0.13.8
RUN pip install "uv==${UV_VERSION}" \
    && uv sync --locked --no-editable --no-dev \
        --extra cli --extra gateway --extra openai --extra anthropic --extra mcp --extra postgres --extra s3 --extra metrics --extra otel \
    && install -m 0755 healthcheck.py /opt/venv/bin/agentchat-healthcheck \
    && agentchat --version

# ---- runtime: the virtualenv on a clean slim base, run as an unprivileged user ----------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="agentchat" \
      org.opencontainers.image.description="Durable AI chat agents on Temporal and Redis: worker and gateway" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/agents
RUN groupadd --gid 10001 agentchat \
    && useradd --uid 10001 --gid agentchat --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin agentchat \
    && mkdir -p /app/agents /var/lib/agentchat/blobs \
    && chown -R 10001:10001 /app /var/lib/agentchat
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001

# Gateway HTTP (AGENTCHAT_GATEWAY_PORT), worker /metrics and /healthz (AGENTCHAT_METRICS_PORT
# when set; docker-compose.yml uses 9464).
EXPOSE 8080 9464
# Workers and gateways drain on SIGTERM for AGENTCHAT_SHUTDOWN_GRACE seconds: give them a
# longer stop timeout (docker stop -t, compose stop_grace_period).
STOPSIGNAL SIGTERM
# Probes the gateway's /healthz, or a worker's /healthz on AGENTCHAT_METRICS_PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["agentchat-healthcheck"]
ENTRYPOINT ["agentchat"]
CMD ["--help"]
