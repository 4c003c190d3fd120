"""The native API: `/v1/chats/...` routes and the `/v1/tokens` mint.

Every SSE event carries the Redis entry id as its `id:` and the stored envelope as its data,
so `Last-Event-ID` resumes exactly where a reader stopped, on any gateway replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request
from sse_starlette import ServerSentEvent
from starlette.responses import Response

from agentchat.client import AgentChat
from agentchat.client._stored import info_of
from agentchat.errors import (
    AgentChatError,
    CursorTrimmedError,
    InvalidCursorError,
    PermissionDeniedError,
)
from agentchat.gateway.auth import CREDENTIALS
from agentchat.gateway.deps import (
    ERROR_RESPONSES,
    ChatCaller,
    ChatId,
    Gateway,
    Gw,
    InputCaller,
    LastEventId,
    caller,
    follow_chat,
)
from agentchat.gateway.owners import not_found, record_of
from agentchat.gateway.problems import ApiError
from agentchat.gateway.schemas import (
    AGENT_PATTERN,
    AnswerAck,
    ApprovalBody,
    ChatView,
    CloseBody,
    PreloadBody,
    ResourcesView,
    SendAckBody,
    SendBody,
    SteerBody,
    StopBody,
    ThreadView,
    TokenBody,
    TokenView,
    ToolResultBody,
    TriggerBody,
)
from agentchat.gateway.sse import json_event, sse_doc, sse_response
from agentchat.protocol.contracts import ChatStatus
from agentchat.protocol.envelope import ACCEPTED, ERROR, envelope
from agentchat.protocol.messages import UIMessage
from agentchat.stream._reader import ChatStream, _Follow, previous_id
from agentchat.stream._store import StreamStore, check_cursor

__all__ = ["router"]

log = logging.getLogger("agentchat.gateway")

_SSE = sse_doc("Server-Sent Events: `id:` is the Redis entry id, `data:` the envelope.")

router = APIRouter(responses=ERROR_RESPONSES, dependencies=CREDENTIALS)

Cursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,20}-[0-9]{1,20}$", description="Read after this entry id."),
]


def _cursor(header: str | None, query: str | None) -> str | None:
    value = header or query
    if not value:
        return None
    try:
        return check_cursor(value)
    except InvalidCursorError as exc:
        field = "header.last-event-id" if header else "query.after"
        raise ApiError(422, InvalidCursorError.__name__, str(exc), [field]) from None


async def turn_events(stream: ChatStream) -> AsyncIterator[ServerSentEvent]:
    """One turn's entries as SSE; a failure mid-stream becomes a final `error` event."""
    try:
        async for entry in stream.events():
            if entry.raw:
                yield ServerSentEvent(data=entry.raw.decode(), id=entry.id)
            else:
                yield json_event(entry.envelope, entry.id)
    except AgentChatError as exc:
        yield json_event(envelope(ERROR, type=type(exc).__name__, message=str(exc)))


def _message(message: str | UIMessage, message_id: str | None) -> str | UIMessage:
    if isinstance(message, UIMessage) and message_id is not None:
        raise ApiError(
            422, "InvalidRequestError", "message_id: give it inside the UIMessage", ["message_id"]
        )
    return message


