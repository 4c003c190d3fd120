"""The chat store's side of a chat: open (restore, create), save each turn, delete, expire.

The store is the conversation's system of record and Temporal its executor: a run that opens
a chat continues from the stored messages, never from an earlier run (which retention may
have deleted), and every finished turn is written here before its end is reported.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agentchat.activities.files import delete_files
from agentchat.agent import Agent
from agentchat.connections import get_store, store_failure
from agentchat.errors import StoreUnavailableError
from agentchat.logs import log_context
from agentchat.protocol.contracts import (
    ChatState,
    Compacted,
    DeleteStepInput,
    DeleteStepResult,
    OpenChatInput,
    OpenChatResult,
    RetentionInput,
    RetentionResult,
    SaveTurnInput,
    ThreadState,
    TokenUsage,
)
from agentchat.protocol.messages import UIMessage, fold_digest
from agentchat.protocol.names import DELETE_STEP, FIND_EXPIRED, SAVE_TURN
from agentchat.settings import Settings
from agentchat.stream._store import StreamStore

if TYPE_CHECKING:
    # Imported when first used (SQLAlchemy takes ~0.5 s): a worker polls before it opens
    # the store, so a crashed worker's replacement takes its chats sooner.
    from agentchat.store import ChatRecord, ChatStore

__all__ = ["StoreActivities", "open_legacy_window", "state_from_store"]

log = logging.getLogger("agentchat.activities")

LEGACY_IMPORT = "legacy_import_until"
"""Store meta key: until when (ISO time) chats that predate the store may still be found in
Temporal's closed runs, which its namespace retention then deletes; empty: never (the store
came first, as on every new deployment, so a new chat costs no visibility query)."""

REMEMBERED_IDS = 2000
"""User message ids a restored chat remembers for idempotent sends (as a running one does)."""


def state_from_store(
    record: ChatRecord, messages: list[dict[str, Any]], turns: list[int]
) -> ChatState:
    """A run's starting state, rebuilt from a chat's stored row and messages."""
    transcript = [UIMessage.model_validate(m) for m in messages]
    message_turns: dict[str, int] = {}
    for message, turn in zip(transcript, turns, strict=True):
        if message.role == "user":
            message_turns[message.id] = turn
    extra = record.state
    # A trigger's carrier is not in the transcript: its turn is its answer's.
    answers: dict[str, str] = dict(extra.get("trigger_answers") or {})
    answer_turns = {m.id: t for m, t in zip(transcript, turns, strict=True)}
    for carrier, answer in answers.items():
        if answer in answer_turns:
            message_turns.setdefault(carrier, answer_turns[answer])
    if len(message_turns) > REMEMBERED_IDS:
        message_turns = dict(list(message_turns.items())[-REMEMBERED_IDS:])
    usage = TokenUsage.model_validate(extra["usage"]) if extra.get("usage") else TokenUsage()
    compaction = Compacted.model_validate(extra["compaction"]) if extra.get("compaction") else None
    if compaction is not None and compaction.upto > len(transcript):
        compaction = None  # not the transcript it was made for: send it all
    start = compaction.upto if compaction is not None else 0
    return ChatState(
        chat_id=record.chat_id,
        agent=record.agent,
        transcript=transcript,
        message_turns=message_turns,
        last_turn=record.last_turn,
        preloaded=bool(extra.get("preloaded", False)),
        preload_context=extra.get("preload_context"),
        subchats=list(extra.get("subchats", [])),
        settled=len(transcript),
        # A compacted chat's steps are sent its window only (see ChatState.compaction).
        settled_digest=fold_digest("", transcript[start:]),
        sent=start,
        usage=usage,
        compaction=compaction,
        # Chats stored before generated titles had their title already.
        titled=bool(extra.get("titled", record.last_turn > 0)),
        inputs=dict(extra.get("inputs") or {}),
        resources=dict(extra.get("resources") or {}),
        threads={
            name: ThreadState.model_validate(thread)
            for name, thread in (extra.get("threads") or {}).items()
        },
        trigger_answers={c: a for c, a in answers.items() if c in message_turns},
    )


def _retryable(exc: Exception, url: str) -> ApplicationError:
    """A database failure: the activity is retried until the database is back."""
    error = store_failure(exc, url)
    return ApplicationError(str(error), type=StoreUnavailableError.__name__)


class StoreActivities:
    """The store's activities, bound to one worker's settings, Temporal client and streams."""

    def __init__(
        self, streams: StreamStore, client: Client, agents: list[Agent], settings: Settings
    ) -> None:
        self.streams = streams
        self.client = client
        self.agents = {a.name: a for a in agents}
        self.settings = settings

    def all(self) -> list[Any]:
        return [self.save_turn, self.delete_step, self.find_expired]

    async def store(self) -> ChatStore:
        return await get_store(self.settings, who="a worker")

    # -- open -------------------------------------------------------------------------------

    async def open(self, req: OpenChatInput) -> OpenChatResult:
        """Create the chat's row (idempotent) and, if asked, restore its conversation.

        The result carries the stored state (None for a new or empty chat), the chat's owner,
        and whether it is being deleted; its `spec` is left to the caller. Raises (to be
        retried) when the database is down and a conversation may be there to restore:
        starting empty would overwrite it.
        """
        url = self.settings.database_url or ""
        try:
            store = await self.store()
            record = await store.get_chat(req.chat_id)
            if record is not None and record.deleting:
                return OpenChatResult(deleting=True, owner=record.owner)
            if record is None:
                req = await _with_parent_owner(store, req)
            if record is None and req.restore:
                restored = await self._import(store, req)
                return OpenChatResult(
                    restored=restored, owner=req.owner if restored is None else None
                )
            if record is None:
                await store.create_chat(req.chat_id, req.agent, owner=req.owner, parent=req.parent)
                return OpenChatResult(owner=req.owner)
            if not req.restore or record.message_count == 0:
                return OpenChatResult(owner=record.owner)
            rows = await store.load_messages(req.chat_id)
        except StoreUnavailableError as exc:
            raise ApplicationError(str(exc), type=StoreUnavailableError.__name__) from exc
        except Exception as exc:
            if not req.restore and _is_database_error(exc):
                # Nothing to restore: the first turn's write creates the row.
                log.warning("chat %s: not recorded yet: %s", req.chat_id, store_failure(exc, url))
                return OpenChatResult(owner=req.owner)
            if _is_database_error(exc):
                raise _retryable(exc, url) from exc
            raise
        state = state_from_store(record, [r.message for r in rows], [r.turn for r in rows])
        return OpenChatResult(restored=state, owner=record.owner)

    async def _import(self, store: ChatStore, req: OpenChatInput) -> ChatState | None:
        """A chat the store has never seen: new, or one that predates the store, imported
        from its last Temporal run once."""
        state = None
        if _importing(await store.get_meta(LEGACY_IMPORT)):
            state = await self._last_run_state(req)
        # A chat that predates the store had no owner: whoever asks first must not get it.
        owner = req.owner if state is None else None
        await store.create_chat(req.chat_id, req.agent, owner=owner, parent=req.parent)
        if state is not None and state.transcript:
            await _save_all(store, state)
            log.info("chat %s: imported %d messages", req.chat_id, len(state.transcript))
        return state

    async def _last_run_state(self, req: OpenChatInput) -> ChatState | None:
        # Each run that ended (idle timeout, close) returned its ChatState as its result; the
        # newest closed run holds the conversation. Visibility is eventually consistent, so a
        # previous run still listed as running means "ask again shortly".
        query = f"WorkflowId = '{req.workflow_id}'"
        runs = [r async for r in self.client.list_workflows(query, limit=20)]
        if any(r.status == WorkflowExecutionStatus.TERMINATED for r in runs):
            return None  # a deleted chat's runs (deletion terminates, then erases them)
        runs = [r for r in runs if r.run_id != req.run_id]
        if any(r.status == WorkflowExecutionStatus.RUNNING for r in runs):
            raise ApplicationError("previous run of this chat is still closing; retrying")
        runs.sort(key=lambda r: r.close_time or r.start_time, reverse=True)
        for run in runs:
            handle = self.client.get_workflow_handle(
                req.workflow_id, run_id=run.run_id, result_type=ChatState
            )
            try:
                if run.status == WorkflowExecutionStatus.COMPLETED:
                    state: ChatState | None = await handle.result(follow_runs=False)
                else:
                    state = await handle.query("state", result_type=ChatState)
            except Exception as exc:  # a run we cannot read: try the one before it
                log.warning("chat %s: cannot restore run %s: %s", req.chat_id, run.run_id, exc)
                continue
            if state is not None and (state.transcript or state.message_turns):
                return state  # runs that refused their input hold nothing: look further back
        return None

    # -- save -------------------------------------------------------------------------------

    @activity.defn(name=SAVE_TURN)
    async def save_turn(self, req: SaveTurnInput) -> None:
        """Write a finished turn's messages; a retry writes the same rows again."""
        url = self.settings.database_url or ""
        with log_context(chat_id=req.chat_id, turn=req.turn):
            try:
                store = await self.store()
                # The row is made when the chat opens; a chat opened while the database was
                # down gets it now.
                await store.create_chat(req.chat_id, req.agent, owner=req.owner, parent=req.parent)
                await store.save_turn(
                    req.chat_id,
                    req.turn,
                    [m.model_dump(mode="json", exclude_none=True) for m in req.messages],
                    start=req.start,
                    state=req.state,
                    title=_first_user_text(req.messages),
                    usage=req.usage.wire() if req.usage is not None else None,
                )
            except StoreUnavailableError as exc:
                raise ApplicationError(str(exc), type=StoreUnavailableError.__name__) from exc
            except Exception as exc:
                if _is_database_error(exc):
                    log.warning("turn %d not saved yet: %s", req.turn, store_failure(exc, url))
                    raise _retryable(exc, url) from exc
                raise

    # -- delete -----------------------------------------------------------------------------

    @activity.defn(name=DELETE_STEP)
    async def delete_step(self, req: DeleteStepInput) -> DeleteStepResult:
        """One step of a chat's deletion (see `agentchat.workflows.delete`); each is
        idempotent, so a retried or repeated step does no harm."""
        url = self.settings.database_url or ""
        with log_context(chat_id=req.chat_id):
            try:
                return await self._delete_step(req)
            except StoreUnavailableError as exc:
                raise ApplicationError(str(exc), type=StoreUnavailableError.__name__) from exc
            except Exception as exc:
                if _is_database_error(exc):
                    raise _retryable(exc, url) from exc
                raise

    async def _delete_step(self, req: DeleteStepInput) -> DeleteStepResult:
        if req.step == "mark":
            store = await self.store()
            record = await store.get_chat(req.chat_id)
            existed = await store.mark_deleting(req.chat_id)
            subchats = set(record.state.get("subchats", [])) if record is not None else set()
            subchats.update(await store.children(req.chat_id))
            return DeleteStepResult(existed=existed, subchats=sorted(subchats))
        if req.step == "end_run":
            await self._end_run(req.chat_id)
        elif req.step == "stream":
            await self.streams.delete_chat(req.chat_id)
        elif req.step == "rows":
            store = await self.store()
            # The chat's files first, while its rows still list them: a retry (the blob
            # store was down) finds them again. A file another chat holds stays.
            await delete_files(store, self.settings, req.chat_id)
            await store.delete_chat(req.chat_id)
        return DeleteStepResult()

    async def _end_run(self, chat_id: str) -> None:
        from agentchat.workflows.chat import workflow_id_for

        workflow_id = workflow_id_for(chat_id)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            await handle.terminate(reason="chat deleted")
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # no run, or it already ended
                raise
        # Its runs' histories hold the conversation too (inputs, results, the transcript):
        # erased with it, not left for the namespace's retention. The newest run is found by
        # describing the workflow (visibility may not list it yet), the older ones by listing.
        run_ids: list[str] = []
        try:
            run_ids.append((await handle.describe()).run_id)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        query = f"WorkflowId = '{workflow_id}'"
        run_ids += [run.run_id async for run in self.client.list_workflows(query)]
        for run_id in dict.fromkeys(run_ids):
            request = DeleteWorkflowExecutionRequest(
                namespace=self.settings.temporal_namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            )
            try:
                await self.client.workflow_service.delete_workflow_execution(request)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise

    # -- retention --------------------------------------------------------------------------

    @activity.defn(name=FIND_EXPIRED)
    async def find_expired(self, req: RetentionInput) -> RetentionResult:
        """The chats whose last activity is older than their retention policy allows."""
        store = await self.store()
        now = datetime.now(UTC)
        expired: list[str] = []
        own = {name: a.retention for name, a in self.agents.items() if a.retention is not None}
        for name, keep in own.items():
            expired += await store.stale_chats(before=now - keep, agent=name, limit=req.limit)
        if self.settings.retention_days:
            keep = timedelta(days=self.settings.retention_days)
            expired += await store.stale_chats(
                before=now - keep, limit=req.limit, exclude_agents=sorted(own)
            )
        return RetentionResult(deleted=sorted(set(expired))[: req.limit])


