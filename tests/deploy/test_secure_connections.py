"""TLS, mTLS, ACL credentials and API keys against real servers, and how mistakes are reported."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.service import TLSConfig

from agentchat import Settings
from agentchat.connections import get_redis, get_temporal, temporal_target
from agentchat.errors import ConfigurationError, RedisUnavailableError, TemporalUnavailableError
from agentchat.stream._store import StreamStore
from agentchat.testing.local import LocalStack, free_port
from tests.deploy.conftest import REDIS_PASSWORD, Certs, tls_proxy

pytestmark = pytest.mark.usefixtures("clean_connection_env")

API_KEY = "tmprl-api-key-5e3f9d0c7b"


async def append_and_read(settings: Settings) -> None:
    """A chat's fenced append and a blocking read work through these settings."""
    store = StreamStore(await get_redis(settings, check=True))
    chat_id = f"secure-{uuid.uuid4().hex[:8]}"
    envelope = orjson.dumps({"v": 1, "k": "chunk", "turn": 1, "seq": 1, "c": {"type": "start"}})
    status, last_id, _ = await store.append(
        chat_id, producer="p", attempt=1, turn=1, role="start", batch=[(1, envelope)]
    )
    assert status == "OK" and last_id
    entries = await store.read(chat_id, "0-0", block_ms=100)
    assert [e.id for e in entries] == [last_id]


# -- Redis: TLS --------------------------------------------------------------------------------


async def test_rediss_verifies_the_server_certificate(tls_redis_port: int, certs: Certs) -> None:
    url = f"rediss://127.0.0.1:{tls_redis_port}/0?ssl_ca_certs={certs.ca}"
    await append_and_read(Settings(redis_url=url))


async def test_rediss_refuses_a_server_signed_by_another_ca(
    tls_redis_port: int, certs: Certs
) -> None:
    url = f"rediss://127.0.0.1:{tls_redis_port}/0?ssl_ca_certs={certs.other_ca}"
    with pytest.raises(RedisUnavailableError, match="TLS failed") as info:
        await get_redis(Settings(redis_url=url, connect_timeout=3), check=True)
    assert f"127.0.0.1:{tls_redis_port}" in str(info.value)


async def test_rediss_with_a_client_certificate(mtls_redis_port: int, certs: Certs) -> None:
    url = (
        f"rediss://localhost:{mtls_redis_port}/0?ssl_ca_certs={certs.ca}"
        f"&ssl_certfile={certs.client_cert}&ssl_keyfile={certs.client_key}"
    )
    await append_and_read(Settings(redis_url=url))


async def test_rediss_without_the_required_client_certificate_fails(
    mtls_redis_port: int, certs: Certs
) -> None:
    url = f"rediss://127.0.0.1:{mtls_redis_port}/0?ssl_ca_certs={certs.ca}"
    with pytest.raises(RedisUnavailableError, match="cannot reach Redis"):
        await get_redis(Settings(redis_url=url, connect_timeout=3), check=True)


def test_a_missing_tls_file_is_named(certs: Certs) -> None:
    from agentchat.connections import redis_client

    url = f"rediss://127.0.0.1:1/0?ssl_ca_certs={certs.ca}&ssl_certfile=/nope/client.pem"
    with pytest.raises(ConfigurationError, match=r"ssl_certfile '/nope/client.pem': no such file"):
        redis_client(Settings(redis_url=url))


def test_tls_options_need_rediss(certs: Certs) -> None:
    from agentchat.connections import redis_client

    with pytest.raises(ConfigurationError, match=r"ssl_ca_certs needs TLS: use rediss://"):
        redis_client(Settings(redis_url=f"redis://127.0.0.1:1/0?ssl_ca_certs={certs.ca}"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "use redis://, rediss://"),
        ("redis+sharded://h:1", "use redis://, rediss://"),
        ("redis+sentinel://:pw-zzzz@h1:26379", "name the master after the hosts"),
        ("redis+cluster://h:1/3", "Redis Cluster has only database 0"),
        ("redis://h:1/0?socket_timeout=soon", "Invalid value for 'socket_timeout'"),
        ("redis://h:1/0?no_such_option=1", "no_such_option"),
    ],
)
def test_malformed_redis_urls_are_configuration_errors(url: str, message: str) -> None:
    from agentchat.connections import redis_client

    with pytest.raises(ConfigurationError, match="AGENTCHAT_REDIS_URL") as info:
        redis_client(Settings(redis_url=url))
    assert message in str(info.value)
    assert "pw-zzzz" not in str(info.value)


# -- Redis: ACL users ------------------------------------------------------------------------


