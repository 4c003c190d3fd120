"""Many chats, one Redis round trip: the appends of every running step in a process share calls.

A busy worker streams hundreds of chats at once, each flushing tens of times a second. Sent one
by one, each flush pays a full client round trip (command packing, a pooled connection, a reply
parse, several event-loop wakeups), which profiling put at a third of a busy worker's CPU. The
batcher sends what is queued as soon as the previous call returns, so an idle process adds no
wait (a lone flush goes out at once) and a busy one sends one script call per round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["AppendBatcher"]

Reply = list[Any]
"""One group's `[status, last_id, stop]` from `append.lua`."""


class AppendBatcher:
    """Coalesces concurrent `append.lua` groups into one call, one call in flight at a time.

    Args:
        call: Runs the script with the given keys and args; returns one reply per group.
        max_groups: The most groups in one call.
        max_bytes: A call stops taking groups past this many argument bytes, so one large
            tool output does not hold up a call carrying other chats' tokens for long.
    """

    def __init__(
        self,
        call: Callable[[list[str], list[Any]], Awaitable[list[Reply]]],
        *,
        max_groups: int = 256,
        max_bytes: int = 1 << 20,
    ) -> None:
        self._call = call
        self._max_groups = max_groups
        self._max_bytes = max_bytes
        self._queue: list[tuple[tuple[str, ...], list[Any], int, asyncio.Future[Reply]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def submit(self, keys: tuple[str, ...], args: list[Any], size: int) -> Reply:
        """Queue one group (`size`: its payload bytes) and wait for its reply."""
        loop = asyncio.get_running_loop()
        if self._sender is not None and self._sender.get_loop() is not loop:
            self._sender, self._queue = None, []  # a store reused on a new event loop
        future: asyncio.Future[Reply] = loop.create_future()
        self._queue.append((keys, args, size, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="agentchat append batcher")
        return await future

    def _take(self) -> list[tuple[tuple[str, ...], list[Any], int, asyncio.Future[Reply]]]:
        taken, total = 0, 0
        for _, _, size, _ in self._queue:
            if taken and (taken >= self._max_groups or total + size > self._max_bytes):
                break
            taken += 1
            total += size
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    async def _send(self) -> None:
        while self._queue:
            batch = self._take()
            live = [item for item in batch if not item[3].done()]  # a cancelled flush
            if not live:
                continue
            keys: list[str] = []
            args: list[Any] = []
            for group_keys, group_args, _, _ in live:
                keys.extend(group_keys)
                args.append(len(group_args))
                args.extend(group_args)
            try:
                replies = await self._call(keys, args)
            except asyncio.CancelledError:  # the loop is closing: no flush may wait forever
                for *_, future in [*live, *self._queue]:
                    future.cancel()
                self._queue = []
                raise
            except Exception as exc:  # each flush handles it (a writer logs and retries)
                for *_, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), reply in zip(live, replies, strict=True):
                if not future.done():
                    future.set_result(reply)
