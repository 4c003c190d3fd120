"""Every ChatStore operation, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentchat.store import (
    MAX_METADATA_BYTES,
    MAX_TITLE,
    ChatRecord,
    ChatStore,
    StoredMessage,
)
from agentchat.store._records import search_words
from tests.store.conftest import SetUpdated


def msg(id: str, role: str, *texts: str) -> dict[str, Any]:
    return {"id": id, "role": role, "parts": [{"type": "text", "text": t} for t in texts]}


def turn_messages(n: int, question: str = "What is the weather?") -> list[dict[str, Any]]:
    return [msg(f"u{n}", "user", question), msg(f"a{n}", "assistant", f"Answer number {n}.")]


async def test_create_chat_is_idempotent_and_keeps_the_first_owner(chat_store: ChatStore) -> None:
    first = await chat_store.create_chat(
        "c1", "echo", owner="alice", title="Plans", metadata={"tags": ["a"]}
    )
    assert isinstance(first, ChatRecord)
    assert (first.chat_id, first.agent, first.owner, first.title) == (
        "c1",
        "echo",
        "alice",
        "Plans",
    )
    assert first.metadata == {"tags": ["a"]}
    assert (first.archived, first.deleting, first.last_turn, first.message_count) == (
        False,
        False,
        0,
        0,
    )
    assert first.state == {} and first.parent is None
    assert first.created_at.tzinfo is UTC and first.created_at == first.updated_at
    again = await chat_store.create_chat("c1", "other", owner="mallory", title="Mine")
    assert again == first  # unchanged: the caller compares owners
    assert await chat_store.get_chat("c1") == first
    assert await chat_store.get_chat("nope") is None


async def test_save_turn_writes_messages_and_the_chat_row(chat_store: ChatStore) -> None:
    created = await chat_store.create_chat("c1", "echo", owner="alice")
    await chat_store.save_turn(
        "c1",
        1,
        [msg("u1", "user", "Hello there"), msg("a1", "assistant", "Hi", " again")],
        start=0,
        usage={"input_tokens": 3, "output_tokens": 2},
        state={"subchats": ["s1"]},
        title="Hello there",
    )
    chat = await chat_store.get_chat("c1")
    assert chat is not None
    assert (chat.last_turn, chat.message_count, chat.title) == (1, 2, "Hello there")
    assert chat.state == {"subchats": ["s1"]}
    assert chat.updated_at > created.updated_at and chat.created_at == created.created_at
    stored = await chat_store.load_messages("c1")
    assert stored == [
        StoredMessage(position=0, turn=1, message=msg("u1", "user", "Hello there")),
        StoredMessage(
            position=1,
            turn=1,
            message=msg("a1", "assistant", "Hi", " again"),
            usage={"input_tokens": 3, "output_tokens": 2},
        ),
    ]
    # The next turn: a title is kept once set, state without `state=` is left alone.
    await chat_store.save_turn("c1", 2, turn_messages(2), start=2, title="Another title")
    chat = await chat_store.get_chat("c1")
    assert chat is not None
    assert (chat.last_turn, chat.message_count, chat.title) == (2, 4, "Hello there")
    assert chat.state == {"subchats": ["s1"]}
    assert [m.position for m in await chat_store.load_messages("c1")] == [0, 1, 2, 3]


async def test_a_retried_save_turn_writes_the_same_rows(chat_store: ChatStore) -> None:
    await chat_store.create_chat("c1", "echo")
    for _ in range(3):
        await chat_store.save_turn("c1", 1, turn_messages(1), start=0, usage={"t": 1})
    first = await chat_store.load_messages("c1")
    assert len(first) == 2
    # A retry of an older turn after a newer one: counters never go back.
    await chat_store.save_turn("c1", 2, turn_messages(2), start=2)
    await chat_store.save_turn("c1", 1, turn_messages(1), start=0, usage={"t": 1})
    chat = await chat_store.get_chat("c1")
    assert chat is not None and (chat.last_turn, chat.message_count) == (2, 4)
    assert (await chat_store.load_messages("c1"))[:2] == first
    # A position written again with other content (a stopped turn's partial answer, then the
    # retry's full one) holds the last write.
    await chat_store.save_turn("c1", 2, [msg("a2", "assistant", "Complete answer")], start=3)
    assert (await chat_store.load_messages("c1", after=2))[0].message["parts"][0]["text"] == (
        "Complete answer"
    )


async def test_usage_goes_on_the_last_assistant_message(chat_store: ChatStore) -> None:
    await chat_store.create_chat("c1", "echo")
    turn = [
        msg("u1", "user", "q"),
        msg("a1", "assistant", "calling a tool"),
        msg("a2", "assistant", "done"),
        msg("u2", "user", "a steer"),
    ]
    await chat_store.save_turn("c1", 1, turn, start=0, usage={"total": 9})
    assert [m.usage for m in await chat_store.load_messages("c1")] == [
        None,
        None,
        {"total": 9},
        None,
    ]


async def test_save_turn_on_a_deleted_chat_writes_nothing(chat_store: ChatStore) -> None:
    await chat_store.save_turn("gone", 1, turn_messages(1), start=0)
    assert await chat_store.get_chat("gone") is None
    assert await chat_store.load_messages("gone") == []


async def test_an_automatic_title_is_cut_not_refused(chat_store: ChatStore) -> None:
    await chat_store.create_chat("c1", "echo")
    await chat_store.save_turn("c1", 1, turn_messages(1), start=0, title="x" * 1000)
    chat = await chat_store.get_chat("c1")
    assert chat is not None and chat.title == "x" * MAX_TITLE


async def test_load_messages_after_and_limit(chat_store: ChatStore) -> None:
    await chat_store.create_chat("c1", "echo")
    for n in range(5):
        await chat_store.save_turn("c1", n + 1, turn_messages(n + 1), start=2 * n)
    assert [m.position for m in await chat_store.load_messages("c1", after=5)] == [6, 7, 8, 9]
    assert [m.position for m in await chat_store.load_messages("c1", limit=3)] == [0, 1, 2]
    assert [m.turn for m in await chat_store.load_messages("c1", after=1, limit=2)] == [2, 2]
    with pytest.raises(ValueError, match="limit"):
        await chat_store.load_messages("c1", limit=0)


async def test_listing_is_newest_activity_first(chat_store: ChatStore) -> None:
    for name in ("a", "b", "c"):
        await chat_store.create_chat(name, "echo", owner="alice")
    await chat_store.save_turn("a", 1, turn_messages(1), start=0)  # now the newest
    page = await chat_store.list_chats(owner="alice")
    assert [c.chat_id for c in page.chats] == ["a", "c", "b"]
    assert page.next_cursor is None


async def test_pagination_crosses_ties_in_updated_at(
    chat_store: ChatStore, set_updated: SetUpdated
) -> None:
    same = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    ids = [f"chat-{n:02d}" for n in range(23)]
    for chat_id in ids:
        await chat_store.create_chat(chat_id, "echo", owner="alice")
        await set_updated(chat_id, same)
    # Two chats a microsecond apart around the tied block.
    await chat_store.create_chat("newer", "echo", owner="alice")
    await set_updated("newer", same + timedelta(microseconds=1))
    await chat_store.create_chat("older", "echo", owner="alice")
    await set_updated("older", same - timedelta(microseconds=1))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await chat_store.list_chats(owner="alice", limit=5, cursor=cursor)
        pages += 1
        seen += [c.chat_id for c in page.chats]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["newer", *sorted(ids, reverse=True), "older"]
    assert pages == 5  # 25 chats, 5 a page, and no empty page at the end
    tied = next(c for c in (await chat_store.list_chats(owner="alice", limit=2)).chats[1:])
    assert tied.updated_at == same  # microseconds survive the round trip


async def test_filters_owner_agent_and_archived(chat_store: ChatStore) -> None:
    await chat_store.create_chat("a1", "echo", owner="alice")
    await chat_store.create_chat("a2", "search", owner="alice")
    await chat_store.create_chat("b1", "echo", owner="bob")
    await chat_store.create_chat("n1", "echo")
    await chat_store.update_chat("a2", archived=True)

    async def ids(**filters: Any) -> set[str]:
        return {c.chat_id for c in (await chat_store.list_chats(**filters)).chats}

    assert await ids(owner="alice") == {"a1"}
    assert await ids(owner="alice", archived=True) == {"a2"}
    assert await ids(owner="alice", archived=None) == {"a1", "a2"}
    assert await ids(owner="bob") == {"b1"}
    assert await ids(owner="nobody-at-all") == set()
    assert await ids() == {"a1", "b1", "n1"}
    assert await ids(agent="echo", archived=None) == {"a1", "b1", "n1"}
    assert await ids(agent="search", archived=None) == {"a2"}


async def test_chats_being_deleted_are_never_listed(chat_store: ChatStore) -> None:
    await chat_store.create_chat("c1", "echo", owner="alice", title="Plans")
    await chat_store.create_chat("c2", "echo", owner="alice")
    assert await chat_store.mark_deleting("c1") is True
    assert await chat_store.mark_deleting("missing") is False
    chat = await chat_store.get_chat("c1")
    assert chat is not None and chat.deleting
    for archived in (False, True, None):
        page = await chat_store.list_chats(owner="alice", archived=archived)
        assert "c1" not in {c.chat_id for c in page.chats}
    assert (await chat_store.list_chats(query="plans")).chats == []


async def seed_search(store: ChatStore) -> None:
    await store.create_chat("trip", "echo", owner="alice", title="Trip to Lisbon")
    await store.save_turn(
        "trip",
        1,
        [msg("u", "user", "Where should I eat?"), msg("a", "assistant", "The pastéis are great.")],
        start=0,
    )
    await store.create_chat("code", "echo", owner="alice")
    await store.save_turn(
        "code",
        1,
        [msg("u", "user", "Fix my Python traceback"), msg("a", "assistant", "Use a try block")],
        start=0,
        title="Fix my Python traceback",
    )
    await store.create_chat("bobs", "echo", owner="bob", title="Lisbon for Bob")


async def test_search_finds_titles_and_message_text(chat_store: ChatStore) -> None:
    await seed_search(chat_store)

    async def found(query: str, **filters: Any) -> list[str]:
        page = await chat_store.list_chats(query=query, **filters)
        return sorted(c.chat_id for c in page.chats)

    assert await found("lisbon") == ["bobs", "trip"]  # titles, any owner
    assert await found("Lisbon", owner="alice") == ["trip"]  # never another owner's
    assert await found("eat") == ["trip"]  # message text
    assert await found("traceback") == ["code"]  # title and text: listed once
    assert await found("try") == ["code"]  # an assistant's text
    assert await found("PYTHON fix") == ["code"]  # any case, any order
    assert await found("pyth") == ["code"]  # the last word matches as a prefix
    assert await found("pyth fix") == []  # the others whole
    assert await found("python lisbon") == []  # every word, in one message or the title
    assert await found("nothing-like-this") == []


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "'",
        '"python',
        "python'",
        "python AND",
        "OR python",
        "NOT python",
        "python NEAR(",
        "python*",
        "^python",
        "title:python",
        "python & | ! ( ) :* <->",
        "-python",
        "python;DROP TABLE chats;--",
        "(((",
        "\\",
        "python\x00",
    ],
)
async def test_search_input_never_breaks_the_query(chat_store: ChatStore, query: str) -> None:
    await seed_search(chat_store)
    page = await chat_store.list_chats(query=query)
    # Operators are plain separators: every word left must match.
    expected = {"code"} if search_words(query) == ["python"] else set()
    assert {c.chat_id for c in page.chats} == expected
    assert await chat_store.get_chat("code") is not None


async def test_search_pages_and_filters(chat_store: ChatStore) -> None:
    for n in range(7):
        await chat_store.create_chat(f"c{n}", "echo", owner="alice", title=f"Budget {n}")
    await chat_store.update_chat("c3", archived=True)
    first = await chat_store.list_chats(owner="alice", query="budget", limit=4)
    assert len(first.chats) == 4 and first.next_cursor
    rest = await chat_store.list_chats(
        owner="alice", query="budget", limit=4, cursor=first.next_cursor
    )
    assert rest.next_cursor is None
    ids = [c.chat_id for c in first.chats + rest.chats]
    assert ids == ["c6", "c5", "c4", "c2", "c1", "c0"]


async def test_update_chat(chat_store: ChatStore) -> None:
    created = await chat_store.create_chat(
        "c1", "echo", owner="alice", title="Plans", metadata={"a": 1}
    )
    renamed = await chat_store.update_chat("c1", title="New name")
    assert renamed is not None and renamed.title == "New name"
    assert renamed.updated_at > created.updated_at and renamed.metadata == {"a": 1}
    archived = await chat_store.update_chat("c1", archived=True, metadata={"b": [1, 2]})
    assert archived is not None and archived.archived and archived.metadata == {"b": [1, 2]}
    assert archived.title == "New name"
    unchanged = await chat_store.update_chat("c1")
    assert unchanged == archived
    restored = await chat_store.update_chat("c1", archived=False)
    assert restored is not None and not restored.archived
    assert await chat_store.update_chat("missing", title="x") is None
    assert (await chat_store.list_chats(query="new name", archived=None)).chats[0].chat_id == "c1"
    assert not (await chat_store.list_chats(query="plans", archived=None)).chats  # old title


async def test_set_state_replaces_it_without_counting_as_activity(
    chat_store: ChatStore,
) -> None:
    created = await chat_store.create_chat("c1", "echo")
    await chat_store.set_state("c1", {"preloaded": True})
    await chat_store.set_state("c1", {"subchats": ["x"]})
    await chat_store.set_state("missing", {"a": 1})  # no row: nothing happens
    chat = await chat_store.get_chat("c1")
    assert chat is not None and chat.state == {"subchats": ["x"]}
    assert chat.updated_at == created.updated_at


async def test_delete_chat_erases_everything_and_is_idempotent(chat_store: ChatStore) -> None:
    await seed_search(chat_store)
    await chat_store.delete_chat("trip")
    await chat_store.delete_chat("trip")
    await chat_store.delete_chat("never-existed")
    assert await chat_store.get_chat("trip") is None
    assert await chat_store.load_messages("trip") == []
    assert [c.chat_id for c in (await chat_store.list_chats(query="lisbon")).chats] == ["bobs"]
    assert (await chat_store.list_chats(query="eat")).chats == []
    # The id is free again: a new chat under it starts empty.
    fresh = await chat_store.create_chat("trip", "echo", owner="carol")
    assert (fresh.owner, fresh.title, fresh.message_count) == ("carol", None, 0)
    assert await chat_store.load_messages("trip") == []
    assert (await chat_store.get_chat("code")) is not None  # others untouched
    assert len(await chat_store.load_messages("code")) == 2


async def test_delete_racing_a_turn_leaves_no_orphans(chat_store: ChatStore) -> None:
    await chat_store.create_chat("c1", "echo")
    writes = [chat_store.save_turn("c1", n, turn_messages(n), start=2 * n) for n in range(10)]
    await asyncio.gather(*writes, chat_store.delete_chat("c1"))
    await chat_store.delete_chat("c1")
    assert await chat_store.get_chat("c1") is None
    assert await chat_store.load_messages("c1") == []


async def test_children(chat_store: ChatStore) -> None:
    await chat_store.create_chat("parent", "echo")
    await chat_store.create_chat("kid-1", "helper", parent="parent")
    await chat_store.create_chat("kid-2", "helper", parent="parent")
    await chat_store.create_chat("other", "helper", parent="someone-else")
    assert await chat_store.children("parent") == ["kid-1", "kid-2"]
    assert await chat_store.children("kid-1") == []
    kid = await chat_store.get_chat("kid-1")
    assert kid is not None and kid.parent == "parent"


async def test_stale_chats(chat_store: ChatStore, set_updated: SetUpdated) -> None:
    now = datetime.now(UTC)
    for chat_id, agent, days in [
        ("old-1", "echo", 40),
        ("old-2", "search", 35),
        ("new", "echo", 1),
    ]:
        await chat_store.create_chat(chat_id, agent)
        await set_updated(chat_id, now - timedelta(days=days))
    await chat_store.create_chat("doomed", "echo")
    await set_updated("doomed", now - timedelta(days=50))
    await chat_store.mark_deleting("doomed")
    await chat_store.update_chat("old-2", archived=True)
    await set_updated("old-2", now - timedelta(days=35))
    month = now - timedelta(days=30)
    assert await chat_store.stale_chats(before=month) == ["old-1", "old-2"]  # oldest first
    assert await chat_store.stale_chats(before=month, agent="search") == ["old-2"]
    assert await chat_store.stale_chats(before=month, exclude_agents=["echo"]) == ["old-2"]
    assert await chat_store.stale_chats(before=month, limit=1) == ["old-1"]
    assert await chat_store.stale_chats(before=now) == ["old-1", "old-2", "new"]
    with pytest.raises(ValueError, match="aware"):
        await chat_store.stale_chats(before=datetime(2025, 1, 1))


async def test_meta(chat_store: ChatStore) -> None:
    assert await chat_store.get_meta("legacy-import") is None
    await chat_store.set_meta("legacy-import", "2025-01-01T00:00:00+00:00")
    await chat_store.set_meta("legacy-import", "")
    assert await chat_store.get_meta("legacy-import") == ""


async def test_ping_and_schema_version(chat_store: ChatStore) -> None:
    await chat_store.ping()
    assert await chat_store.schema_version() == "0003"


async def test_bad_input_is_a_value_error_naming_the_field(chat_store: ChatStore) -> None:
    create = chat_store.create_chat
    with pytest.raises(ValueError, match="chat_id is 201 characters, over the limit of 200"):
        await create("x" * 201, "echo")
    with pytest.raises(ValueError, match="chat_id must be a non-empty string"):
        await create("", "echo")
    with pytest.raises(ValueError, match="owner is 201 characters"):
        await create("c1", "echo", owner="o" * 201)
    with pytest.raises(ValueError, match="title is 201 characters"):
        await create("c1", "echo", title="t" * 201)
    with pytest.raises(ValueError, match="metadata must be a JSON object, not list"):
        await create("c1", "echo", metadata=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metadata must be JSON"):
        await create("c1", "echo", metadata={"when": object()})
    big = {"blob": "x" * MAX_METADATA_BYTES}
    with pytest.raises(ValueError, match="over the limit of 16,384"):
        await create("c1", "echo", metadata=big)
    assert await chat_store.get_chat("c1") is None  # nothing was written
    await create("c1", "echo")
    with pytest.raises(ValueError, match="title is 201 characters"):
        await chat_store.update_chat("c1", title="t" * 201)
    with pytest.raises(ValueError, match="metadata"):
        await chat_store.update_chat("c1", metadata=big)
    with pytest.raises(ValueError, match="turn and start"):
        await chat_store.save_turn("c1", -1, [], start=0)
    with pytest.raises(ValueError, match="JSON objects"):
        await chat_store.save_turn("c1", 1, ["hello"], start=0)  # type: ignore[list-item]
    for limit in (0, 201, -5):
        with pytest.raises(ValueError, match="limit must be between 1 and 200"):
            await chat_store.list_chats(limit=limit)
    with pytest.raises(ValueError, match="owner is 201"):
        await chat_store.list_chats(owner="o" * 201)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "",
        "eyJ1IjogMX0",  # {"u": 1}
        "W10",  # []
        "eyJ1IjoiMjAyNS0wMS0wMVQwMDowMDowMCIsImMiOiJ4In0",  # a naive timestamp
        "eyJ1Ijoibm90IGEgZGF0ZSIsImMiOiJ4In0",  # {"u": "not a date", "c": "x"}
        "x" * 5000,
    ],
)
async def test_malformed_cursors(chat_store: ChatStore, cursor: str) -> None:
    with pytest.raises(ValueError, match="malformed cursor"):
        await chat_store.list_chats(cursor=cursor)


async def test_concurrent_writers(chat_store: ChatStore) -> None:
    # SQLite: every write transaction begins IMMEDIATE and queues on the busy timeout.
    ids = [f"c{n}" for n in range(20)]
    await asyncio.gather(*(chat_store.create_chat(i, "echo", owner="alice") for i in ids))
    await asyncio.gather(
        *(chat_store.save_turn(i, 1, turn_messages(1), start=0) for i in ids),
        *(chat_store.save_turn(i, 1, turn_messages(1), start=0) for i in ids),
    )
    page = await chat_store.list_chats(owner="alice", limit=50)
    assert len(page.chats) == 20 and all(c.message_count == 2 for c in page.chats)
