"""Files in a turn's activities: the LLM step loads them for the model, a deletion removes them.

Messages carry files by reference (`agentchat.protocol.files`); the bytes are read from the
blob store here, inside the activity, and go only to the model: nothing with bytes returns to
the workflow. Before the model is called, every file is checked against the agent's
`FilePolicy` and the types the model takes (`Model.file_types`). A refused file of the turn's
own message fails the step with `ModelRequestError` (not retried: the turn ends with an
`error` chunk naming the file and the rule); one of an earlier message is left out, named in
the text the model gets instead, so an old file never fails every later turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from agentchat.agent import Agent
from agentchat.blobs import BlobNotFoundError, BlobStoreUnavailableError
from agentchat.connections import get_blob_store
from agentchat.errors import ConfigurationError
from agentchat.models import Model, ModelRequest, ModelRequestError
from agentchat.models.base import ModelEvent, _Retryable
from agentchat.protocol.files import file_ref, is_file_part, media_type_allowed
from agentchat.protocol.messages import UIMessage
from agentchat.settings import Settings

if TYPE_CHECKING:
    from agentchat.store import ChatStore

__all__ = ["delete_files", "load_files", "model_events"]

log = logging.getLogger("agentchat.activities")


def model_events(
    agent: Agent, model: Model, request: ModelRequest, settings: Settings | None
) -> AsyncIterator[ModelEvent]:
    """`model`'s stream for `request`, its files checked and loaded first (if it has any)."""
    if not any(is_file_part(p) for m in request.messages for p in m.parts):
        return model.stream(request)  # the usual case: nothing in between
    return _with_files(agent, model, request, settings)


async def _with_files(
    agent: Agent, model: Model, request: ModelRequest, settings: Settings | None
) -> AsyncIterator[ModelEvent]:
    request = await load_files(agent, request, settings or Settings(), model)
    async for event in model.stream(request):
        yield event


def _current(messages: list[UIMessage]) -> int:
    """The index of the turn's own message: the last user message (a failed turn's message is
    an earlier one by the next turn)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return -1


async def load_files(
    agent: Agent, request: ModelRequest, settings: Settings, model: Model | None = None
) -> ModelRequest:
    """`request` with the bytes of the files the agent and its `model` (default: the
    agent's) take (by ref).

    Raises:
        ModelRequestError: A file of the turn's message is refused (policy, model, missing).
        _Retryable: The blob store is unavailable (the step is retried).
    """
    model = model or agent.resolved_model()
    model_types: Collection[str] | None = getattr(model, "file_types", None)
    current = _current(request.messages)
    wanted: dict[str, int] = {}
    for index, message in enumerate(request.messages):
        parts = [p for p in message.parts if is_file_part(p)]
        for position, part in enumerate(parts):
            problem = _refusal(agent, model, model_types, part, position, len(parts))
            ref = file_ref(part)
            if problem is None and ref is not None:
                if model_types is not None:
                    wanted.setdefault(ref, index)
                continue
            if index == current:
                raise ModelRequestError(f"{_name(part)}: {problem}")
            log.info("an earlier message's %s is left out: %s", _name(part), problem)
    if not wanted:
        return request
    files = await _read(agent, settings, wanted, request.messages, current)
    return replace(request, files=files)


def _refusal(
    agent: Agent,
    model: Model,
    model_types: Collection[str] | None,
    part: dict[str, Any],
    position: int,
    count: int,
) -> str | None:
    """Why the agent or its model refuses a file (None: it takes it)."""
    media_type = str(part.get("mediaType", ""))
    policy = agent.files
    if position >= policy.max_files:
        return f"agent {agent.name!r} takes at most {policy.max_files} files a message ({count})"
    if file_ref(part) is None:
        return "it refers to no uploaded file"
    size = (part.get("providerMetadata") or {}).get("agentchat", {}).get("size")
    problem = policy.refusal(media_type, size if isinstance(size, int) else None)
    if problem is not None:
        return f"agent {agent.name!r} refuses it: {problem}"
    if model_types is not None and not media_type_allowed(media_type, model_types):
        return f"model {model.name} does not take {media_type} files"
    return None


def _name(part: dict[str, Any]) -> str:
    name = part.get("filename")
    shown = f"file {name!r}" if name else "a file"
    return f"{shown} ({part.get('mediaType', 'no media type')})"


async def _read(
    agent: Agent,
    settings: Settings,
    wanted: dict[str, int],
    messages: list[UIMessage],
    current: int,
) -> dict[str, bytes]:
    try:
        blobs = get_blob_store(settings, who="a worker whose chats have files")
    except ConfigurationError as exc:
        raise ModelRequestError(str(exc)) from None
    refs = list(wanted)
    results = await asyncio.gather(*(blobs.get(ref) for ref in refs), return_exceptions=True)
    files: dict[str, bytes] = {}
    for ref, result in zip(refs, results, strict=True):
        if isinstance(result, BlobStoreUnavailableError):
            raise _Retryable(f"the blob store is unavailable: {result}")
        if isinstance(result, BlobNotFoundError):
            if wanted[ref] == current:
                part = next(p for p in messages[current].parts if file_ref(p) == ref)
                raise ModelRequestError(f"{_name(part)}: it is no longer stored ({ref})")
            continue
        if isinstance(result, BaseException):
            raise result
        if len(result) > agent.files.max_size:
            raise ModelRequestError(
                f"file {ref}: it is {len(result)} bytes; agent {agent.name!r} takes at most"
                f" {agent.files.max_size}"
            )
        files[ref] = result
    return files


async def delete_files(store: ChatStore, settings: Settings, chat_id: str) -> None:
    """Delete the blobs of a chat's files that no other chat holds (its rows stay, for a
    retry; the caller deletes them next)."""
    held = await store.attachments(chat_id)
    if not held:
        return
    lonely = [a.ref for a in held if not await store.ref_in_use(a.ref, besides=chat_id)]
    if not lonely:
        return
    if not settings.blob_url:
        log.warning(
            "chat %s: %d files not deleted: this worker has no AGENTCHAT_BLOB_URL",
            chat_id,
            len(lonely),
        )
        return
    blobs = get_blob_store(settings, who="deleting a chat's files")
    for ref in lonely:
        await blobs.delete(ref)
    log.info("chat %s: deleted %d files", chat_id, len(lonely))