async def test_acl_user_and_password_in_the_url(acl_redis_port: int) -> None:
    url = f"redis://alice:{REDIS_PASSWORD}@127.0.0.1:{acl_redis_port}/0"
    await append_and_read(Settings(redis_url=url))


async def test_acl_credentials_from_their_own_variables(
    acl_redis_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The URL can live in a config map and the password in a secret.
    monkeypatch.setenv("AGENTCHAT_REDIS_URL", f"redis://127.0.0.1:{acl_redis_port}/0")
    monkeypatch.setenv("AGENTCHAT_REDIS_USERNAME", "alice")
    monkeypatch.setenv("AGENTCHAT_REDIS_PASSWORD", REDIS_PASSWORD)
    await append_and_read(Settings())


async def test_a_wrong_password_is_a_clear_error_without_the_password(
    acl_redis_port: int,
) -> None:
    wrong = "wrong-password-71d2"
    url = f"redis://alice:{wrong}@127.0.0.1:{acl_redis_port}/0"
    with pytest.raises(RedisUnavailableError, match="refused the login") as info:
        await get_redis(Settings(redis_url=url), check=True)
    message = str(info.value)
    assert wrong not in message
    assert f"redis://alice:***@127.0.0.1:{acl_redis_port}/0" in message


# -- Temporal: TLS, mTLS, API keys -------------------------------------------------------------


async def describe_default_namespace(settings: Settings) -> str:
    client = await get_temporal(settings)
    reply = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    return reply.namespace_info.name


async def test_temporal_over_tls_with_the_server_ca(
    stack: LocalStack, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_proxy(certs, stack.temporal_port, require_client_cert=False) as proxy:
        monkeypatch.setenv("TEMPORAL_ADDRESS", proxy.address)
        monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certs.ca))
        assert await describe_default_namespace(Settings()) == "default"
        assert proxy.connections >= 1


async def test_temporal_mtls_with_a_client_certificate(
    stack: LocalStack, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_proxy(certs, stack.temporal_port, require_client_cert=True) as proxy:
        monkeypatch.setenv("TEMPORAL_ADDRESS", f"localhost:{proxy.port}")
        monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certs.ca))
        monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(certs.client_cert))
        monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(certs.client_key))
        monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "localhost")
        assert await describe_default_namespace(Settings()) == "default"


async def test_temporal_mtls_settings_fields_beat_the_environment(
    stack: LocalStack, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "/nope/cert.pem")
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", "/nope/key.pem")
    async with tls_proxy(certs, stack.temporal_port, require_client_cert=True) as proxy:
        settings = Settings(
            temporal_address=proxy.address,
            temporal_tls_server_ca_cert_path=str(certs.ca),
            temporal_tls_client_cert_path=str(certs.client_cert),
            temporal_tls_client_key_path=str(certs.client_key),
        )
        assert await describe_default_namespace(settings) == "default"


async def test_temporal_mtls_without_a_client_certificate_fails_clearly(
    stack: LocalStack, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_proxy(certs, stack.temporal_port, require_client_cert=True) as proxy:
        monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certs.ca))
        settings = Settings(temporal_address=proxy.address, connect_timeout=3)
        with pytest.raises(TemporalUnavailableError) as info:
            await get_temporal(settings)
    message = str(info.value)
    assert f"cannot reach Temporal at {proxy.address}" in message
    assert "(namespace 'default', TLS)" in message


async def test_temporal_refuses_a_server_signed_by_another_ca(
    stack: LocalStack, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_proxy(certs, stack.temporal_port, require_client_cert=False) as proxy:
        monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certs.other_ca))
        with pytest.raises(TemporalUnavailableError, match="TLS"):
            await get_temporal(Settings(temporal_address=proxy.address, connect_timeout=3))


async def test_temporal_api_key_is_sent_over_tls(
    stack: LocalStack, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dev server ignores API keys; what we can check is that the client carries it (the
    # SDK sends it as `authorization: Bearer <key>`) and that TLS was used for it.
    async with tls_proxy(certs, stack.temporal_port, require_client_cert=False) as proxy:
        monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
        monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certs.ca))
        settings = Settings(temporal_address=proxy.address)
        target = temporal_target(settings)
        assert target.connect_kwargs()["api_key"] == API_KEY
        assert isinstance(target.connect_kwargs()["tls"], TLSConfig)
        assert target.security == "TLS, API key"
        client = await get_temporal(settings)
        assert client.api_key == API_KEY
        assert proxy.connections >= 1
        assert await describe_default_namespace(settings) == "default"


