"""Secrets (API keys, passwords, private keys) never show in reprs, errors or logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agentchat import Settings
from agentchat.connections import get_redis, get_temporal, temporal_target
from agentchat.errors import RedisUnavailableError, TemporalUnavailableError
from agentchat.settings import redact_url
from agentchat.testing.local import free_port
from tests.deploy.conftest import Certs

pytestmark = pytest.mark.usefixtures("clean_connection_env")

TEMPORAL_KEY = "tmprl-secret-key-0b8d7e6f"
GATEWAY_KEY = "gateway-secret-key-1c2d3e"
REDIS_PW = "redis-secret-pw-8e7f6a"
SENTINEL_PW = "sentinel-secret-pw-2b3c4d"
URL_PW = "url-secret-pw-5d6e7f"


def secrets(certs: Certs) -> list[str]:
    key_body = certs.client_key.read_text().splitlines()[1]  # a line of the PEM's base64
    return [TEMPORAL_KEY, GATEWAY_KEY, REDIS_PW, SENTINEL_PW, URL_PW, key_body]


def assert_no_secret(text: str, certs: Certs) -> None:
    for secret in secrets(certs):
        assert secret not in text


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, certs: Certs) -> None:
    """Every secret-bearing variable set, pointing at servers that are not there."""
    monkeypatch.setenv("AGENTCHAT_REDIS_URL", f"redis://bob:{URL_PW}@127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("AGENTCHAT_REDIS_PASSWORD", REDIS_PW)
    monkeypatch.setenv("AGENTCHAT_REDIS_SENTINEL_PASSWORD", SENTINEL_PW)
    monkeypatch.setenv("AGENTCHAT_API_KEY", GATEWAY_KEY)
    monkeypatch.setenv("AGENTCHAT_URL", f"http://user:{URL_PW}@gateway:8000")
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("TEMPORAL_API_KEY", TEMPORAL_KEY)
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certs.ca))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(certs.client_cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(certs.client_key))


def test_settings_repr_hides_secrets(secret_env: None, certs: Certs) -> None:
    settings = Settings(temporal_api_key=TEMPORAL_KEY)
    text = repr(settings)
    assert_no_secret(text, certs)
    assert "redis://bob:***@127.0.0.1" in text
    assert "http://user:***@gateway:8000" in text
    assert str(settings) == text


def test_temporal_target_repr_hides_secrets(secret_env: None, certs: Certs) -> None:
    target = temporal_target(Settings())
    assert target.api_key == TEMPORAL_KEY  # it is loaded ...
    text = repr(target) + str(target)
    assert_no_secret(text, certs)  # ... but never shown
    assert "security='TLS, client certificate, API key'" in text


async def test_failed_connects_leak_nothing(
    secret_env: None, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(connect_timeout=2)
    with pytest.raises(TemporalUnavailableError) as temporal_error:
        await get_temporal(settings)
    with pytest.raises(RedisUnavailableError) as redis_error:
        await get_redis(settings, check=True)
    sentinel = Settings(
        redis_url=f"redis+sentinel://:{URL_PW}@127.0.0.1:{free_port()}/primary",
        connect_timeout=2,
    )
    with pytest.raises(RedisUnavailableError) as sentinel_error:
        await get_redis(sentinel, check=True)
    for error in (temporal_error.value, redis_error.value, sentinel_error.value):
        assert_no_secret(str(error), certs)
        assert_no_secret(repr(error), certs)
    assert "TLS, client certificate, API key" in str(temporal_error.value)
    assert_no_secret(caplog.text, certs)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw-1234@h:6379/0", "redis://***@h:6379/0"),
        ("redis://u:pw/with?odd@chars@h:6379/0", "redis://u:***@h:6379/0"),
        (
            "rediss://u:pw-1234@h:6380?ssl_ca_certs=/ca.pem",
            "rediss://u:***@h:6380?ssl_ca_certs=/ca.pem",
        ),
        ("redis+sentinel://u:pw-1234@s1:26379,s2/m/0", "redis+sentinel://u:***@s1:26379,s2/m/0"),
        ("redis://h:6379/0?password=pw-1234", "redis://h:6379/0?password=***"),
        ("redis://u@h:6379/0", "redis://u@h:6379/0"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redis_password_in_the_url_is_never_in_config_errors(tmp_path: Path) -> None:
    from agentchat.connections import redis_client
    from agentchat.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as info:
        redis_client(Settings(redis_url=f"rediss://u:{URL_PW}@h:1/0?ssl_certfile={tmp_path}/x"))
    assert URL_PW not in str(info.value)
