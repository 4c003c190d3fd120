"""The directory of chats: `GET /v1/chats` (a sidebar, search) and `PATCH` / `DELETE` of one.

Everything here reads and writes the chat store as the caller's owner: a user token lists,
renames and deletes its user's chats only; an API key acts for every owner (and may filter
the list by one). `GET /v1/chats/{id}` is in `native`, beside the routes that follow a chat.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from agentchat.client import _stored
from agentchat.errors import PermissionDeniedError
from agentchat.gateway.auth import CREDENTIALS
from agentchat.gateway.deps import ERROR_RESPONSES, ChatCaller, ChatId, Gw, InputCaller, caller
from agentchat.gateway.owners import check_may_delete
from agentchat.gateway.problems import ApiError
from agentchat.gateway.schemas import AGENT_PATTERN, TEXT_PATTERN, ChatUpdateBody
from agentchat.protocol.contracts import DeleteChatResult
from agentchat.protocol.directory import ChatInfo, ChatList
from agentchat.store import MAX_LIST_LIMIT, MAX_OWNER
from agentchat.store._store import decode_cursor

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, dependencies=CREDENTIALS)

_INVALID = "InvalidRequestError"
_LIST_PARAMETERS = frozenset({"owner", "agent", "query", "archived", "limit", "cursor", "token"})
_ARCHIVED: dict[str, bool | None] = {"false": False, "true": True, "any": None}


class DeleteAccepted(BaseModel):
    """`DELETE ...?wait=false`: the deletion runs on; the chat is gone once it finishes."""

    chat_id: str
    deleting: bool = True


@router.get("/v1/chats", response_model=ChatList, summary="List and search chats")
async def list_chats(
    request: Request,
    gateway: Gw,
    owner: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_OWNER,
            pattern=TEXT_PATTERN,
            description="Only this owner's chats. A user token lists its own user's only.",
        ),
    ] = None,
    agent: Annotated[str | None, Query(pattern=AGENT_PATTERN)] = None,
    query: Annotated[
        str | None,
        Query(max_length=1000, description="Full-text search over titles and message text."),
    ] = None,
    archived: Annotated[
        Literal["false", "true", "any"],
        Query(description="Leave archived chats out (`false`), only them, or `any`."),
    ] = "false",
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="The previous page's `next_cursor`.")
    ] = None,
) -> ChatList:
    """A page of chats, newest activity first; `next_cursor` fetches the next page."""
    principal = caller(request)
    unknown = sorted(set(request.query_params) - _LIST_PARAMETERS)
    if unknown:
        raise ApiError(
            422,
            _INVALID,
            f"unknown parameter(s): {', '.join(unknown)[:200]}; filter by owner, agent,"
            " query, archived, limit and cursor",
            [f"query.{name}" for name in unknown[:10]],
        )
    if principal.chat_id is not None:
        raise ApiError(
            403,
            PermissionDeniedError.__name__,
            "a chat token reads its own chat only; list chats with a user token or an API key",
        )
    if principal.user_id is not None:
        if owner is not None and owner != principal.user_id:
            raise ApiError(
                403, PermissionDeniedError.__name__, "a user token lists its own user's chats only"
            )
        owner = principal.user_id
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError as exc:
            raise ApiError(422, _INVALID, f"cursor: {exc}", ["query.cursor"]) from None
    try:
        return await _stored.list_chats(
            gateway.settings,
            owner=owner,
            agent=agent,
            query=query,
            archived=_ARCHIVED[archived],
            limit=limit,
            cursor=cursor,
        )
    except ValueError as exc:  # what the store refuses beyond the checks above
        raise ApiError(422, _INVALID, str(exc)[:500], ["query"]) from None


@router.patch("/v1/chats/{chat_id}", response_model=ChatInfo, summary="Rename or archive a chat")
async def update_chat(
    chat_id: ChatId, body: ChatUpdateBody, principal: ChatCaller, gateway: Gw
) -> ChatInfo:
    """Changes the title, the archived flag or the metadata (only the fields given); any
    change counts as activity, so the chat moves to the top of the list."""
    try:
        return await _stored.update_chat(
            gateway.settings,
            chat_id,
            principal.owner,
            title=body.title,
            archived=body.archived,
            metadata=body.metadata,
        )
    except ValueError as exc:  # the store's own limits, should they ever be tighter
        raise ApiError(422, _INVALID, str(exc)[:500], ["body"]) from None


@router.delete(
    "/v1/chats/{chat_id}",
    response_model=DeleteChatResult,
    responses={202: {"model": DeleteAccepted, "description": "With `wait=false`: started."}},
    summary="Delete a chat everywhere",
)
async def delete_chat(
    chat_id: ChatId,
    principal: InputCaller,
    gateway: Gw,
    wait: Annotated[
        bool, Query(description="Answer once everything is gone (else `202` at once).")
    ] = True,
) -> Response:
    """Erases the conversation: its stored messages and record, its stream, its running
    workflow and the sub-agent chats it owns. The deletion runs durably in the workers and
    deleting twice is harmless; afterwards the id is unknown (a new message starts an empty
    chat)."""
    await check_may_delete(gateway.settings, principal, chat_id)
    result = await gateway.chat(chat_id, owner=principal.owner).delete(wait=wait)
    if result is None:
        return JSONResponse(DeleteAccepted(chat_id=chat_id).model_dump(), status_code=202)
    return JSONResponse(result.model_dump(mode="json"))
