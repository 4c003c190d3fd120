"""Every error agentchat raises, in one tree.

```
AgentChatError
├── ConfigurationError          bad settings, an unusable agent definition, an unknown model
├── ConnectionFailedError       a backing service could not be reached
│   ├── TemporalUnavailableError
│   ├── RedisUnavailableError
│   ├── StoreUnavailableError   the chat store's database could not be reached
│   ├── GatewayUnavailableError the HTTP gateway could not be reached or failed (5xx)
│   └── NoWorkerError           Temporal is up but no worker polls the task queue
├── AuthenticationError         the gateway refused the credentials (HTTP 401)
│   └── PermissionDeniedError   the credentials do not cover this chat or agent (HTTP 403)
├── ChatRejectedError           the chat refused the input; nothing was queued
│   ├── InvalidMessageError     empty, malformed, or malformed UIMessage
│   │   └── MessageTooLargeError
│   ├── UnknownAgentError       no worker knows the agent name
│   ├── AgentMismatchError      the chat id belongs to another agent
│   ├── ChatClosedError         the chat is closing and takes no more input
│   ├── ChatBusyError           a turn runs and the agent's on_busy is "reject"
│   ├── NotPendingError         no tool call or approval of that id is waiting
│   ├── InvalidInputsError      the chat's inputs do not match the agent's declared inputs
│   ├── InvalidTriggerError     an unknown trigger, or input its schema refuses
│   └── ChatDeletingError       the chat is being deleted
├── ChatNotFoundError           no such chat, or not one this owner may see
├── StreamError                 reading a chat's event stream failed
│   ├── StreamTimeoutError      nothing at all arrived for `stream_timeout` seconds
│   ├── StreamConsumedError     a ChatStream was read twice
│   ├── InvalidCursorError      a cursor that is not a Redis stream entry id
│   └── CursorTrimmedError      the cursor is older than what the stream retains
└── TurnFailedError             the turn ended with an `error` chunk
    └── TokenBudgetExceededError  a token budget (`max_tokens_per_turn/_chat`) ended it
```

Errors that cross the Temporal boundary travel as `ApplicationError`s whose `type` is the class
name, and the gateway answers with `{"error": {"type": <class name>, "message": ...}}`;
`error_from_application_type` maps both back on the client.
"""

from __future__ import annotations

__all__ = [
    "AgentChatError",
    "AgentMismatchError",
    "AuthenticationError",
    "ChatBusyError",
    "ChatClosedError",
    "ChatDeletingError",
    "ChatNotFoundError",
    "ChatRejectedError",
    "ConfigurationError",
    "ConnectionFailedError",
    "CursorTrimmedError",
    "GatewayUnavailableError",
    "InvalidCursorError",
    "InvalidInputsError",
    "InvalidMessageError",
    "InvalidTriggerError",
    "MessageTooLargeError",
    "NoWorkerError",
    "NotPendingError",
    "PermissionDeniedError",
    "RedisUnavailableError",
    "StoreUnavailableError",
    "StreamConsumedError",
    "StreamError",
    "StreamTimeoutError",
    "TemporalUnavailableError",
    "TokenBudgetExceededError",
    "TurnFailedError",
    "UnknownAgentError",
]


class AgentChatError(Exception):
    """Base class of every error raised by agentchat."""


class ConfigurationError(AgentChatError):
    """A setting, agent definition or model string cannot work."""


class ConnectionFailedError(AgentChatError):
    """A backing service (Temporal, Redis) could not be reached."""


class TemporalUnavailableError(ConnectionFailedError):
    """The Temporal frontend did not answer."""


class RedisUnavailableError(ConnectionFailedError):
    """The Redis server did not answer."""


class StoreUnavailableError(ConnectionFailedError):
    """The chat store's database (`AGENTCHAT_DATABASE_URL`) did not answer."""


class GatewayUnavailableError(ConnectionFailedError):
    """The HTTP gateway could not be reached, or answered with a server error."""


class AuthenticationError(AgentChatError):
    """The gateway refused the API key or token (HTTP 401)."""


class PermissionDeniedError(AuthenticationError):
    """The token is valid but scoped to another chat or agent (HTTP 403)."""


class NoWorkerError(ConnectionFailedError):
    """Temporal accepted the request but no worker polls the chat's task queue."""


class ChatRejectedError(AgentChatError):
    """The chat refused the input. Nothing was queued; it is safe to fix and resend."""


class InvalidMessageError(ChatRejectedError):
    """The message is empty or not a well-formed user message."""


class MessageTooLargeError(InvalidMessageError):
    """The message is larger than `agentchat.protocol.limits.MAX_MESSAGE_BYTES`."""


