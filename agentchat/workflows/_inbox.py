"""What a chat does with its input: the workflow's decisions, as plain functions.

`ChatWorkflow` asks these what to do with an arriving message or steer (take it as a new turn,
answer a resend with its first acknowledgement, refuse it, let it interrupt the running turn,
let a steer join that turn), what its run loop does next, and whether a steer joins the next
step or waits for a turn of its own. It then does the Temporal side itself: waits, activities,
`ApplicationError`s.

Nothing here touches Temporal (no `temporalio` import, no clock, no randomness) or mutates its
arguments, so every decision is testable without a server, and replaying a history can only
take the branches it took before.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from agentchat.errors import (
    AgentChatError,
    AgentMismatchError,
    ChatBusyError,
    ChatClosedError,
    ChatDeletingError,
    ChatNotFoundError,
    InvalidMessageError,
    UnknownAgentError,
)
from agentchat.protocol.contracts import ChatState, InputKind, OnBusy, SendInput
from agentchat.protocol.limits import check_user_message
from agentchat.protocol.messages import UIMessage

__all__ = [
    "MAX_REMEMBERED_MESSAGE_IDS",
    "MAX_UPDATES_PER_RUN",
    "Admission",
    "Move",
    "Rejection",
    "StepEnd",
    "Verdict",
    "admit",
    "after_step",
    "check_preload",
    "closed",
    "forgotten_ids",
    "has_input",
    "is_busy",
    "is_known",
    "mismatch",
    "needs_preload",
    "next_move",
    "restored_state",
    "screen",
    "unknown_agent",
]

MAX_REMEMBERED_MESSAGE_IDS = 2000
"""Message ids remembered for idempotent sends (carried across continue-as-new)."""
MAX_UPDATES_PER_RUN = 500
"""Temporal allows 2,000 updates per run and slows down well before; continue-as-new early."""


# -- refusals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    """Input the chat refuses; the workflow raises it as a non-retryable `ApplicationError`
    whose `type` is `error.__name__` (the client maps it back to `error`)."""

    error: type[AgentChatError]
    message: str


def closed(chat_id: str) -> Rejection:
    return Rejection(
        ChatClosedError, f"chat {chat_id!r} is closing and takes no more input on this run"
    )


def deleting(chat_id: str) -> Rejection:
    return Rejection(
        ChatDeletingError,
        f"chat {chat_id!r} is being deleted; once it is gone, its id starts an empty chat",
    )


def check_owner(chat_id: str, owner: str | None, asked: str | None) -> Rejection | None:
    """Input on behalf of `asked` (None: a caller that acts for any owner) to a chat of
    `owner`: another owner's chat looks like no chat at all."""
    if asked is None or asked == owner:
        return None
    return Rejection(ChatNotFoundError, f"no chat {chat_id!r}")


def busy(chat_id: str) -> Rejection:
    return Rejection(
        ChatBusyError,
        f"chat {chat_id!r} is answering another message and its agent rejects input while busy",
    )


def mismatch(chat_id: str, owner: str, asked: str) -> Rejection:
    return Rejection(
        AgentMismatchError, f"chat {chat_id!r} belongs to agent {owner!r}, not {asked!r}"
    )


def unknown_agent(agent: str, task_queue: str) -> Rejection:
    return Rejection(
        UnknownAgentError,
        f"unknown agent {agent!r}: no worker on task queue {task_queue!r} serves it",
    )


# -- what the chat knows about its input ------------------------------------------------------


def is_known(state: ChatState, message_id: str) -> bool:
    """Seen before: it started a turn, or waits in the queue or among the pending steers."""
    return message_id in state.message_turns or any(
        q.message.id == message_id for q in (*state.pending_steers, *state.queue)
    )


def is_busy(state: ChatState, active_turn: int | None) -> bool:
    """A turn runs, or input waits for one: a new message would not start right away."""
    return active_turn is not None or bool(state.queue)


def has_input(state: ChatState, *, preload_wanted: bool) -> bool:
    """Something for the run loop to do."""
    return bool(state.queue) or bool(state.pending_steers) or preload_wanted


def forgotten_ids(message_turns: dict[str, int]) -> list[str]:
    """The oldest message ids beyond what is remembered for idempotent sends."""
    excess = len(message_turns) - MAX_REMEMBERED_MESSAGE_IDS
    return list(message_turns)[:excess] if excess > 0 else []


# -- an arriving message or steer -------------------------------------------------------------


def screen(
    state: ChatState,
    message: UIMessage,
    *,
    kind: InputKind,
    on_busy: OnBusy | None,
    active_turn: int | None,
) -> Rejection | None:
    """The update validator's decision, before Temporal accepts the update: a refused input
    leaves no trace in the history.

    `on_busy` is None while the agent is not known yet (the run has not opened). Only messages
    are refused for being busy here; steers never are.
    """
    try:
        check_user_message(message)
    except InvalidMessageError as exc:
        return Rejection(type(exc), str(exc))
    known = is_known(state, message.id)
    if state.closed and not known:
        return closed(state.chat_id)
    if kind != "steer" and on_busy == "reject" and is_busy(state, active_turn) and not known:
        return busy(state.chat_id)
    return None


