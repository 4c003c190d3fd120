"""The Vercel AI SDK backend: `POST /api/chat` and `GET /api/chat/{id}/stream` for `useChat`.

`DefaultChatTransport` posts the whole history; only the newest message is used, because the
transcript lives in the workflow. Answers follow the UI message stream protocol. AI SDK 5 and
6 clients validate chunks strictly (an unknown field or chunk type kills the stream), so each
chunk is cut to the fields the client's major version knows (`?profile=`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette import ServerSentEvent
from starlette.responses import Response

from agentchat.errors import AgentChatError, InvalidMessageError, NotPendingError
from agentchat.gateway.auth import CREDENTIALS
from agentchat.gateway.deps import ERROR_RESPONSES, ChatCaller, Gateway, Gw, LastEventId, caller
from agentchat.gateway.owners import check_visible
from agentchat.gateway.problems import ApiError
from agentchat.gateway.schemas import AGENT_PATTERN, Owner
from agentchat.gateway.sse import json_event, sse_doc, stream_response
from agentchat.logs import bind_log_context
from agentchat.protocol.envelope import ATTEMPT_START, CHUNK, CHUNK_KEY, SETTLED, kind_of
from agentchat.protocol.identifiers import CHAT_ID_PATTERN
from agentchat.protocol.messages import UIMessage
from agentchat.stream._reader import ChatStream

__all__ = ["router"]

Profile = Literal["v5", "v6", "v7"]

_TEXT = {"type", "id", "delta", "providerMetadata"}
_TOOL = {"type", "toolCallId", "toolName", "providerExecuted", "dynamic", "title"}
# agentchat's markers ride in `providerMetadata` (`{"agentchat": {"thread"}}` on a named
# thread's text and reasoning, `{"agentchat": {"display", "description"}}` on a tool call).
_V6_FIELDS: dict[str, set[str]] = {
    "start": {"type", "messageId", "messageMetadata"},
    "start-step": {"type"},
    "finish-step": {"type"},
    "finish": {"type", "finishReason", "messageMetadata"},
    "text-start": _TEXT,
    "text-delta": _TEXT,
    "text-end": _TEXT,
    "reasoning-start": _TEXT,
    "reasoning-delta": _TEXT,
    "reasoning-end": _TEXT,
    "tool-input-start": _TOOL | {"providerMetadata"},
    "tool-input-delta": {"type", "toolCallId", "inputTextDelta"},
    "tool-input-available": _TOOL | {"input", "providerMetadata"},
    "tool-input-error": _TOOL | {"input", "errorText", "providerMetadata"},
    "tool-approval-request": {"type", "approvalId", "toolCallId"},
    "tool-output-available": {
        "type",
        "toolCallId",
        "output",
        "providerExecuted",
        "dynamic",
        "preliminary",
    },
    "tool-output-error": {"type", "toolCallId", "errorText", "providerExecuted", "dynamic"},
    "tool-output-denied": {"type", "toolCallId"},
    "source-url": {"type", "sourceId", "url", "title"},
    "source-document": {"type", "sourceId", "mediaType", "title", "filename"},
    "file": {"type", "url", "mediaType"},
    "error": {"type", "errorText"},
    "abort": {"type"},
    "message-metadata": {"type", "messageMetadata"},
}
_V6_ONLY = {"tool-approval-request", "tool-output-denied"}
_V5_DROPPED = {"title", "finishReason"}  # both arrived after 5.0.0
_V5_NO_METADATA = {"tool-input-start"}  # v5's tool-input-start has no providerMetadata


def adapt(chunk: dict[str, Any], profile: Profile) -> dict[str, Any] | None:
    """Cut a stored chunk to what `profile`'s client validates; None drops it."""
    kind = str(chunk.get("type", ""))
    if profile == "v7":
        return chunk
    if kind.startswith("data-"):
        return {k: v for k, v in chunk.items() if k in ("type", "id", "data", "transient")}
    allowed = _V6_FIELDS.get(kind)
    if allowed is None:
        return None  # a chunk type this client would reject
    if profile == "v5":
        if kind in _V6_ONLY:  # v5 has no approvals: carry them as a data part
            fields = {k: v for k, v in chunk.items() if k != "type"}
            return {"type": f"data-{kind}", "id": str(chunk.get("toolCallId")), "data": fields}
        allowed = allowed - _V5_DROPPED
        if kind in _V5_NO_METADATA:
            allowed = allowed - {"providerMetadata"}
    return {k: v for k, v in chunk.items() if k in allowed}


