# Sourced by scripts/*.sh: install exactly what uv.lock pins into .venv.
#
# uv itself comes from PyPI at the version pinned here, into its own small virtualenv
# (.venv-uv), so a machine with only Python, venv and pip reproduces the install; the
# project's .venv is then synced from uv.lock, never re-resolved (`--locked` fails when
# pyproject.toml and uv.lock disagree: refresh with ./scripts/lock.sh).
UV_VERSION=0.13.8
export UV_PROJECT_ENVIRONMENT="${UV_PROJECT_ENVIRONMENT:-.venv}"
export UV_PYTHON="${UV_PYTHON:-python3}"
# uv would otherwise look for managed Pythons to download; the machine's own python3 is the one.
export UV_PYTHON_DOWNLOADS=never

uv_bootstrap() {
    if [ ! -x .venv-uv/bin/uv ] || [ "$(.venv-uv/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
        python3 -m venv .venv-uv
        .venv-uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
    fi
}

uv() { .venv-uv/bin/uv "$@"; }

# uv_sync EXTRA...: .venv holds agentchat (editable) and exactly the locked packages of these extras.
uv_sync() {
    uv_bootstrap
    local args=()
    for extra in "$@"; do args+=(--extra "$extra"); done
    uv sync --locked --quiet "${args[@]}"
}