class Verdict(enum.Enum):
    """What becomes of an accepted `send` or `steer` update."""

    QUEUE = "queue"
    """A new turn, after whatever is queued (a steer while no turn runs is one too)."""
    INTERRUPT = "interrupt"
    """A new turn, and the running turn (`Admission.turn`) is stopped for it."""
    INJECT = "inject"
    """A steer joining the running turn (`Admission.turn`) at its next step."""
    DUPLICATE = "duplicate"
    """A resend: answer with the first acknowledgement (`Admission.turn` is the turn it
    started, or None while it waits); nothing is queued again."""
    REJECT = "reject"
    """Refused (`Admission.rejection`); nothing is queued."""


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    turn: int | None = None
    rejection: Rejection | None = None


def admit(
    state: ChatState, req: SendInput, *, active_turn: int | None, on_busy: OnBusy
) -> Admission:
    """The update handler's decision on a `send` (`req.kind == "message"`) or `steer`, once the
    run has opened and knows its agent."""
    if req.agent != state.agent:
        return Admission(Verdict.REJECT, rejection=mismatch(state.chat_id, state.agent, req.agent))
    message_id = req.message.id
    if is_known(state, message_id):
        return Admission(Verdict.DUPLICATE, turn=state.message_turns.get(message_id) or None)
    if state.closed:
        return Admission(Verdict.REJECT, rejection=closed(state.chat_id))
    if req.kind == "steer" and active_turn is not None:
        return Admission(Verdict.INJECT, turn=active_turn)
    if req.kind != "steer" and is_busy(state, active_turn):
        if on_busy == "reject":
            return Admission(Verdict.REJECT, rejection=busy(state.chat_id))
        if on_busy == "interrupt" and active_turn is not None:
            return Admission(Verdict.INTERRUPT, turn=active_turn)
    return Admission(Verdict.QUEUE)


def check_preload(state: ChatState, agent: str) -> Rejection | None:
    """The `preload` update's refusals; an accepted one runs the hook unless it already ran."""
    if agent != state.agent:
        return mismatch(state.chat_id, state.agent, agent)
    if state.closed and not state.preloaded:
        return closed(state.chat_id)
    return None


# -- the run ----------------------------------------------------------------------------------


def restored_state(
    state: ChatState, restored: ChatState | None, *, chat_id: str, agent: str
) -> ChatState | Rejection | None:
    """What an opening run continues from, given the state an earlier run left (if any): that
    state, reopened, with the input that arrived meanwhile queued after its own; a refusal if it
    belongs to another agent; None to go on with `state`."""
    if restored is None or not (restored.transcript or restored.message_turns):
        return None
    if restored.agent != agent:
        return mismatch(chat_id, restored.agent, agent)
    merged = restored.model_copy(update={"closed": False})
    merged.queue = restored.queue + state.queue
    return merged


def needs_preload(state: ChatState, *, preload_wanted: bool, has_preload: bool) -> bool:
    """The preload hook runs once per chat: when asked for, or before the first turn."""
    if state.preloaded:
        return False
    return preload_wanted or (has_preload and bool(state.queue))


class Move(enum.Enum):
    """The run loop's next move."""

    QUEUE_STEERS = "queue-steers"
    """Steers that found no turn to join become the next turn, ahead of the queue."""
    PRELOAD = "preload"
    CONTINUE_AS_NEW = "continue-as-new"
    """Between turns only: the queue, pending steers and seen ids travel in the state."""
    RUN_TURN = "run-turn"
    WIND_DOWN = "wind-down"
    """Closed or idle: end the run once its handlers finished, unless input raced in."""
    WAIT = "wait"
    """Wait for input (or for the idle timeout)."""


def next_move(
    state: ChatState,
    *,
    active_turn: int | None,
    preload_wanted: bool,
    has_preload: bool,
    idle: bool,
    continue_as_new_suggested: bool,
    updates: int,
) -> Move:
    if state.pending_steers and active_turn is None:
        return Move.QUEUE_STEERS
    if needs_preload(state, preload_wanted=preload_wanted, has_preload=has_preload):
        return Move.PRELOAD
    if continue_as_new_suggested or updates >= MAX_UPDATES_PER_RUN:
        return Move.CONTINUE_AS_NEW
    if state.queue:
        return Move.RUN_TURN
    if state.closed or idle:
        return Move.WIND_DOWN
    return Move.WAIT


class StepEnd(enum.Enum):
    """How a turn goes on after an LLM step (and its tool calls) ended without a stop."""

    ANSWERED = "answered"
    """No tool results for the model and no steer waiting: the turn is done."""
    NEXT_STEP = "next-step"
    """Another step: the model answers the tool results, and waiting steers join it."""
    OUT_OF_STEPS = "out-of-steps"
    """Another step was due but the turn used `max_steps`: it ends, and the steers that were
    waiting run as the next turn."""


def after_step(*, tool_calls: bool, steers: bool, step: int, max_steps: int) -> StepEnd:
    if not (tool_calls or steers):
        return StepEnd.ANSWERED
    if step >= max_steps:
        return StepEnd.OUT_OF_STEPS
    return StepEnd.NEXT_STEP
