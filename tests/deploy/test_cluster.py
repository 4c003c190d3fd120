"""Redis Cluster and Sentinel: every key of a chat in one slot, and the StreamStore working
unchanged (Lua append, blocking reads, pub/sub stops) through both."""

from __future__ import annotations

import asyncio
import random
import re
import string
import uuid
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

import agentchat.stream._store as stream_store
from agentchat import Settings
from agentchat.connections import get_redis
from agentchat.errors import RedisUnavailableError
from agentchat.stream._store import STOP_CHANNEL, StreamStore, StreamWriter, chat_keys
from tests.deploy.conftest import MASTER_NAME, REDIS_PASSWORD, SENTINEL_PASSWORD, SentinelSetup

pytestmark = pytest.mark.usefixtures("clean_connection_env")

CHAT_ID_CHARS = string.ascii_letters + string.digits + "_.:-"


def sample_chat_ids() -> list[str]:
    rng = random.Random(42)
    ids = ["a", "-", ":", "0", "chat:42", "x" * 200, str(uuid.uuid4())]
    ids += ["".join(rng.choices(CHAT_ID_CHARS, k=rng.randint(1, 200))) for _ in range(500)]
    return ids


def test_every_key_of_a_chat_maps_to_one_slot() -> None:
    for chat_id in sample_chat_ids():
        slots = {key_slot(key.encode()) for key in chat_keys(chat_id)}
        assert len(slots) == 1, chat_id
        # The slot is the hash tag's, i.e. the chat id's alone.
        assert slots == {key_slot(chat_id.encode())}


def test_the_stream_store_builds_keys_only_through_chat_keys() -> None:
    # Any other key literal would escape the hash tag (the stop channel is pub/sub, not a key).
    source = Path(stream_store.__file__).read_text()
    literals = re.findall(r"""f?["']agentchat:[^"']*["']""", source)
    assert sorted(literals) == sorted(['f"agentchat:{{{chat_id}}}"', '"agentchat:stops"']), literals
    assert STOP_CHANNEL == "agentchat:stops"


def test_the_append_script_touches_only_the_keys_it_is_given() -> None:
    # A Lua script on a cluster may only use keys passed in KEYS (all in the caller's slot;
    # on a cluster the store sends one chat's group per call).
    lua = (Path(stream_store.__file__).parent / "append.lua").read_text()
    assert "local function append(events, meta, fence, a, b)" in lua
    assert re.findall(r"KEYS\[[^]]*\]", lua) == ["KEYS[k]", "KEYS[k + 1]", "KEYS[k + 2]"]
    calls = re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", lua)
    assert calls
    for command, first in calls:
        assert first.strip() in ("events", "meta", "fence"), (command, first)


def envelope(seq: int, text: str, turn: int = 1) -> tuple[int, bytes]:
    chunk = {"type": "text-delta", "id": "t", "delta": text}
    return seq, orjson.dumps({"v": 1, "k": "chunk", "turn": turn, "seq": seq, "c": chunk})


async def exercise_stream_store(store: StreamStore) -> None:
    """A turn's lifecycle: fenced appends, blocking reads, stop flags through pub/sub."""
    chat_id = f"cluster-{uuid.uuid4().hex[:8]}"
    status, start_id, _ = await store.append(
        chat_id, producer="t1.s1", attempt=1, turn=1, role="start", batch=[envelope(1, "a")]
    )
    assert status == "OK"
    assert await store.active_turn(chat_id) == (1, start_id)

    # A blocked XREAD wakes for an append made while it waits.
    reader = asyncio.create_task(store.read(chat_id, start_id, block_ms=5000))
    await asyncio.sleep(0.1)
    _, second, _ = await store.append(
        chat_id, producer="t1.s1", attempt=1, turn=1, role="step", batch=[envelope(2, "b")]
    )
    assert [e.id for e in await asyncio.wait_for(reader, 5)] == [second]

    # A retried attempt fences the old one; repeated sequence numbers are skipped.
    await store.append(
        chat_id, producer="t1.s1", attempt=2, turn=1, role="step", batch=[envelope(1, "c")]
    )
    status, _, _ = await store.append(
        chat_id, producer="t1.s1", attempt=1, turn=1, role="step", batch=[envelope(3, "d")]
    )
    assert status == "FENCED"
    kinds = [e.kind for e in await store.read(chat_id, "0-0", block_ms=1)]
    assert kinds == ["chunk", "chunk", "attempt-start", "chunk"]

    # stop(): the flag, and the pub/sub wake-up of the running writer.
    writer = StreamWriter(store, chat_id, producer="t1.s2", attempt=1, turn=1, stop_poll=30)
    writer.start()
    try:
        await asyncio.sleep(0.3)  # the stop listener subscribes
        assert await store.request_stop(chat_id) == 1
        await asyncio.wait_for(writer.interrupted.wait(), 5)
        assert writer.stop_requested
    finally:
        await writer.close()

    status, _, _ = await store.append(
        chat_id, producer="t1.end", attempt=1, turn=1, role="end", batch=[envelope(1, "")]
    )
    assert status == "OK"
    assert await store.active_turn(chat_id) == (None, None)
    assert await store.last_id(chat_id) != "0-0"
    assert await store.first_id(chat_id) == start_id