async def _with_parent_owner(store: ChatStore, req: OpenChatInput) -> OpenChatInput:
    """A sub-agent chat belongs to whoever owns the chat that delegated to it."""
    if req.owner is not None or req.parent is None:
        return req
    parent = await store.get_chat(req.parent)
    return req.model_copy(update={"owner": parent.owner if parent is not None else None})


def _importing(until: str | None) -> bool:
    if not until:
        return False
    try:
        return datetime.now(UTC) < datetime.fromisoformat(until)
    except ValueError:
        return True  # unreadable: look, as before the store


async def open_legacy_window(store: ChatStore, client: Client, namespace: str) -> None:
    """Decide once, when a worker first meets the store, whether chats may predate it.

    Temporal holding chat runs already means an upgrade: until its namespace retention has
    deleted them, a chat the store does not know is looked for there (and imported) once.
    """
    if await store.get_meta(LEGACY_IMPORT) is not None:
        return
    count = await client.count_workflows("WorkflowType = 'agentchat.Chat'")
    until = ""
    if count.count:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        ttl = described.config.workflow_execution_retention_ttl.ToTimedelta()
        until = (datetime.now(UTC) + max(ttl, timedelta(days=1))).isoformat()
        log.info("chats that predate the store are imported on first use until %s", until)
    await store.set_meta(LEGACY_IMPORT, until)


def _first_user_text(messages: list[UIMessage]) -> str | None:
    from agentchat.store import default_title, message_text

    for message in messages:
        if message.role == "user":
            text = message_text(message.model_dump(mode="json"))
            return default_title(text) if text.strip() else None
    return None


async def _save_all(store: ChatStore, state: ChatState) -> None:
    """An imported conversation, turn by turn, as later turns will be written."""
    turn_of = {mid: t for mid, t in state.message_turns.items()}
    turn = 0
    batch: list[UIMessage] = []
    start = 0
    for position, message in enumerate(state.transcript):
        message_turn = turn_of.get(message.id, 0) if message.role == "user" else 0
        if message_turn and message_turn != turn and batch:
            await store.save_turn(
                state.chat_id,
                turn,
                [m.model_dump(mode="json", exclude_none=True) for m in batch],
                start=start,
            )
            batch, start = [], position
        turn = message_turn or turn
        batch.append(message)
    if batch:
        await store.save_turn(
            state.chat_id,
            max(turn, state.last_turn),
            [m.model_dump(mode="json", exclude_none=True) for m in batch],
            start=start,
            state=state.kept(),
        )


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError | DBAPIError | OSError | ConnectionError)