class UseChatBody(BaseModel):
    """What `DefaultChatTransport` posts (plus `agent`, `owner` and `inputs`, which its
    `body` option carries); other fields are ignored."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=CHAT_ID_PATTERN, description="The chat id.")
    messages: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)
    message: dict[str, Any] | None = Field(default=None, description="Or just the newest one.")
    trigger: Literal["submit-message", "regenerate-message"] = "submit-message"
    messageId: str | None = Field(default=None, max_length=200)
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    owner: Owner | None = Field(
        default=None, description="API keys only: create the chat for this owner."
    )
    inputs: dict[str, Any] | None = Field(
        default=None,
        description="The chat's inputs, for a new chat whose agent declares them (kept for"
        " life); `useChat`'s `body` (or `prepareSendMessagesRequest`) carries them.",
    )


router = APIRouter(tags=["AI SDK"], responses=ERROR_RESPONSES, dependencies=CREDENTIALS)

_UI_SSE = sse_doc("The UI message stream protocol, ending with `data: [DONE]`.")


def ui_stream_response(gateway: Gateway, stream: ChatStream, profile: Profile) -> Response:
    return stream_response(
        gateway,
        "aisdk",
        ui_events(stream, profile),
        headers={"x-vercel-ai-ui-message-stream": "v1"},
    )


async def ui_events(stream: ChatStream, profile: Profile) -> AsyncIterator[ServerSentEvent]:
    """A turn's chunks for an AI SDK client; `[DONE]` once the turn ended."""
    attempts: dict[str, int] = {}
    written: set[str] = set()
    try:
        async for entry in stream.events():
            env = entry.envelope
            kind = kind_of(env)
            producer = str(env.get("p", ""))
            if kind == CHUNK:
                attempt = int(env.get("a", 1))
                if attempt < attempts.get(producer, 0):
                    continue  # a superseded attempt's write
                attempts[producer] = attempt
                written.add(producer)
                chunk = adapt(env[CHUNK_KEY], profile)
                if chunk is not None:
                    yield json_event(chunk, entry.id)
            elif kind == ATTEMPT_START and producer in written:
                attempts[producer] = int(env.get("a", 1))
                # The step was retried: v7 drops its parts; older clients only get told.
                reset = {"type": "reset-step"} if profile == "v7" else _reset_data(producer)
                yield json_event(reset, entry.id)
            elif kind == SETTLED:
                for chunk in _from_message(UIMessage.model_validate(env["message"])):
                    yield json_event(chunk)
    except AgentChatError as exc:
        yield json_event({"type": "error", "errorText": str(exc)})
    yield ServerSentEvent(data="[DONE]")


def _reset_data(producer: str) -> dict[str, Any]:
    return {"type": "data-reset-step", "data": {"producer": producer}, "transient": True}


def _from_message(message: UIMessage) -> list[dict[str, Any]]:
    """Chunks that rebuild a settled message's text (the stream lost the turn itself)."""
    chunks: list[dict[str, Any]] = [{"type": "start", "messageId": message.id}]
    for i, part in enumerate(message.parts):
        if part.get("type") == "text":
            chunks += [
                {"type": "text-start", "id": f"settled-{i}"},
                {"type": "text-delta", "id": f"settled-{i}", "delta": str(part.get("text", ""))},
                {"type": "text-end", "id": f"settled-{i}"},
            ]
    chunks.append({"type": "finish"})
    return chunks


ProfileQuery = Annotated[
    Profile, Query(description="The AI SDK major the client runs: cuts chunks to its schema.")
]


@router.post("/api/chat", responses={200: _UI_SSE}, summary="useChat: send a message")
async def use_chat(
    body: UseChatBody,
    request: Request,
    gateway: Gw,
    agent: Annotated[str | None, Query(pattern=AGENT_PATTERN)] = None,
    profile: ProfileQuery = "v6",
) -> Response:
    """Accepts `DefaultChatTransport`'s body and streams the newest message's turn."""
    return await _use_chat(body, request, gateway, agent, profile)


@router.post(
    "/api/{profile}/chat", responses={200: _UI_SSE}, summary="useChat, for an AI SDK major"
)
async def use_chat_profile(
    profile: Profile,
    body: UseChatBody,
    request: Request,
    gateway: Gw,
    agent: Annotated[str | None, Query(pattern=AGENT_PATTERN)] = None,
) -> Response:
    """`/api/v5/chat`: the profile in the path, so the transport's resume URL keeps it."""
    return await _use_chat(body, request, gateway, agent, profile)