def test_an_api_key_implies_tls_unless_tls_is_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
    assert temporal_target(Settings()).tls is True
    assert temporal_target(Settings(temporal_tls=False)).tls is False
    monkeypatch.setenv("TEMPORAL_TLS", "false")
    assert temporal_target(Settings()).tls is False
    assert temporal_target(Settings(temporal_api_key=None)).security == "no TLS, API key"


def test_no_tls_by_default() -> None:
    target = temporal_target(Settings())
    assert (target.address, target.namespace, target.tls, target.api_key) == (
        "localhost:7233",
        "default",
        False,
        None,
    )


def test_address_and_namespace_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        '[profile.default]\naddress = "file:7233"\nnamespace = "from-file"\n'
        '[profile.prod]\naddress = "prod.tmprl.cloud:7233"\nnamespace = "prod.acct"\n'
        f'api_key = "{API_KEY}"\n'
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    assert temporal_target(Settings()).address == "file:7233"
    monkeypatch.setenv("TEMPORAL_PROFILE", "prod")
    prod = temporal_target(Settings())
    assert (prod.address, prod.namespace, prod.api_key, prod.tls) == (
        "prod.tmprl.cloud:7233",
        "prod.acct",
        API_KEY,
        True,
    )
    monkeypatch.setenv("TEMPORAL_ADDRESS", "env:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-env")
    assert temporal_target(Settings()).address == "env:7233"
    monkeypatch.setenv("AGENTCHAT_TEMPORAL_ADDRESS", "ours:7233")
    monkeypatch.setenv("AGENTCHAT_TEMPORAL_NAMESPACE", "ours")
    ours = temporal_target(Settings())
    assert (ours.address, ours.namespace) == ("ours:7233", "ours")
    explicit = temporal_target(Settings(temporal_address="explicit:7233", temporal_namespace="x"))
    assert (explicit.address, explicit.namespace) == ("explicit:7233", "x")


def test_an_unknown_profile_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_PROFILE", "staging")
    with pytest.raises(ConfigurationError, match=r"TEMPORAL_PROFILE.*staging"):
        temporal_target(Settings())


def test_temporal_tls_must_be_a_boolean(monkeypatch: pytest.MonkeyPatch) -> None:
    # temporalio itself would read "no" as "TLS configured", i.e. on.
    monkeypatch.setenv("TEMPORAL_TLS", "no")
    with pytest.raises(ConfigurationError, match="TEMPORAL_TLS must be true or false, not 'no'"):
        temporal_target(Settings())


def test_an_empty_temporal_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_TLS", "")
    monkeypatch.setenv("TEMPORAL_ADDRESS", " ")
    assert temporal_target(Settings()).tls is False


def test_a_client_certificate_needs_its_key(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(certs.client_cert))
    with pytest.raises(
        ConfigurationError,
        match="TEMPORAL_TLS_CLIENT_CERT_PATH is set but TEMPORAL_TLS_CLIENT_KEY_PATH is not",
    ):
        temporal_target(Settings())


def test_an_unreadable_certificate_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "/nope/ca.pem")
    with pytest.raises(
        ConfigurationError,
        match=r"server CA certificate '/nope/ca.pem' \(from TEMPORAL_TLS_SERVER_CA_CERT_PATH\)",
    ):
        temporal_target(Settings())
    with pytest.raises(ConfigurationError, match=r"from Settings.temporal_tls_server_ca_cert_path"):
        temporal_target(Settings(temporal_tls_server_ca_cert_path="/nope/other.pem"))


def test_a_key_file_that_is_not_pem_is_reported_without_its_content(
    certs: Certs, tmp_path: Path
) -> None:
    key = tmp_path / "key.der"
    key.write_bytes(b"not-a-pem-secret-bytes-123")
    with pytest.raises(ConfigurationError, match="client private key from") as info:
        temporal_target(
            Settings(
                temporal_tls_client_cert_path=str(certs.client_cert),
                temporal_tls_client_key_path=str(key),
            )
        )
    assert "not-a-pem-secret" not in str(info.value)


async def test_temporal_clients_are_cached_per_target(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(temporal_address=stack.temporal_address)
    first = await get_temporal(settings)
    assert await get_temporal(Settings(temporal_address=stack.temporal_address)) is first
    # Different credentials are a different client, even at the same address.
    monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
    monkeypatch.setenv("TEMPORAL_TLS", "false")
    other = await get_temporal(settings)
    assert other is not first and other.api_key == API_KEY


async def test_an_unreachable_temporal_names_address_and_security(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(TemporalUnavailableError) as info:
        await get_temporal(Settings(temporal_address=address, connect_timeout=2))
    message = str(info.value)
    assert f"cannot reach Temporal at {address} (namespace 'default', TLS, API key)" in message
    assert API_KEY not in message
