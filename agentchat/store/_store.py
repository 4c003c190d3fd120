"""`ChatStore`: the system of record for conversations, over SQLite or PostgreSQL."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentchat.settings import redact_url
from agentchat.store._engine import WRITE, create_engine
from agentchat.store._migrate import MIGRATION_LOCK, current_revision, upgrade
from agentchat.store._records import (
    MAX_TITLE,
    Attachment,
    ChatPage,
    ChatRecord,
    StoredMessage,
    check_chat_id,
    check_metadata,
    check_owner,
    check_title,
    message_text,
    search_words,
)
from agentchat.store._schema import attachments as attached
from agentchat.store._schema import chats, meta
from agentchat.store._schema import messages as transcript

__all__ = ["MAX_LIST_LIMIT", "SEARCH_TEXT_CHARS", "AttachedBlob", "ChatStore"]

MAX_LIST_LIMIT = 200
"""Most chats one `list_chats` page returns."""
SEARCH_TEXT_CHARS = 100_000
"""A message's text is indexed for search up to this many characters: PostgreSQL refuses a
`tsvector` over 1 MB, and a match is rarely found only past the first 100 KB of one message."""

_CHAT_COLUMNS = [c for c in chats.c if c.name != "id"]


class AttachedBlob(Protocol):
    """What `add_attachment` records of a blob: an `agentchat.blobs.BlobRef` is one."""

    @property
    def ref(self) -> str: ...
    @property
    def media_type(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def filename(self) -> str | None: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _record(row: sa.Row[Any]) -> ChatRecord:
    return ChatRecord(
        chat_id=row.chat_id,
        agent=row.agent,
        owner=row.owner,
        parent=row.parent,
        title=row.title,
        metadata=row.metadata or {},
        archived=bool(row.archived),
        deleting=bool(row.deleting),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_turn=row.last_turn,
        message_count=row.message_count,
        state=row.state or {},
    )


def _attachment(row: sa.Row[Any]) -> Attachment:
    return Attachment(
        chat_id=row.chat_id,
        ref=row.ref,
        media_type=row.media_type,
        size=row.size,
        filename=row.filename,
        created_at=row.created_at,
    )


def encode_cursor(updated_at: datetime, chat_id: str) -> str:
    """The opaque cursor after a chat: base64url of its sort key as JSON."""
    raw = orjson.dumps({"u": updated_at.astimezone(UTC).isoformat(), "c": chat_id})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The sort key a cursor holds.

    Raises:
        ValueError: `malformed cursor ...` for anything `encode_cursor` did not produce.
    """
    try:
        if not isinstance(cursor, str) or len(cursor) > 1024:
            raise ValueError("not a cursor string")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        if not isinstance(data, dict) or set(data) != {"u", "c"}:
            raise ValueError("unexpected fields")
        updated, chat_id = data["u"], data["c"]
        if not isinstance(updated, str) or not isinstance(chat_id, str):
            raise ValueError("unexpected types")
        when = datetime.fromisoformat(updated)
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        check_chat_id(chat_id)
    except (ValueError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ValueError(f"malformed cursor: {exc}; pass next_cursor as it was returned") from None
    return when.astimezone(UTC), chat_id


class ChatStore:
    """Chats and their messages in SQLite or PostgreSQL, through SQLAlchemy's async Core.

    Open it with `await ChatStore.open(url)` (which migrates the schema), share it within a
    process, and `await store.close()` at the end. Every method is one transaction. An
    unreachable database raises SQLAlchemy's `OperationalError`/`DBAPIError` or `OSError`;
    bad input raises `ValueError`.

    Attributes:
        url: The database URL with any password hidden, for messages.
    """

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self._engine = engine
        self.url = redact_url(url)
        self._sqlite = engine.dialect.name == "sqlite"

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True, echo: bool = False) -> ChatStore:
        """Connect to the database at `url` and, by default, upgrade its schema to the head.

        Args:
            url: `sqlite:///path/to/chats.db` or `postgresql://user:pw@host:5432/db`
                (`postgres://` and the `+aiosqlite` / `+asyncpg` forms too).
            migrate: Run the migrations this package ships. Several processes may open the
                same database at once: they migrate one at a time.
            echo: Log every SQL statement (SQLAlchemy's `echo`).

        Raises:
            ValueError: The URL's scheme is not supported.
        """
        store = cls(create_engine(url, echo=echo), url)
        if migrate:
            try:
                await store.migrate()
            except BaseException:
                await store.close()
                raise
        return store

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    async def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to `revision` (the newest by default), under a lock.

        PostgreSQL holds an advisory lock for the migration's transaction; SQLite's
        `BEGIN IMMEDIATE` excludes every other writer. A process that waited finds the
        schema already upgraded and does nothing.
        """
        async with self._write() as conn:
            if not self._sqlite:
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": MIGRATION_LOCK},
                )
            await conn.run_sync(upgrade, revision)

    async def ping(self) -> None:
        """Round-trip to the database; raises when it is unreachable."""
        async with self._engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def schema_version(self) -> str | None:
        """The Alembic revision the database is at (None before any migration)."""
        async with self._engine.connect() as conn:
            return await conn.run_sync(current_revision)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            await conn.execution_options(**{WRITE: True})
            async with conn.begin():
                yield conn

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has `on_conflict_do_update` / `_do_nothing`."""
        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)

    async def create_chat(
        self,
        chat_id: str,
        agent: str,
        *,
        owner: str | None = None,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        parent: str | None = None,
    ) -> ChatRecord:
        """Create a chat's row, or return the existing one unchanged.

        Idempotent: a chat's owner, agent and title are fixed by the first call; the caller
        compares the returned owner with its own to detect another owner's chat.

        Args:
            chat_id: The chat's id.
            agent: The agent serving it.
            owner: Its owner (fixed from now on), or None.
            title: A title to start with (else the first turn's).
            metadata: The user's metadata, a JSON object of at most 16 KiB.
            parent: The chat that owns this one (a sub-agent's chat), found by `children`.

        Raises:
            ValueError: An id, owner or title too long, or metadata not a small JSON object.
        """
        check_chat_id(chat_id)
        check_owner(owner)
        if parent is not None:
            check_chat_id(parent)
        if not isinstance(agent, str) or not agent or len(agent) > 200:
            raise ValueError("agent must be a non-empty string of at most 200 characters")
        if title is not None:
            check_title(title)
        data = check_metadata(metadata) if metadata is not None else {}
        now = _now()
        insert = (
            self._insert(chats)
            .values(
                chat_id=chat_id,
                agent=agent,
                owner=owner,
                parent=parent,
                title=title,
                metadata=data,
                state={},
                archived=False,
                deleting=False,
                created_at=now,
                updated_at=now,
                last_turn=0,
                message_count=0,
            )
            .on_conflict_do_nothing(index_elements=["chat_id"])
        )
        async with self._write() as conn:
            await conn.execute(insert)
            row = (await conn.execute(self._select_chat(chat_id))).one()
        return _record(row)

    @staticmethod
    def _select_chat(chat_id: str) -> sa.Select[Any]:
        return sa.select(*_CHAT_COLUMNS).where(chats.c.chat_id == chat_id)

    async def get_chat(self, chat_id: str) -> ChatRecord | None:
        """The chat's row, or None when there is none (never created, or deleted)."""
        check_chat_id(chat_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(self._select_chat(chat_id))).one_or_none()
        return None if row is None else _record(row)

    async def save_turn(
        self,
        chat_id: str,
        turn: int,
        messages: list[dict[str, Any]],
        *,
        start: int,
        usage: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        title: str | None = None,
    ) -> None:
        """Write a turn's messages at positions `start`..`start + len(messages) - 1`.

        Idempotent: a message is keyed by (chat, position), so a retried call rewrites the
        same rows and never adds one. The chat's `last_turn` and `message_count` only grow,
        `updated_at` becomes now, `state` is replaced when given, and `title` is set only when
        the chat has none yet (cut to `MAX_TITLE`, never refused). `usage` goes on the last
        assistant message among `messages`.

        A chat whose row does not exist (a deletion raced the turn) is left alone: nothing is
        written and no error is raised.

        Raises:
            ValueError: A negative turn or start, or messages that are not JSON objects.
        """
        check_chat_id(chat_id)
        if turn < 0 or start < 0:
            raise ValueError(f"turn and start must be >= 0, not {turn} and {start}")
        if not all(isinstance(m, dict) for m in messages):
            raise ValueError("messages must be UIMessages as JSON objects")
        if title is not None:
            title = title[:MAX_TITLE] or None
        now = _now()
        values: dict[str, Any] = {
            "updated_at": now,
            "last_turn": sa.case((chats.c.last_turn > turn, chats.c.last_turn), else_=turn),
            "message_count": sa.case(
                (chats.c.message_count > start + len(messages), chats.c.message_count),
                else_=start + len(messages),
            ),
        }
        if state is not None:
            values["state"] = state
        if title is not None:
            values["title"] = sa.func.coalesce(chats.c.title, title)
        rows = self._message_rows(chat_id, turn, messages, start, usage, now)
        async with self._write() as conn:
            # The chat's row first: on PostgreSQL this locks it, so a concurrent delete_chat
            # either ran before (no row: write nothing) or waits for this turn and erases it.
            updated = await conn.execute(
                sa.update(chats).where(chats.c.chat_id == chat_id).values(**values)
            )
            if updated.rowcount == 0 or not rows:
                return
            insert = self._insert(transcript)
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["chat_id", "position"],
                    set_={
                        "turn": insert.excluded.turn,
                        "message": insert.excluded.message,
                        "usage": insert.excluded.usage,
                        "text": insert.excluded.text,
                    },
                ),
                rows,
            )

    @staticmethod
    def _message_rows(
        chat_id: str,
        turn: int,
        items: Sequence[dict[str, Any]],
        start: int,
        usage: dict[str, Any] | None,
        now: datetime,
    ) -> list[dict[str, Any]]:
        usage_at = -1
        if usage is not None:
            for index in range(len(items) - 1, -1, -1):
                if items[index].get("role") == "assistant":
                    usage_at = index
                    break
        return [
            {
                "chat_id": chat_id,
                "position": start + index,
                "turn": turn,
                "message": item,
                "usage": usage if index == usage_at else None,
                "text": message_text(item)[:SEARCH_TEXT_CHARS],
                "created_at": now,
            }
            for index, item in enumerate(items)
        ]

    async def load_messages(
        self, chat_id: str, *, after: int = -1, limit: int | None = None
    ) -> list[StoredMessage]:
        """The chat's messages after position `after`, in order (at most `limit` of them)."""
        check_chat_id(chat_id)
        query = (
            sa.select(
                transcript.c.position, transcript.c.turn, transcript.c.message, transcript.c.usage
            )
            .where(transcript.c.chat_id == chat_id, transcript.c.position > after)
            .order_by(transcript.c.position)
        )
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit must be at least 1, not {limit}")
            query = query.limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            StoredMessage(position=r.position, turn=r.turn, message=r.message, usage=r.usage)
            for r in rows
        ]

    async def list_chats(
        self,
        *,
        owner: str | None = None,
        agent: str | None = None,
        query: str | None = None,
        archived: bool | None = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ChatPage:
        """A page of chats, newest activity first (ties: chat id, descending).

        Args:
            owner: Only this owner's chats (None: every owner's).
            agent: Only this agent's chats.
            query: Full-text search over titles and message text: every word must appear in
                the title or in one message; the last word also matches as a prefix.
                Punctuation and operators in it are plain separators.
            archived: False (the default) for active chats, True for archived ones, None for
                both.
            limit: Chats per page, 1 to 200.
            cursor: The previous page's `next_cursor`.

        Returns:
            The page; chats being deleted are never listed.

        Raises:
            ValueError: A limit out of range, a malformed cursor, or an owner too long.
        """
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}, not {limit!r}")
        check_owner(owner)
        select = sa.select(*_CHAT_COLUMNS).where(chats.c.deleting == False)  # noqa: E712
        # A sub-agent's chat is part of its parent's conversation, not a chat of its own.
        select = select.where(chats.c.parent.is_(None))
        if owner is not None:
            select = select.where(chats.c.owner == owner)
        if agent is not None:
            select = select.where(chats.c.agent == agent)
        if archived is not None:
            select = select.where(chats.c.archived == archived)
        if cursor is not None:
            updated_at, chat_id = decode_cursor(cursor)
            select = select.where(
                sa.tuple_(chats.c.updated_at, chats.c.chat_id)
                < sa.tuple_(
                    sa.literal(updated_at, chats.c.updated_at.type),
                    sa.literal(chat_id, chats.c.chat_id.type),
                )
            )
        if query is not None:
            words = search_words(query)
            if not words:
                return ChatPage(chats=[], next_cursor=None)
            select = select.where(self._matches(words))
        select = select.order_by(chats.c.updated_at.desc(), chats.c.chat_id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select)).all()
        page = [_record(row) for row in rows[:limit]]
        more = len(rows) > limit
        last = page[-1] if page else None
        return ChatPage(
            chats=page,
            next_cursor=encode_cursor(last.updated_at, last.chat_id) if more and last else None,
        )

    def _matches(self, words: list[str]) -> sa.ColumnElement[bool]:
        """Chats whose title or one of whose messages holds every word (the last as a prefix).

        The words are letters and digits only (`search_words`), so quoting them is enough to
        keep user input from changing the query's syntax.
        """
        if self._sqlite:
            fts = " ".join(f'"{word}"' for word in words) + "*"
            in_titles = sa.text("SELECT rowid FROM chats_fts WHERE chats_fts MATCH :fts")
            in_message_text = sa.text(
                "SELECT m.chat_id FROM messages_fts JOIN messages AS m"
                " ON m.id = messages_fts.rowid WHERE messages_fts MATCH :fts"
            )
            return sa.or_(
                chats.c.id.in_(in_titles.bindparams(fts=fts).columns(sa.column("rowid"))),
                chats.c.chat_id.in_(
                    in_message_text.bindparams(fts=fts).columns(sa.column("chat_id"))
                ),
            )
        tsquery = " & ".join(f"'{word}'" for word in words) + ":*"
        # `search` is a generated column (revision 0002) the Core tables leave out: nothing
        # writes it.
        match = sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), tsquery)
        # A correlated EXISTS, not `chat_id IN (...)`: within one owner's chats it checks
        # their few messages through the (chat_id, position) index, 1.4 ms at 100,000 chats
        # against 36 ms for collecting every chat the word is in; across all chats the two
        # measured the same (bench/store.py).
        in_messages = (
            sa.select(sa.literal(1))
            .select_from(transcript)
            .where(
                transcript.c.chat_id == chats.c.chat_id,
                sa.literal_column("messages.search").op("@@")(match),
            )
            .correlate(chats)
        )
        return sa.or_(
            sa.literal_column("chats.search").op("@@")(match),
            in_messages.exists(),
        )

    async def update_chat(
        self,
        chat_id: str,
        *,
        title: str | None = None,
        archived: bool | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ChatRecord | None:
        """Rename, archive or unarchive a chat, or replace its metadata.

        Only the arguments given change; any change counts as activity (`updated_at`).

        Returns:
            The updated chat, or None when there is no such chat.

        Raises:
            ValueError: A title too long, or metadata not a small JSON object.
        """
        check_chat_id(chat_id)
        values: dict[str, Any] = {}
        if title is not None:
            check_title(title)
            values["title"] = title
        if archived is not None:
            values["archived"] = bool(archived)
        if metadata is not None:
            values["metadata"] = check_metadata(metadata)
        async with self._write() as conn:
            if values:
                values["updated_at"] = _now()
                await conn.execute(
                    sa.update(chats).where(chats.c.chat_id == chat_id).values(**values)
                )
            row = (await conn.execute(self._select_chat(chat_id))).one_or_none()
        return None if row is None else _record(row)

    async def set_state(self, chat_id: str, state: dict[str, Any]) -> None:
        """Replace the chat's internal state (no effect on `updated_at`; none without a row)."""
        check_chat_id(chat_id)
        if not isinstance(state, dict):
            raise ValueError("state must be a JSON object")
        async with self._write() as conn:
            await conn.execute(
                sa.update(chats).where(chats.c.chat_id == chat_id).values(state=state)
            )

    async def mark_deleting(self, chat_id: str) -> bool:
        """Flag the chat as being deleted (it disappears from listings at once).

        Returns:
            True when the chat's row exists.
        """
        check_chat_id(chat_id)
        async with self._write() as conn:
            result = await conn.execute(
                sa.update(chats).where(chats.c.chat_id == chat_id).values(deleting=True)
            )
        return bool(result.rowcount)

    async def delete_chat(self, chat_id: str) -> list[str]:
        """Erase the chat's row, its messages, their search entries and its attachments.

        Idempotent. Returns the refs of the blobs the chat held that no other chat holds now:
        the caller deletes them from the blob store.
        """
        check_chat_id(chat_id)
        async with self._write() as conn:
            if not self._sqlite:
                # Lock the row first: a save_turn in flight finishes before the messages are
                # deleted (and its rows with them); one that starts later finds no chat.
                await conn.execute(
                    sa.select(chats.c.id).where(chats.c.chat_id == chat_id).with_for_update()
                )
            refs = list(
                (
                    await conn.execute(
                        sa.select(attached.c.ref).where(attached.c.chat_id == chat_id)
                    )
                ).scalars()
            )
            await conn.execute(sa.delete(attached).where(attached.c.chat_id == chat_id))
            await conn.execute(sa.delete(transcript).where(transcript.c.chat_id == chat_id))
            await conn.execute(sa.delete(chats).where(chats.c.chat_id == chat_id))
            held: set[str] = set()
            if refs:
                held = set(
                    (
                        await conn.execute(
                            sa.select(attached.c.ref).where(attached.c.ref.in_(refs)).distinct()
                        )
                    ).scalars()
                )
        return sorted(set(refs) - held)

    # -- attachments ----------------------------------------------------------------------

    async def add_attachment(self, chat_id: str, blob: AttachedBlob) -> Attachment:
        """Record that a chat holds a blob (its messages may refer to it). Idempotent: the
        first upload's media type and file name stay.

        Returns:
            The chat's record of the blob.
        """
        check_chat_id(chat_id)
        insert = (
            self._insert(attached)
            .values(
                chat_id=chat_id,
                ref=blob.ref,
                media_type=blob.media_type,
                size=blob.size,
                filename=blob.filename,
                created_at=_now(),
            )
            .on_conflict_do_nothing(index_elements=["chat_id", "ref"])
        )
        async with self._write() as conn:
            await conn.execute(insert)
            row = (await conn.execute(self._select_attachment(chat_id, blob.ref))).one()
        return _attachment(row)

    @staticmethod
    def _select_attachment(chat_id: str, ref: str) -> sa.Select[Any]:
        return sa.select(*attached.c).where(attached.c.chat_id == chat_id, attached.c.ref == ref)

    async def attachment(self, chat_id: str, ref: str) -> Attachment | None:
        """The chat's record of a blob, or None when the chat holds no such blob."""
        check_chat_id(chat_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(self._select_attachment(chat_id, ref))).one_or_none()
        return None if row is None else _attachment(row)

    async def attachments(self, chat_id: str) -> list[Attachment]:
        """Every blob the chat holds, oldest first."""
        check_chat_id(chat_id)
        select = (
            sa.select(*attached.c)
            .where(attached.c.chat_id == chat_id)
            .order_by(attached.c.created_at, attached.c.ref)
        )
        async with self._engine.connect() as conn:
            return [_attachment(row) for row in (await conn.execute(select)).all()]

    async def has_attachment(self, chat_id: str, ref: str) -> bool:
        """Whether the chat holds the blob."""
        return await self.attachment(chat_id, ref) is not None

    async def attached(self, chat_id: str, refs: Sequence[str]) -> set[str]:
        """Which of `refs` the chat holds (one query for a message's files)."""
        check_chat_id(chat_id)
        if not refs:
            return set()
        select = sa.select(attached.c.ref).where(
            attached.c.chat_id == chat_id, attached.c.ref.in_(list(set(refs)))
        )
        async with self._engine.connect() as conn:
            return set((await conn.execute(select)).scalars())

    async def ref_in_use(self, ref: str, *, besides: str | None = None) -> bool:
        """Whether any chat (other than `besides`) holds the blob."""
        select = sa.select(attached.c.chat_id).where(attached.c.ref == ref)
        if besides is not None:
            select = select.where(attached.c.chat_id != besides)
        async with self._engine.connect() as conn:
            return (await conn.execute(select.limit(1))).first() is not None

    async def children(self, chat_id: str) -> list[str]:
        """Ids of the chats created with `parent=chat_id` (its sub-agents' chats), oldest first."""
        check_chat_id(chat_id)
        select = (
            sa.select(chats.c.chat_id)
            .where(chats.c.parent == chat_id)
            .order_by(chats.c.created_at, chats.c.chat_id)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(select)).scalars())

    async def stale_chats(
        self,
        *,
        before: datetime,
        agent: str | None = None,
        limit: int = 500,
        exclude_agents: Sequence[str] = (),
    ) -> list[str]:
        """Ids of chats with no activity since `before` (oldest first), for retention.

        Chats already being deleted are left out; archived ones are included.

        Args:
            before: Chats whose `updated_at` is earlier (aware datetime).
            agent: Only this agent's chats.
            limit: At most this many ids.
            exclude_agents: Leave out these agents' chats (those with a policy of their own).
        """
        if before.tzinfo is None:
            raise ValueError("before must be timezone-aware")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        select = sa.select(chats.c.chat_id).where(
            chats.c.deleting == False,  # noqa: E712
            chats.c.updated_at < before,
        )
        if agent is not None:
            select = select.where(chats.c.agent == agent)
        if exclude_agents:
            select = select.where(chats.c.agent.not_in(list(exclude_agents)))
        select = select.order_by(chats.c.updated_at, chats.c.chat_id).limit(limit)
        async with self._engine.connect() as conn:
            return list((await conn.execute(select)).scalars())

    async def get_meta(self, key: str) -> str | None:
        """A value of the store's key-value table (e.g. what was imported once)."""
        async with self._engine.connect() as conn:
            return (
                await conn.execute(sa.select(meta.c.value).where(meta.c.key == key))
            ).scalar_one_or_none()

    async def set_meta(self, key: str, value: str) -> None:
        """Set a value of the store's key-value table."""
        if not isinstance(key, str) or not key or len(key) > 200:
            raise ValueError("key must be a non-empty string of at most 200 characters")
        insert = self._insert(meta).values(key=key, value=value)
        async with self._write() as conn:
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["key"], set_={"value": insert.excluded.value}
                )
            )
