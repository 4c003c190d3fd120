"""`ChatBackend`: what `AgentChat` needs from a transport, whichever one carries the chat.

`AgentChat` checks arguments, builds the contract models and keeps the caller's state (run id,
session cursor, callbacks); a backend only carries the models to the chat and back. Two
backends exist: `DirectBackend` (Temporal and Redis) and `HttpBackend` (an agentchat gateway).
A backend serves one chat, given at construction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agentchat.protocol.contracts import (
    ApprovalInput,
    ChatStatus,
    CloseInput,
    DeleteChatResult,
    PreloadAck,
    PreloadInput,
    SendAck,
    SendInput,
    StopAck,
    StopInput,
    ToolResultAck,
    ToolResultInput,
)
from agentchat.protocol.directory import ChatInfo
from agentchat.protocol.messages import UIMessage
from agentchat.stream._reader import ChatStream, EntrySource, Settled, _Follow

__all__ = ["ChatBackend", "Probe", "StreamFactory"]

Probe = Callable[[int | None], Awaitable[Settled | None]]
"""Asks the chat whether a turn (by number; None: not known yet) ended out of the stream's
sight, answering the turn and its assistant message from the transcript."""


class StreamFactory(Protocol):
    """Builds the `ChatStream` a backend returns: `AgentChat` supplies it, so a stream reports
    to the caller's session and hooks at read time while the backend picks where it reads."""

    def __call__(
        self, source: EntrySource, after: str, follow: _Follow, probe: Probe | None
    ) -> ChatStream:
        """A stream of the followed turn, read from `source` after the cursor `after`.

        Args:
            source: Where the stream reads its entries.
            after: The cursor to read after (`0-0`: from the start).
            follow: The user message or turn the stream follows.
            probe: Asks the chat whether the turn ended unseen; None when the source
                answers that itself (a gateway sends `settled`).
        """
        ...


class ChatBackend(Protocol):
    """The operations `AgentChat` performs on one chat.

    Inputs arrive checked: a backend does not validate arguments again. Errors are the
    `agentchat.errors` classes, the same for every backend.
    """

    async def send(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        """Deliver a user message, starting the chat's run when none runs.

        Args:
            request: The message, the agent and the client data (`kind` is `message`).

        Returns:
            The acknowledgement, and a stream of exactly the turn the message causes (of the
            original turn when the message id was sent before).
        """
        ...

    async def trigger(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        """Deliver a trigger (`kind` is `trigger`, its carrier message names it), starting
        the chat's run when none runs; returns as `send` does."""
        ...

    async def resources(self) -> dict[str, Any]:
        """The chat's resources; empty when the chat never existed."""
        ...

    async def steer(self, request: SendInput) -> SendAck:
        """Deliver a steer message (`kind` is `steer`) to the running turn, or as the next.

        Args:
            request: The message, the agent and the client data.

        Returns:
            The acknowledgement; `injected` tells whether it joins the running turn.
        """
        ...

    async def stop(self, request: StopInput) -> StopAck:
        """Stop the running turn; never starts a run.

        Returns:
            The stopped turn, or `turn=None` when none was running.
        """
        ...

    async def close(self, request: CloseInput, *, wait: bool) -> None:
        """End the chat's run after the current turn; nothing happens when none runs.

        Args:
            request: The close update.
            wait: Return only once the run has ended.
        """
        ...

    async def preload(self, request: PreloadInput) -> PreloadAck:
        """Start the chat's run now and run the agent's preload hook."""
        ...

    async def submit_tool_result(self, request: ToolResultInput) -> ToolResultAck:
        """Answer a client tool call; raises `NotPendingError` when none of that id waits."""
        ...

    async def answer_approval(self, request: ApprovalInput) -> ToolResultAck:
        """Approve or deny a tool call; raises `NotPendingError` when none of that id waits."""
        ...

    async def reconnect(self, cursor: str | None) -> ChatStream:
        """A stream resuming after `cursor`: the rest of the turn it is in, or else the
        active turn (from its start with no cursor); follows nothing when no turn runs.

        Args:
            cursor: A checked stream entry id, or None.
        """
        ...

    async def open_stream(self, after: str, follow: _Follow) -> ChatStream:
        """A stream of the followed turn after the cursor `after`."""
        ...

    async def history(self) -> list[UIMessage]:
        """The stored conversation plus the running turn; empty when the chat never existed."""
        ...

    async def thread(self, name: str) -> list[UIMessage]:
        """A named thread's messages; empty when the chat never started it."""
        ...

    async def info(self) -> ChatInfo:
        """The chat's record in the chat store (`ChatNotFoundError` when there is none)."""
        ...

    async def update(
        self,
        *,
        title: str | None = None,
        archived: bool | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ChatInfo:
        """Rename, archive or unarchive the chat, or replace its metadata."""
        ...

    async def delete(self, *, wait: bool) -> DeleteChatResult | None:
        """Erase the chat everywhere, durably; with `wait`, once it is done."""
        ...

    async def status(self) -> ChatStatus | None:
        """The chat's status, or None when it never existed."""
        ...