@router.post(
    "/v1/chats/{chat_id}/messages",
    responses={200: _SSE | {"model": SendAckBody}},
    summary="Send a message; stream its turn",
)
async def send_message(
    chat_id: ChatId,
    body: SendBody,
    principal: InputCaller,
    gateway: Gw,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Creates the chat on first use (for `owner`, or the user token's user). Answers with
    the SSE stream of exactly this message's turn; with `Accept: application/json`, with
    the acknowledgement only."""
    owner = await gateway.input_owner(chat_id, principal, body.owner)
    agent = await gateway.agent_of(chat_id, body.agent, principal)
    chat = gateway.chat(
        chat_id, agent, client_data=body.client_data, owner=owner, inputs=body.inputs
    )
    stream = await chat.send_message(
        _message(body.message, body.message_id), message_id=body.message_id
    )
    return _turn_response(gateway, stream, accept)


def _turn_response(gateway: Gateway, stream: ChatStream, accept: str | None) -> Response:
    """The SSE stream of exactly the input's turn; with `Accept: application/json`, its
    acknowledgement only."""
    view = SendAckBody.of(stream.ack, after=stream.after)
    if accept and "application/json" in accept and "text/event-stream" not in accept:
        return Response(view.model_dump_json(), media_type="application/json")

    async def events() -> AsyncIterator[ServerSentEvent]:
        accepted = envelope(ACCEPTED, **view.model_dump(by_alias=True))
        yield json_event(accepted, stream.after)
        async for event in turn_events(stream):
            yield event

    return sse_response(gateway, events())


@router.post(
    "/v1/chats/{chat_id}/triggers/{name}",
    responses={200: _SSE | {"model": SendAckBody}},
    summary="Invoke one of the agent's triggers; stream its turn",
)
async def trigger(
    chat_id: ChatId,
    name: Annotated[str, Path(pattern=AGENT_PATTERN)],
    body: TriggerBody,
    principal: InputCaller,
    gateway: Gw,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Queued like a message (creating the chat on first use); an unknown trigger or input
    that does not fit its schema is `422 InvalidTriggerError`, nothing queued."""
    owner = await gateway.input_owner(chat_id, principal, body.owner)
    agent = await gateway.agent_of(chat_id, body.agent, principal)
    chat = gateway.chat(
        chat_id, agent, client_data=body.client_data, owner=owner, inputs=body.inputs
    )
    stream = await chat.trigger(name, body.input, trigger_id=body.trigger_id)
    return _turn_response(gateway, stream, accept)


@router.get(
    "/v1/chats/{chat_id}/resources", response_model=ResourcesView, summary="The chat's resources"
)
async def resources(chat_id: ChatId, principal: ChatCaller, gateway: Gw) -> ResourcesView:
    """Its resources (name -> value): the running run's, else the stored ones."""
    chat = gateway.chat(chat_id, owner=principal.owner)
    if await chat.status() is None and await record_of(gateway.settings, chat_id) is None:
        raise not_found(chat_id)
    return ResourcesView(resources=await chat.resources())


@router.get(
    "/v1/chats/{chat_id}/threads/{thread}",
    response_model=ThreadView,
    summary="A named thread's messages",
)
async def thread(
    chat_id: ChatId,
    thread: Annotated[str, Path(pattern=AGENT_PATTERN, description="The thread's name.")],
    principal: ChatCaller,
    gateway: Gw,
) -> ThreadView:
    """The messages of one of the chat's named threads (a trigger's `StartThread`), as the
    chat keeps them: empty when the chat never started it."""
    chat = gateway.chat(chat_id, owner=principal.owner)
    if await chat.status() is None and await record_of(gateway.settings, chat_id) is None:
        raise not_found(chat_id)
    return ThreadView(thread=thread, messages=await chat.history(thread=thread))


@router.get(
    "/v1/chats/{chat_id}/events",
    responses={200: _SSE, 204: {"description": "The chat is closed or unknown."}},
    summary="Follow a chat's events across turns",
)
async def follow(
    chat_id: ChatId,
    principal: ChatCaller,
    gateway: Gw,
    after: Cursor = None,
    start: Annotated[Literal["turn", "live", "start"], Query(alias="from")] = "turn",
    last_event_id: LastEventId = None,
) -> Response:
    """Replays what came after the cursor (`Last-Event-ID` or `?after=`), then follows live
    until the chat's run ends. Without a cursor: the active turn from its start (`from=turn`),
    only what comes next (`live`), or everything retained (`start`)."""
    cursor = _cursor(last_event_id, after)
    store = await gateway.store()
    if cursor is None:
        if start == "start":
            cursor = "0-0"
        else:
            _, turn_start = await store.active_turn(chat_id)
            if start == "turn" and turn_start is not None:
                cursor = previous_id(turn_start)
            else:
                cursor = await store.last_id(chat_id)
    running = await gateway.running(chat_id)
    if not running and not await store.has_after(chat_id, cursor):
        return Response(status_code=204)
    return sse_response(gateway, _follow(gateway, chat_id, cursor, running))


async def _follow(
    gateway: Gateway, chat_id: str, cursor: str, running: bool
) -> AsyncIterator[ServerSentEvent]:
    async for entry in follow_chat(gateway, chat_id, cursor, running):
        if entry.id:
            yield ServerSentEvent(data=entry.raw.decode(), id=entry.id)
        else:  # resync: retention trimmed what the reader missed
            yield json_event(entry.envelope)


@router.get(
    "/v1/chats/{chat_id}/turn",
    responses={200: _SSE, 204: {"description": "No turn to follow."}},
    summary="Stream one turn (resume)",
)
async def turn(
    chat_id: ChatId,
    principal: ChatCaller,
    gateway: Gw,
    after: Cursor = None,
    message_id: Annotated[str | None, Query(max_length=200)] = None,
    turn: Annotated[int | None, Query(ge=1)] = None,
    last_event_id: LastEventId = None,
) -> Response:
    """With `message_id` or `turn`: that turn, after the cursor. Otherwise what
    `AgentChat.reconnect()` reads: the rest of the turn the cursor is in, or the active turn
    from its start."""
    cursor = _cursor(last_event_id, after)
    chat = gateway.chat(chat_id)
    if message_id is None and turn is None:
        chat.session.last_event_id = cursor
        try:
            stream = await chat.reconnect()
        except CursorTrimmedError:
            if await chat.status() is None:  # no stream because there never was a chat
                return Response(status_code=204)
            raise
        if stream.follows_nothing:
            return Response(status_code=204)
    else:
        store = await gateway.store()
        inside = None
        if cursor is not None and turn is None and message_id is not None:
            # A resume inside the message's turn: its turn-start is behind the cursor.
            inside = await _turn_around(store, chat_id, cursor, message_id)
        start = await store.turn_start(chat_id, turn) if turn else None
        # Only a turn Redis does not know costs a question to the workflow.
        known = inside is not None or start is not None
        if not known and await _never_comes(chat, message_id, turn):
            return Response(status_code=204)  # rather than wait for it until the timeout
        turn = turn or inside
        if cursor is None:
            cursor = previous_id(start) if start else "0-0"
        stream = await chat.open_stream(cursor, _Follow(user_message_id=message_id, turn=turn))
    return sse_response(gateway, turn_events(stream))


async def _turn_around(
    store: StreamStore, chat_id: str, cursor: str, message_id: str
) -> int | None:
    """The turn of `message_id` when the cursor is one of its entries."""
    entry = await store.entry(chat_id, cursor)
    if entry is None or not entry.turn:
        return None
    start_id = await store.turn_start(chat_id, entry.turn)
    start = await store.entry(chat_id, start_id) if start_id else None
    if start is None or start.envelope.get("userMessageId") != message_id:
        return None
    return entry.turn


async def _never_comes(chat: AgentChat, message_id: str | None, turn: int | None) -> bool:
    """Whether the turn a resume names neither ran, runs nor is queued."""
    try:
        status = await asyncio.wait_for(chat.status(), chat.settings.connect_timeout)
    except (AgentChatError, TimeoutError):
        return False  # no worker answers: stream what Redis holds
    if status is None:
        return True
    if message_id is not None and message_id not in status.message_turns:
        return True
    return turn is not None and turn > status.last_turn + status.queued


@router.get("/v1/chats/{chat_id}", response_model=ChatView, summary="Get a chat")
async def get_chat(chat_id: ChatId, principal: ChatCaller, gateway: Gw) -> ChatView:
    """Its record in the chat store, status and transcript as UIMessages, to restore a UI;
    then follow the events after `resume_after`. A chat whose workflow runs all ended (and
    were deleted) answers from the store alone."""
    store = await gateway.store()
    # The cursor first: a turn that ends between the two reads is then seen twice (the page
    # replaces the message by id), never missed.
    _, start = await store.active_turn(chat_id)
    resume_after = previous_id(start) if start else await store.last_id(chat_id)
    record = await record_of(gateway.settings, chat_id)
    if record is not None and record.deleting:
        record = None
    chat = gateway.chat(chat_id, owner=principal.owner)
    status = await chat.status()
    if status is None:
        if record is None:
            raise not_found(chat_id)
        # No run to ask (ended and deleted by retention): the next message starts one.
        status = ChatStatus(
            chat_id=chat_id,
            agent=record.agent,
            active_turn=None,
            last_turn=record.last_turn,
            queued=0,
            closed=False,
            message_turns={},
        )
    return ChatView(
        id=chat_id,
        agent=status.agent,
        status=status,
        messages=await chat.history(),
        resume_after=resume_after,
        chat=info_of(record) if record is not None else None,
    )


@router.post("/v1/chats/{chat_id}/steer", response_model=SendAckBody, summary="Steer")
async def steer(
    chat_id: ChatId, body: SteerBody, principal: InputCaller, gateway: Gw
) -> SendAckBody:
    """Joins the running turn at its next LLM step, else runs as the next turn."""
    owner = await gateway.input_owner(chat_id, principal, body.owner)
    agent = await gateway.agent_of(chat_id, body.agent, principal)
    ack = await gateway.chat(chat_id, agent, owner=owner).steer(
        _message(body.message, body.message_id), message_id=body.message_id
    )
    return SendAckBody.of(ack)


@router.post("/v1/chats/{chat_id}/stop", response_model=AnswerAck, summary="Stop the turn")
async def stop(
    chat_id: ChatId,
    principal: ChatCaller,
    gateway: Gw,
    body: Annotated[StopBody | None, Body()] = None,
) -> AnswerAck:
    """Ends the running answer, keeping its partial text; `turn` is null when none ran."""
    return AnswerAck(turn=await gateway.chat(chat_id).stop())


@router.post("/v1/chats/{chat_id}/preload", summary="Start the chat and run its preload hook")
async def preload(
    chat_id: ChatId, body: PreloadBody, principal: InputCaller, gateway: Gw
) -> dict[str, Any]:
    owner = await gateway.input_owner(chat_id, principal, body.owner)
    agent = await gateway.agent_of(chat_id, body.agent, principal)
    chat = gateway.chat(chat_id, agent, client_data=body.client_data, owner=owner)
    ack = await chat.preload()
    return {"run_id": ack.run_id, "preloaded": ack.preloaded}


@router.post("/v1/chats/{chat_id}/close", summary="Close the chat after the current turn")
async def close(
    chat_id: ChatId,
    principal: ChatCaller,
    gateway: Gw,
    body: Annotated[CloseBody | None, Body()] = None,
) -> dict[str, Any]:
    await gateway.chat(chat_id).close(wait=body.wait if body else False)
    return {"closed": True}


@router.post(
    "/v1/chats/{chat_id}/tool-results", response_model=AnswerAck, summary="Answer a client tool"
)
async def tool_result(
    chat_id: ChatId, body: ToolResultBody, principal: ChatCaller, gateway: Gw
) -> AnswerAck:
    turn = await gateway.chat(chat_id).submit_tool_result(
        body.tool_call_id, body.output, error=body.error
    )
    return AnswerAck(turn=turn)


@router.post(
    "/v1/chats/{chat_id}/approvals/{approval_id}",
    response_model=AnswerAck,
    summary="Approve or deny a tool call",
)
async def approval(
    chat_id: ChatId,
    approval_id: Annotated[str, Path(min_length=1, max_length=200)],
    body: ApprovalBody,
    principal: ChatCaller,
    gateway: Gw,
) -> AnswerAck:
    chat = gateway.chat(chat_id)
    if body.approved:
        return AnswerAck(turn=await chat.approve(approval_id))
    return AnswerAck(turn=await chat.deny(approval_id, body.reason))


@router.post("/v1/tokens", response_model=TokenView, summary="Mint a chat or user token")
async def mint_token(body: TokenBody, request: Request, gateway: Gw) -> TokenView:
    """A short-lived token for a browser (API keys only): with `chat_id`, one that reads and
    writes that chat; with `user_id`, one that lists, creates, reads, renames and deletes
    only that user's chats."""
    if not caller(request).is_server:
        raise ApiError(403, PermissionDeniedError.__name__, "only an API key can mint tokens")
    if body.user_id is not None:
        token, expires = gateway.auth.mint_user(body.user_id, body.agent, body.ttl_seconds)
        return TokenView(token=token, user_id=body.user_id, expires_at=expires)
    assert body.chat_id is not None  # TokenBody holds exactly one of the two
    token, expires = gateway.auth.mint(body.chat_id, body.agent, body.ttl_seconds)
    return TokenView(token=token, chat_id=body.chat_id, expires_at=expires)
