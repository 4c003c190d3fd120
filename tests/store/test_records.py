"""The store's pure parts: URLs, cursors, titles, search text and words (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from agentchat.store import ChatStore, default_title, message_text
from agentchat.store._engine import async_url, create_engine
from agentchat.store._records import check_metadata, search_words
from agentchat.store._store import decode_cursor, encode_cursor
from agentchat.testing.local import free_port


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///tmp/chats.db", "sqlite+aiosqlite"),
        ("sqlite:////abs/chats.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///chats.db", "sqlite+aiosqlite"),
        ("postgresql://u:pw@db:5432/chats", "postgresql+asyncpg"),
        ("postgres://u:pw@db/chats", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@db/chats", "postgresql+asyncpg"),
        ("POSTGRESQL://u@db/chats", "postgresql+asyncpg"),
    ],
)
def test_user_urls_map_to_async_drivers(url: str, driver: str) -> None:
    assert async_url(url).drivername == driver


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    url = async_url("postgresql://u@db/chats?sslmode=require")
    assert dict(url.query) == {"ssl": "require"}


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:hunter2@db/chats",
        "postgresql+psycopg2://u:hunter2@db/chats",
        "redis://:hunter2@localhost:6379/0",
        "chats.db",
        "root:hunter2@db/chats",
        "sqlite:///:memory:",
        "sqlite://",
    ],
)
async def test_unsupported_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="AGENTCHAT_DATABASE_URL") as raised:
        await ChatStore.open(url)
    assert "hunter2" not in str(raised.value)


async def test_the_url_attribute_hides_the_password() -> None:
    url = "postgresql://u:hunter2@db/chats"
    store = ChatStore(create_engine(url), url)  # connects only when used
    assert store.url == "postgresql://u:***@db/chats"
    await store.close()


async def test_an_unreachable_database_raises_the_drivers_error() -> None:
    # What callers map to StoreUnavailableError: never a ValueError.
    with pytest.raises((OSError, DBAPIError)):
        await ChatStore.open(f"postgresql://u@127.0.0.1:{free_port()}/chats")
    with pytest.raises(OperationalError):
        await ChatStore.open("sqlite:////nonexistent-dir/x/chats.db")


def test_cursors_round_trip() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    cursor = encode_cursor(when, "chat-1")
    assert "=" not in cursor and decode_cursor(cursor) == (when, "chat-1")


def test_message_text_joins_text_parts() -> None:
    message = {
        "id": "m",
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "text": "hidden"},
            {"type": "text", "text": "First."},
            {"type": "tool-search", "input": {"q": "x"}},
            {"type": "text", "text": "Second."},
            {"type": "text"},
            "junk",
        ],
    }
    assert message_text(message) == "First.\nSecond."
    assert message_text({"id": "m"}) == ""
    assert message_text({"parts": "nope"}) == ""


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Hello", "Hello"),
        ("  Plan   a\n trip  ", "Plan a trip"),
        ("", ""),
        (
            "Please help me plan a three week trip through Portugal and Spain in the spring",
            "Please help me plan a three week trip through Portugal and…",
        ),
        ("x" * 100, "x" * 60 + "…"),
        ("word " + "y" * 100, "word " + "y" * 55 + "…"),
    ],
)
def test_default_title(text: str, title: str) -> None:
    assert default_title(text) == title
    assert len(default_title(text)) <= 61


def test_search_words_drop_every_operator() -> None:
    assert search_words("\"Hello\" AND wörld* -x NEAR(a b) 'q' _:") == [
        "hello",
        "and",
        "wörld",
        "x",
        "near",
        "a",
        "b",
        "q",
    ]
    assert search_words("!!! ''' ***") == []
    assert len(search_words("w " * 100)) == 16


def test_metadata_is_returned_as_stored() -> None:
    assert check_metadata({"t": (1, 2)}) == {"t": [1, 2]}
    with pytest.raises(ValueError, match="metadata must be JSON: Dict key must be str"):
        check_metadata({1: "x"})