async def _use_chat(
    body: UseChatBody, request: Request, gateway: Gateway, agent: str | None, profile: Profile
) -> Response:
    bind_log_context(chat_id=body.id)  # this request's task: its handler and its stream
    principal = caller(request)
    principal.check_chat(body.id)
    if body.trigger == "regenerate-message":
        raise ApiError(
            422,
            "InvalidRequestError",
            "trigger: regenerate-message is not supported (the transcript lives in the"
            " workflow); send a new message instead",
            ["trigger"],
        )
    newest = body.message or (body.messages[-1] if body.messages else None)
    if newest is None:
        raise ApiError(422, "InvalidRequestError", "messages: the list is empty", ["messages"])
    try:
        message = UIMessage.model_validate(newest)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in ("messages", -1, *e["loc"])) for e in exc.errors()]
        raise ApiError(
            422, InvalidMessageError.__name__, "messages[-1] is not a UIMessage", fields
        ) from None
    if message.role == "assistant":
        # Answers to a waiting turn: only on a chat the caller may already see.
        await check_visible(gateway.settings, principal, body.id)
        owner = principal.owner
    else:
        owner = await gateway.input_owner(body.id, principal, body.owner)
    chosen = await gateway.agent_of(body.id, body.agent or agent, principal)
    chat = gateway.chat(body.id, chosen, owner=owner, inputs=body.inputs)
    if message.role == "assistant":
        # After addToolOutput / addToolApprovalResponse the client posts its assistant
        # message: hand the answers to the waiting turn and stream the turn on.
        await _deliver_answers(gateway, body.id, message)
        stream = await chat.reconnect()
    else:
        stream = await chat.send_raw([message])
    return ui_stream_response(gateway, stream, profile)


async def _deliver_answers(gateway: Gateway, chat_id: str, message: UIMessage) -> None:
    chat = gateway.chat(chat_id)
    for part in message.parts:
        kind = str(part.get("type", ""))
        if not (kind.startswith("tool-") or kind == "dynamic-tool"):
            continue
        call_id = str(part.get("toolCallId", ""))
        state = part.get("state")
        approval = part.get("approval") or {}
        with contextlib.suppress(NotPendingError):  # already answered: a resend
            if state == "output-available":
                await chat.submit_tool_result(call_id, part.get("output"))
            elif state == "output-error":
                await chat.submit_tool_result(call_id, error=str(part.get("errorText")))
            elif state in ("approval-responded", "output-denied") and approval.get("id"):
                if approval.get("approved"):
                    await chat.approve(str(approval["id"]))
                else:
                    await chat.deny(str(approval["id"]), approval.get("reason"))


@router.get(
    "/api/{profile}/chat/{chat_id}/stream",
    responses={200: _UI_SSE, 204: {"description": "No turn is running."}},
    summary="useChat: resume, for an AI SDK major",
)
async def resume_profile(
    profile: Profile,
    chat_id: Annotated[str, Path(pattern=CHAT_ID_PATTERN)],
    principal: ChatCaller,
    gateway: Gw,
    last_event_id: LastEventId = None,
) -> Response:
    return await resume(chat_id, principal, gateway, profile, last_event_id)


@router.get(
    "/api/chat/{chat_id}/stream",
    responses={200: _UI_SSE, 204: {"description": "No turn is running."}},
    summary="useChat: resume the active turn",
)
async def resume(
    chat_id: Annotated[str, Path(pattern=CHAT_ID_PATTERN)],
    principal: ChatCaller,
    gateway: Gw,
    profile: ProfileQuery = "v6",
    last_event_id: LastEventId = None,
) -> Response:
    """`204` when no turn runs; otherwise the active turn from its start (a `useChat` client
    rebuilds the message from scratch), or from `Last-Event-ID` when a custom client sends one."""
    store = await gateway.store()
    active, _ = await store.active_turn(chat_id)
    if active is None and last_event_id is None:
        return Response(status_code=204)
    chat = gateway.chat(chat_id)
    chat.session.last_event_id = last_event_id
    stream = await chat.reconnect()
    if stream.follows_nothing:
        return Response(status_code=204)
    return ui_stream_response(gateway, stream, profile)