class UnknownAgentError(ChatRejectedError):
    """No running worker serves an agent of that name."""


class AgentMismatchError(ChatRejectedError):
    """The chat id already belongs to a conversation with another agent."""


class ChatClosedError(ChatRejectedError):
    """The chat is closing after `close()` and accepts no more input on this run."""


class ChatBusyError(ChatRejectedError):
    """A turn is running and the agent was configured with `on_busy="reject"`."""


class NotPendingError(ChatRejectedError):
    """No client tool call or approval of that id is waiting for an answer."""


class InvalidInputsError(ChatRejectedError):
    """The chat's inputs are missing a field or have one of the wrong type (the message names
    it); the chat was not started."""


class InvalidTriggerError(ChatRejectedError):
    """The agent has no trigger of that name, or the trigger's input is missing a field or has
    one of the wrong type; nothing was queued."""


class ChatDeletingError(ChatRejectedError):
    """The chat is being deleted; once that is done, its id starts an empty chat."""


class ChatNotFoundError(AgentChatError):
    """No chat of that id, or one that belongs to another owner (the two look the same)."""


class StreamError(AgentChatError):
    """Reading a chat's event stream failed."""


class StreamTimeoutError(StreamError):
    """Nothing at all arrived on the stream for `stream_timeout` seconds."""


class StreamConsumedError(StreamError):
    """A `ChatStream` can be read once; this one was already read."""


class InvalidCursorError(StreamError):
    """A cursor is not a Redis stream entry id such as `1766399999123-0`."""


class CursorTrimmedError(StreamError):
    """The cursor points before the oldest entry the chat's stream retains.

    Retention keeps the last few turns; restore older state from `AgentChat.history()`.
    """


class TurnFailedError(AgentChatError):
    """The turn ended with an `error` chunk; `error_text` carries the model's or tool's error."""

    def __init__(self, error_text: str, *, turn: int | None = None) -> None:
        super().__init__(error_text if turn is None else f"turn {turn} failed: {error_text}")
        self.error_text = error_text
        self.turn = turn


class TokenBudgetExceededError(TurnFailedError):
    """A token budget ended the turn (its partial answer is kept), or, for the chat's budget,
    refused it before any step ran.

    Attributes:
        budget: `max_tokens_per_turn` or `max_tokens_per_chat`, when known.
        limit: The budget, in tokens.
        used: The tokens used when it was checked.
    """

    def __init__(
        self,
        error_text: str,
        *,
        turn: int | None = None,
        budget: str | None = None,
        limit: int | None = None,
        used: int | None = None,
    ) -> None:
        super().__init__(error_text, turn=turn)
        self.budget = budget
        self.limit = limit
        self.used = used


_TURN_ERRORS: dict[str, type[TurnFailedError]] = {
    cls.__name__: cls for cls in (TurnFailedError, TokenBudgetExceededError)
}


def turn_error(
    type_name: str | None,
    error_text: str,
    *,
    turn: int | None = None,
    details: dict[str, object] | None = None,
) -> TurnFailedError:
    """The error a failed turn raises on the client: `TurnFailedError`, or the subclass its
    end record names (with the budget's figures from `details`)."""
    cls = _TURN_ERRORS.get(type_name or "", TurnFailedError)
    if cls is TokenBudgetExceededError:
        info = details or {}
        limit, used = info.get("limit"), info.get("used")
        return TokenBudgetExceededError(
            error_text,
            turn=turn,
            budget=str(info["name"]) if info.get("name") else None,
            limit=limit if isinstance(limit, int) else None,
            used=used if isinstance(used, int) else None,
        )
    return cls(error_text, turn=turn)


_BY_TYPE: dict[str, type[AgentChatError]] = {
    cls.__name__: cls
    for cls in (
        InvalidMessageError,
        MessageTooLargeError,
        UnknownAgentError,
        AgentMismatchError,
        ChatClosedError,
        ChatBusyError,
        NotPendingError,
        InvalidInputsError,
        InvalidTriggerError,
        ChatDeletingError,
        ChatNotFoundError,
        ConfigurationError,
        TemporalUnavailableError,
        RedisUnavailableError,
        StoreUnavailableError,
        NoWorkerError,
        GatewayUnavailableError,
        AuthenticationError,
        PermissionDeniedError,
        InvalidCursorError,
        CursorTrimmedError,
        StreamTimeoutError,
        TurnFailedError,
        TokenBudgetExceededError,
    )
}


def error_from_application_type(type_name: str | None, message: str) -> AgentChatError | None:
    """Map an `ApplicationError.type` raised by the workflow back to our exception class."""
    cls = _BY_TYPE.get(type_name or "")
    return cls(message) if cls is not None else None