# -- Redis Cluster ---------------------------------------------------------------------------


async def test_stream_store_on_a_redis_cluster(cluster_redis_port: int) -> None:
    settings = Settings(redis_url=f"redis+cluster://127.0.0.1:{cluster_redis_port}")
    redis = await get_redis(settings, check=True)
    assert isinstance(redis, RedisCluster)
    await exercise_stream_store(StreamStore(redis))


async def test_the_cluster_enforces_one_slot_per_script(cluster_redis_port: int) -> None:
    # Guards the test above: were CROSSSLOT not enforced by the server (redis-py checks too,
    # so ask the node directly), a one-node cluster would prove nothing.
    keys = [chat_keys("one")[0], chat_keys("two")[0]]
    assert key_slot(keys[0].encode()) != key_slot(keys[1].encode())
    node = Redis(port=cluster_redis_port)
    try:
        with pytest.raises(ResponseError, match="hash to the same slot"):
            await node.eval("return 1", 2, *keys)
        assert await node.eval("return 1", 3, *chat_keys("one")) == 1
    finally:
        await node.aclose()


async def test_cluster_url_with_several_startup_nodes(cluster_redis_port: int) -> None:
    # The first node is down: the client finds the cluster through the next one.
    from agentchat.testing.local import free_port

    url = f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{cluster_redis_port}"
    redis = await get_redis(Settings(redis_url=url), check=True)
    assert isinstance(redis, RedisCluster)


async def test_an_unreachable_cluster_is_a_redis_unavailable_error() -> None:
    from agentchat.testing.local import free_port

    settings = Settings(redis_url=f"redis+cluster://127.0.0.1:{free_port()}", connect_timeout=2)
    with pytest.raises(RedisUnavailableError, match="cannot reach Redis at redis\\+cluster://"):
        await get_redis(settings, check=True)


# -- Sentinel --------------------------------------------------------------------------------


def sentinel_settings(setup: SentinelSetup, **overrides: object) -> Settings:
    url = f"redis+sentinel://:{REDIS_PASSWORD}@127.0.0.1:{setup.sentinel_port}/{MASTER_NAME}/0"
    return Settings(redis_url=url, redis_sentinel_password=SENTINEL_PASSWORD).with_overrides(
        **overrides
    )


async def test_stream_store_through_sentinel(sentinel_setup: SentinelSetup) -> None:
    redis = await get_redis(sentinel_settings(sentinel_setup), check=True)
    assert isinstance(redis, Redis)
    await exercise_stream_store(StreamStore(redis))
    # It really is the master the Sentinel named.
    direct = Redis(port=sentinel_setup.master_port, password=REDIS_PASSWORD)
    try:
        assert (await direct.info("server"))["tcp_port"] == sentinel_setup.master_port
        assert await direct.dbsize() >= 2
    finally:
        await direct.aclose()


async def test_a_wrong_sentinel_password_is_reported_without_it(
    sentinel_setup: SentinelSetup,
) -> None:
    wrong = "wrong-sentinel-pw-55aa"
    settings = sentinel_settings(sentinel_setup, redis_sentinel_password=wrong, connect_timeout=2)
    with pytest.raises(RedisUnavailableError) as info:
        await get_redis(settings, check=True)
    message = str(info.value)
    assert wrong not in message and REDIS_PASSWORD not in message
    assert f"redis+sentinel://***@127.0.0.1:{sentinel_setup.sentinel_port}/{MASTER_NAME}/0" in (
        message
    )


async def test_an_unknown_sentinel_master_is_reported(sentinel_setup: SentinelSetup) -> None:
    url = f"redis+sentinel://127.0.0.1:{sentinel_setup.sentinel_port}/no-such-master"
    settings = Settings(redis_url=url, redis_sentinel_password=SENTINEL_PASSWORD, connect_timeout=2)
    with pytest.raises(RedisUnavailableError, match="MasterNotFoundError"):
        await get_redis(settings, check=True)
