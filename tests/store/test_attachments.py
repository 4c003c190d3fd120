"""A chat's attachments: which blobs it holds, shared refs, deletion, and revision 0003."""

from __future__ import annotations

from dataclasses import dataclass

from agentchat.store import ChatStore

REF_A = "sha256-" + "a" * 64
REF_B = "sha256-" + "b" * 64


@dataclass(frozen=True)
class Blob:
    ref: str
    media_type: str = "image/png"
    size: int = 3
    filename: str | None = "cat.png"


async def test_attach_list_and_check(chat_store: ChatStore) -> None:
    first = await chat_store.add_attachment("c1", Blob(REF_A))
    assert (first.chat_id, first.ref, first.media_type, first.size) == ("c1", REF_A, "image/png", 3)
    # Idempotent: the first upload's name stays.
    again = await chat_store.add_attachment("c1", Blob(REF_A, filename="other.png"))
    assert again == first
    await chat_store.add_attachment("c1", Blob(REF_B, media_type="application/pdf", filename=None))
    assert [a.ref for a in await chat_store.attachments("c1")] == [REF_A, REF_B]
    assert await chat_store.has_attachment("c1", REF_A)
    assert not await chat_store.has_attachment("c2", REF_A)
    assert await chat_store.attached("c1", [REF_A, REF_B, "sha256-" + "c" * 64]) == {REF_A, REF_B}
    assert await chat_store.attached("c1", []) == set()
    held = await chat_store.attachment("c1", REF_B)
    assert held is not None and held.filename is None


async def test_deleting_a_chat_frees_only_the_refs_no_other_chat_holds(
    chat_store: ChatStore,
) -> None:
    await chat_store.create_chat("c1", "echo")
    await chat_store.create_chat("c2", "echo")
    await chat_store.add_attachment("c1", Blob(REF_A))
    await chat_store.add_attachment("c1", Blob(REF_B))
    await chat_store.add_attachment("c2", Blob(REF_B))
    assert await chat_store.ref_in_use(REF_B, besides="c1")
    assert not await chat_store.ref_in_use(REF_A, besides="c1")
    assert await chat_store.delete_chat("c1") == [REF_A]
    assert await chat_store.attachments("c1") == []
    assert [a.ref for a in await chat_store.attachments("c2")] == [REF_B]
    assert await chat_store.delete_chat("c1") == []  # idempotent
    assert await chat_store.delete_chat("c2") == [REF_B]
    assert not await chat_store.ref_in_use(REF_B)


async def test_upgrade_from_0002_keeps_data_and_adds_attachments(db_url: str) -> None:
    store = await ChatStore.open(db_url, migrate=False)
    try:
        await store.migrate("0002")
        await store.create_chat("old", "echo", owner="alice", title="Trip")
        await store.save_turn(
            "old",
            1,
            [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
            start=0,
        )
        before = await store.get_chat("old")
    finally:
        await store.close()
    store = await ChatStore.open(db_url)
    try:
        assert await store.schema_version() == "0003"
        assert await store.get_chat("old") == before
        assert [r.message["id"] for r in await store.load_messages("old")] == ["u"]
        assert await store.attachments("old") == []
        await store.add_attachment("old", Blob(REF_A))
        assert [c.chat_id for c in (await store.list_chats(query="hi")).chats] == ["old"]
        assert await store.delete_chat("old") == [REF_A]
    finally:
        await store.close()
