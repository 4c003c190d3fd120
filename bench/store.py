"""The chat store at size: listing one owner's chats and searching, among 100,000 chats.

Seeds a SQLite file and a PostgreSQL server of its own (Debian's, started like the tests') with
`chats` chats spread over `owners` owners, `messages` messages each, in bulk; then times,
through the public `ChatStore` API, a primary-key `get_chat` (the baseline), the first and the
second page of one owner's 50 newest chats, and three searches: a rare word across all chats,
a common word within one owner's chats (a sidebar's search box), and a very common word across
all chats (the worst case).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from agentchat.store import ChatStore
from agentchat.store._schema import chats, messages
from agentchat.store.migrations.versions import r0002_search
from agentchat.testing.local import free_port, start_postgres, stop_postgres
from bench.harness import summary

__all__ = ["report", "store_bench"]

VOCABULARY = 20_000
WORDS_PER_MESSAGE = 12
BATCH = 5_000
SYLLABLES = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"]


def _word(rank: int) -> str:
    """A made-up word per rank: "ba", "be", ... then two syllables and more."""
    out = []
    rank += 1
    while rank:
        rank, digit = divmod(rank - 1, len(SYLLABLES))
        out.append(SYLLABLES[digit])
    return "".join(reversed(out)) + "n"


WORDS = [_word(rank) for rank in range(VOCABULARY)]
# Zipf's law (exponent 1), as words in text roughly follow: rank 10 is in ~10% of messages of
# 12 words, rank 3,000 in ~0.04%.
_WEIGHTS = 1.0 / np.arange(1, VOCABULARY + 1)
PROBABILITIES = _WEIGHTS / _WEIGHTS.sum()
_WORD_ARRAY = np.array(WORDS, dtype=object)


def _texts(rng: np.random.Generator, count: int, words: int) -> list[str]:
    drawn = _WORD_ARRAY[rng.choice(VOCABULARY, size=(count, words), p=PROBABILITIES)]
    return [" ".join(row) for row in drawn.tolist()]


def _rows(
    chat_count: int, owners: int, per_chat: int, seed: int = 7
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Batches of (chat rows, their message rows)."""
    rng = random.Random(seed)
    draw = np.random.default_rng(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for first in range(0, chat_count, BATCH):
        last = min(first + BATCH, chat_count)
        titles = iter(_texts(draw, last - first, 4))
        texts = iter(_texts(draw, (last - first) * per_chat, WORDS_PER_MESSAGE))
        chat_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        for n in range(first, last):
            chat_id = f"chat-{n:07d}"
            # Activity spread over 90 days at microsecond resolution, owners interleaved.
            when = start + timedelta(microseconds=rng.randrange(90 * 86_400 * 10**6))
            chat_rows.append(
                {
                    "chat_id": chat_id,
                    "agent": "assistant" if n % 4 else "researcher",
                    "owner": f"user-{n % owners:05d}",
                    "parent": None,
                    "title": next(titles),
                    "metadata": {},
                    "state": {},
                    "archived": (n // owners) % 10 == 0,  # a tenth of each owner's
                    "deleting": False,
                    "created_at": when,
                    "updated_at": when,
                    "last_turn": per_chat // 2,
                    "message_count": per_chat,
                }
            )
            for position in range(per_chat):
                text = next(texts)
                role = "user" if position % 2 == 0 else "assistant"
                message_rows.append(
                    {
                        "chat_id": chat_id,
                        "position": position,
                        "turn": position // 2 + 1,
                        "message": {
                            "id": f"m{position}",
                            "role": role,
                            "parts": [{"type": "text", "text": text}],
                        },
                        "usage": None,
                        "text": text,
                        "created_at": when,
                    }
                )
        yield chat_rows, message_rows


# Indexing search as a bulk load does: FTS5 row by row through the triggers took 45 µs a
# message, a `rebuild` afterwards 3 µs; PostgreSQL builds a GIN index in one pass.
# Each pair: what is dropped before the load, what puts it back after (the migration's own
# statement, so the schema measured is the one shipped).
_SQLITE_TRIGGERS = [
    statement
    for statement in r0002_search.SQLITE_UP
    if statement.startswith(
        ("CREATE TRIGGER messages_fts_insert", "CREATE TRIGGER chats_fts_insert")
    )
]
_SQLITE_BULK = (
    ["DROP TRIGGER messages_fts_insert", "DROP TRIGGER chats_fts_insert"],
    [
        *_SQLITE_TRIGGERS,
        "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
        "INSERT INTO chats_fts(chats_fts) VALUES ('rebuild')",
    ],
)
_POSTGRES_BULK = (
    ["DROP INDEX ix_messages_search", "DROP INDEX ix_chats_search"],
    [
        "SET maintenance_work_mem = '256MB'",
        *(s for s in r0002_search.POSTGRES_UP if s.startswith("CREATE INDEX")),
    ],
)


async def _seed(store: ChatStore, chat_count: int, owners: int, per_chat: int) -> float:
    """Bulk-insert the chats and messages (executemany, a transaction per batch)."""
    started = time.perf_counter()
    engine = store._engine  # the benchmark seeds below the API: one turn at a time is slow
    before, after = _SQLITE_BULK if engine.dialect.name == "sqlite" else _POSTGRES_BULK
    async with engine.begin() as conn:
        for statement in before:
            await conn.execute(sa.text(statement))
    for chat_rows, message_rows in _rows(chat_count, owners, per_chat):
        async with engine.begin() as conn:
            await conn.execute(chats.insert(), chat_rows)
            if message_rows:
                await conn.execute(messages.insert(), message_rows)
    async with engine.begin() as conn:
        for statement in after:
            await conn.execute(sa.text(statement))
        # Planner statistics, as autovacuum would gather them on a live database.
        await conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


async def _time(
    rounds: int, call: Callable[[int], Awaitable[Any]], check: Callable[[Any], bool] | None = None
) -> dict[str, float]:
    await call(rounds)  # warm: a pooled connection, prepared statements
    times = []
    for i in range(rounds):
        began = time.perf_counter()
        result = await call(i)
        times.append(time.perf_counter() - began)
        if check is not None and not check(result):
            raise AssertionError(f"unexpected result {result!r:.200}")
    return summary(times)


async def _measure(
    url: str, chat_count: int, owners: int, per_chat: int, rounds: int
) -> dict[str, Any]:
    store = await ChatStore.open(url)
    try:
        seed_s = await _seed(store, chat_count, owners, per_chat)
        rng = random.Random(11)
        picks = [rng.randrange(chat_count) for _ in range(rounds + 1)]
        owner_of = [f"user-{rng.randrange(owners):05d}" for _ in range(rounds + 1)]
        cursors: list[str | None] = []
        for owner in owner_of:
            cursors.append((await store.list_chats(owner=owner, limit=50)).next_cursor)
        row: dict[str, Any] = {"seed_s": seed_s}
        row["get_chat"] = await _time(
            rounds, lambda i: store.get_chat(f"chat-{picks[i]:07d}"), lambda r: r is not None
        )
        row["list_first"] = await _time(
            rounds,
            lambda i: store.list_chats(owner=owner_of[i], limit=50),
            lambda page: len(page.chats) == min(50, chat_count // owners * 9 // 10),
        )
        row["list_next"] = await _time(
            rounds, lambda i: store.list_chats(owner=owner_of[i], limit=50, cursor=cursors[i])
        )
        row["search_rare"] = await _time(
            rounds, lambda i: store.list_chats(query=WORDS[3_000 + i], limit=50)
        )
        row["search_owner"] = await _time(
            rounds,
            lambda i: store.list_chats(owner=owner_of[i], query=WORDS[100 + i % 100], limit=50),
        )
        row["search_common"] = await _time(
            max(3, rounds // 10), lambda i: store.list_chats(query=WORDS[5 + i % 10], limit=50)
        )
        base = row["get_chat"]["p50_ms"]
        row["ratio"] = {
            key: row[key]["p50_ms"] / base
            for key in ("list_first", "list_next", "search_rare", "search_owner", "search_common")
        }
        return row
    finally:
        await store.close()


def _workdir() -> Path:
    base = Path(tempfile.mkdtemp(prefix="agentchat-bench-store-"))
    base.chmod(0o711)  # as root, postgres runs as an unprivileged user that must reach it
    return base


async def store_bench(chats: int, owners: int, messages: int, rounds: int) -> dict[str, Any]:
    """Seed and measure SQLite, then PostgreSQL; see the module's docstring."""
    results: dict[str, Any] = {"chats": chats, "owners": owners, "messages": messages}
    base = _workdir()
    try:
        results["sqlite"] = await _measure(
            f"sqlite:///{base / 'chats.db'}", chats, owners, messages, rounds
        )
        port = free_port()
        server = start_postgres(base / "pg", port, database="bench", log_file=base / "pg.log")
        try:
            url = f"postgresql://agentchat@127.0.0.1:{port}/bench"
            results["postgresql"] = await _measure(url, chats, owners, messages, rounds)
        finally:
            stop_postgres(server)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


ROWS = [
    ("get_chat", "get_chat by id (baseline)"),
    ("list_first", "one owner's 50 newest chats"),
    ("list_next", "the next 50 (cursor)"),
    ("search_rare", "search, a rare word, all chats"),
    ("search_owner", "search, a common word, one owner's chats"),
    ("search_common", "search, a very common word, all chats"),
]


def report(results: dict[str, Any]) -> str:
    """The store's figures as a Markdown table."""
    lines = [
        "| measure | database | n | p50 ms | p95 ms | p99 ms | p50 / baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, name in ROWS:
        for db in ("sqlite", "postgresql"):
            if db not in results:
                continue
            row = results[db][key]
            ratio = results[db]["ratio"].get(key)
            lines.append(
                f"| {name} | {db} | {row['n']} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} |"
                f" {row['p99_ms']:.2f} | {f'{ratio:.1f}x' if ratio else ''} |"
            )
    seeded = ", ".join(
        f"{db} {results[db]['seed_s']:.0f} s" for db in ("sqlite", "postgresql") if db in results
    )
    lines += [
        "",
        f"{results['chats']:,} chats of {results['messages']} messages over"
        f" {results['owners']:,} owners; seeded in bulk in {seeded}.",
    ]
    return "\n".join(lines)
