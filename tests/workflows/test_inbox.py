"""The workflow's pure decisions (`agentchat.workflows._inbox`), without a server.

Each test pins one decision ChatWorkflow takes on its input or in its run loop; the workflow
only carries them out, so a change here is a change of the chat's behaviour.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentchat.errors import (
    AgentMismatchError,
    ChatBusyError,
    ChatClosedError,
    InvalidMessageError,
    MessageTooLargeError,
    UnknownAgentError,
    error_from_application_type,
)
from agentchat.protocol.contracts import ChatState, InputKind, OnBusy, QueuedInput, SendInput
from agentchat.protocol.limits import MAX_MESSAGE_BYTES
from agentchat.protocol.messages import UIMessage, user_message
from agentchat.workflows._inbox import (
    MAX_REMEMBERED_MESSAGE_IDS,
    MAX_UPDATES_PER_RUN,
    Admission,
    Move,
    Rejection,
    StepEnd,
    Verdict,
    admit,
    after_step,
    check_preload,
    forgotten_ids,
    has_input,
    is_busy,
    is_known,
    needs_preload,
    next_move,
    restored_state,
    screen,
    unknown_agent,
)

CHAT = "c1"
AGENT = "echo"


def msg(message_id: str, text: str = "hi") -> UIMessage:
    return user_message(text, message_id)


def queued(message_id: str, kind: InputKind = "message") -> QueuedInput:
    return QueuedInput(message=msg(message_id), kind=kind)


def state(**fields: object) -> ChatState:
    return ChatState.model_validate({"chat_id": CHAT, "agent": AGENT, **fields})


def send(message_id: str, kind: InputKind = "message", agent: str = AGENT) -> SendInput:
    return SendInput(message=msg(message_id), agent=agent, kind=kind)


def rejected(decision: Admission) -> type[Exception]:
    assert decision.verdict is Verdict.REJECT
    assert decision.rejection is not None
    return decision.rejection.error


# -- what the chat knows ----------------------------------------------------------------------


def test_a_message_is_known_once_it_started_a_turn_or_waits() -> None:
    s = state(
        message_turns={"started": 3, "waiting": 0},
        queue=[queued("waiting")],
        pending_steers=[queued("steering", "steer")],
    )
    assert is_known(s, "started")
    assert is_known(s, "waiting")
    assert is_known(s, "steering")  # pending steers have no message_turns entry yet
    assert not is_known(s, "new")


def test_busy_means_a_turn_runs_or_input_waits() -> None:
    assert not is_busy(state(), None)
    assert is_busy(state(), 2)
    assert is_busy(state(queue=[queued("q")]), None)


def test_input_for_the_run_loop() -> None:
    assert not has_input(state(), preload_wanted=False)
    assert has_input(state(queue=[queued("q")]), preload_wanted=False)
    assert has_input(state(pending_steers=[queued("s", "steer")]), preload_wanted=False)
    assert has_input(state(), preload_wanted=True)


def test_only_the_oldest_ids_beyond_the_limit_are_forgotten() -> None:
    turns = {f"m{i}": i for i in range(MAX_REMEMBERED_MESSAGE_IDS)}
    assert forgotten_ids(turns) == []
    turns.update({"late1": 1, "late2": 2})
    assert forgotten_ids(turns) == ["m0", "m1"]
    assert len(turns) == MAX_REMEMBERED_MESSAGE_IDS + 2  # the decision mutates nothing


# -- the update validators --------------------------------------------------------------------


def screen_send(
    s: ChatState, message: UIMessage, on_busy: OnBusy | None = "queue"
) -> Rejection | None:
    return screen(s, message, kind="message", on_busy=on_busy, active_turn=None)


def test_an_invalid_message_is_refused_with_the_class_that_says_why() -> None:
    blank = screen_send(state(), msg("m1", "   "))
    assert blank is not None and blank.error is InvalidMessageError
    assert "blank" in blank.message
    assistant = screen_send(
        state(), UIMessage(id="m1", role="assistant", parts=[{"type": "text", "text": "x"}])
    )
    assert assistant is not None and assistant.error is InvalidMessageError
    big = screen_send(state(), msg("m1", "x" * (MAX_MESSAGE_BYTES + 1)))
    assert big is not None and big.error is MessageTooLargeError
    # Invalid beats every other refusal: it is checked first.
    both = screen_send(state(closed=True), msg("bad id!"))
    assert both is not None and both.error is InvalidMessageError


def test_a_closing_chat_refuses_new_input_but_not_a_resend() -> None:
    s = state(closed=True, message_turns={"old": 1})
    refusal = screen_send(s, msg("new"))
    assert refusal == Rejection(
        ChatClosedError, "chat 'c1' is closing and takes no more input on this run"
    )
    assert screen_send(s, msg("old")) is None
    assert screen(s, msg("new"), kind="steer", on_busy="queue", active_turn=None) is not None


@pytest.mark.parametrize(
    ("kind", "on_busy", "active_turn", "queue", "known", "refused"),
    [
        ("message", "reject", 1, [], False, True),  # a turn runs
        ("message", "reject", None, ["q"], False, True),  # input waits
        ("message", "reject", None, [], False, False),  # idle
        ("message", "reject", 1, [], True, False),  # a resend gets its ack, not a refusal
        ("steer", "reject", 1, [], False, False),  # steers are never busy-refused
        ("message", "queue", 1, [], False, False),
        ("message", "interrupt", 1, [], False, False),
        ("message", None, 1, [], False, False),  # not opened yet: the handler decides
    ],
)
def test_the_send_validator_refuses_busy_messages_only_for_on_busy_reject(
    kind: InputKind,
    on_busy: OnBusy | None,
    active_turn: int | None,
    queue: list[str],
    known: bool,
    refused: bool,
) -> None:
    s = state(queue=[queued(q) for q in queue], message_turns={"m1": 1} if known else {})
    refusal = screen(s, msg("m1"), kind=kind, on_busy=on_busy, active_turn=active_turn)
    if refused:
        assert refusal is not None and refusal.error is ChatBusyError
        assert refusal.message == (
            "chat 'c1' is answering another message and its agent rejects input while busy"
        )
    else:
        assert refusal is None


# -- the send / steer handlers ----------------------------------------------------------------


def test_a_message_to_an_idle_chat_is_a_new_turn() -> None:
    s = state()
    assert admit(s, send("m1"), active_turn=None, on_busy="queue") == Admission(Verdict.QUEUE)
    assert admit(s, send("m1"), active_turn=None, on_busy="reject") == Admission(Verdict.QUEUE)
    assert s == state()  # deciding changed nothing


def test_input_for_another_agent_is_refused() -> None:
    decision = admit(state(), send("m1", agent="other"), active_turn=None, on_busy="queue")
    assert decision.rejection == Rejection(
        AgentMismatchError, "chat 'c1' belongs to agent 'echo', not 'other'"
    )


@pytest.mark.parametrize(
    ("s", "message_id", "turn"),
    [
        (state(message_turns={"m1": 4}), "m1", 4),  # started turn 4: its ack names the turn
        (state(message_turns={"m1": 0}, queue=[queued("m1")]), "m1", None),  # still queued
        (state(pending_steers=[queued("m1", "steer")]), "m1", None),  # waiting to join a step
    ],
)
def test_a_resend_gets_the_first_acknowledgement(
    s: ChatState, message_id: str, turn: int | None
) -> None:
    for kind in ("message", "steer"):
        decision = admit(s, send(message_id, kind), active_turn=7, on_busy="reject")
        assert decision == Admission(Verdict.DUPLICATE, turn=turn)


def test_a_resend_to_a_closing_chat_is_still_acknowledged() -> None:
    s = state(closed=True, message_turns={"m1": 2})
    assert admit(s, send("m1"), active_turn=None, on_busy="queue") == Admission(
        Verdict.DUPLICATE, turn=2
    )
    assert rejected(admit(s, send("m2"), active_turn=None, on_busy="queue")) is ChatClosedError
    assert rejected(admit(s, send("s", "steer"), active_turn=3, on_busy="queue")) is ChatClosedError


def test_the_agent_check_comes_before_the_duplicate_check() -> None:
    s = state(message_turns={"m1": 2})
    decision = admit(s, send("m1", agent="other"), active_turn=None, on_busy="queue")
    assert rejected(decision) is AgentMismatchError


def test_a_steer_joins_the_running_turn() -> None:
    decision = admit(state(), send("s1", "steer"), active_turn=5, on_busy="reject")
    assert decision == Admission(Verdict.INJECT, turn=5)


def test_a_steer_with_no_running_turn_is_a_turn_of_its_own() -> None:
    # Even while input waits and the agent rejects busy input: steers queue.
    s = state(queue=[queued("q")])
    for on_busy in ("queue", "reject", "interrupt"):
        assert admit(s, send("s1", "steer"), active_turn=None, on_busy=on_busy) == Admission(
            Verdict.QUEUE
        )


@pytest.mark.parametrize(
    ("on_busy", "active_turn", "queue", "expected"),
    [
        ("queue", 3, [], Admission(Verdict.QUEUE)),
        ("queue", None, ["q"], Admission(Verdict.QUEUE)),
        ("interrupt", 3, [], Admission(Verdict.INTERRUPT, turn=3)),
        ("interrupt", 3, ["q"], Admission(Verdict.INTERRUPT, turn=3)),
        # Nothing runs to interrupt (input only waits): the message queues behind it.
        ("interrupt", None, ["q"], Admission(Verdict.QUEUE)),
    ],
)
def test_a_message_while_busy_follows_on_busy(
    on_busy: OnBusy, active_turn: int | None, queue: list[str], expected: Admission
) -> None:
    s = state(queue=[queued(q) for q in queue])
    assert admit(s, send("m1"), active_turn=active_turn, on_busy=on_busy) == expected


@pytest.mark.parametrize(("active_turn", "queue"), [(3, []), (None, ["q"])])
def test_a_message_while_busy_is_refused_with_on_busy_reject(
    active_turn: int | None, queue: list[str]
) -> None:
    s = state(queue=[queued(q) for q in queue])
    decision = admit(s, send("m1"), active_turn=active_turn, on_busy="reject")
    assert rejected(decision) is ChatBusyError


# -- preload ----------------------------------------------------------------------------------


def test_preload_refusals() -> None:
    assert check_preload(state(), AGENT) is None
    assert check_preload(state(), "other") == Rejection(
        AgentMismatchError, "chat 'c1' belongs to agent 'echo', not 'other'"
    )
    refusal = check_preload(state(closed=True), AGENT)
    assert refusal is not None and refusal.error is ChatClosedError
    assert check_preload(state(closed=True, preloaded=True), AGENT) is None  # nothing to run


@pytest.mark.parametrize(
    ("preloaded", "wanted", "has_hook", "queue", "needed"),
    [
        (False, True, False, [], True),  # asked for, even without a hook: marks it done
        (False, False, True, ["q"], True),  # before the first turn
        (False, False, True, [], False),  # no message yet
        (False, False, False, ["q"], False),  # no hook
        (True, True, True, ["q"], False),  # once per chat
    ],
)
def test_preload_runs_once_when_asked_or_before_the_first_turn(
    preloaded: bool, wanted: bool, has_hook: bool, queue: list[str], needed: bool
) -> None:
    s = state(preloaded=preloaded, queue=[queued(q) for q in queue])
    assert needs_preload(s, preload_wanted=wanted, has_preload=has_hook) is needed


# -- opening a run ----------------------------------------------------------------------------


def test_a_run_with_nothing_to_restore_goes_on_with_its_own_state() -> None:
    own = state(queue=[queued("new")])
    assert restored_state(own, None, chat_id=CHAT, agent=AGENT) is None
    empty = state(agent="other", last_turn=0)
    assert restored_state(own, empty, chat_id=CHAT, agent=AGENT) is None


def test_a_restored_chat_reopens_with_its_queue_first() -> None:
    earlier = state(
        transcript=[msg("old"), UIMessage(id="a", role="assistant")],
        message_turns={"old": 1, "left": 0},
        queue=[queued("left")],
        closed=True,
        last_turn=1,
    )
    own = state(queue=[queued("new")])
    result = restored_state(own, earlier, chat_id=CHAT, agent=AGENT)
    assert isinstance(result, ChatState)
    assert not result.closed and result.last_turn == 1
    assert [q.message.id for q in result.queue] == ["left", "new"]
    assert earlier.closed and [q.message.id for q in earlier.queue] == ["left"]  # untouched


def test_a_restored_chat_of_another_agent_is_refused() -> None:
    earlier = state(agent="other", message_turns={"old": 1})
    result = restored_state(state(), earlier, chat_id=CHAT, agent=AGENT)
    assert result == Rejection(AgentMismatchError, "chat 'c1' belongs to agent 'other', not 'echo'")


def test_unknown_agent_refusal() -> None:
    assert unknown_agent("nope", "q1") == Rejection(
        UnknownAgentError, "unknown agent 'nope': no worker on task queue 'q1' serves it"
    )


def test_refusals_map_back_to_their_class_on_the_client() -> None:
    for rejection in (
        unknown_agent("a", "q"),
        check_preload(state(), "other"),
        screen_send(state(closed=True), msg("m")),
        admit(state(), send("m"), active_turn=1, on_busy="reject").rejection,
        screen_send(state(), msg("m", " ")),
    ):
        assert rejection is not None
        error = error_from_application_type(rejection.error.__name__, rejection.message)
        assert type(error) is rejection.error and str(error) == rejection.message


# -- the run loop -----------------------------------------------------------------------------


def move(
    s: ChatState,
    *,
    active_turn: int | None = None,
    preload_wanted: bool = False,
    has_preload: bool = False,
    idle: bool = False,
    continue_as_new_suggested: bool = False,
    updates: int = 0,
) -> Move:
    return next_move(
        s,
        active_turn=active_turn,
        preload_wanted=preload_wanted,
        has_preload=has_preload,
        idle=idle,
        continue_as_new_suggested=continue_as_new_suggested,
        updates=updates,
    )


def test_the_run_loop_waits_when_there_is_nothing_to_do() -> None:
    assert move(state()) is Move.WAIT


def test_the_run_loop_moves_in_order_of_precedence() -> None:
    everything = state(pending_steers=[queued("s", "steer")], queue=[queued("q")], closed=True)
    assert move(everything, preload_wanted=True, continue_as_new_suggested=True, idle=True) is (
        Move.QUEUE_STEERS
    )
    no_steers = everything.model_copy(update={"pending_steers": []})
    assert move(no_steers, preload_wanted=True, continue_as_new_suggested=True, idle=True) is (
        Move.PRELOAD
    )
    assert move(no_steers, continue_as_new_suggested=True, idle=True) is Move.CONTINUE_AS_NEW
    assert move(no_steers, idle=True) is Move.RUN_TURN
    assert move(state(closed=True)) is Move.WIND_DOWN
    assert move(state(), idle=True) is Move.WIND_DOWN


def test_pending_steers_wait_while_a_turn_runs() -> None:
    s = state(pending_steers=[queued("s", "steer")])
    assert move(s, active_turn=2) is Move.WAIT
    assert move(s) is Move.QUEUE_STEERS


def test_continue_as_new_when_suggested_or_after_many_updates() -> None:
    assert move(state(), continue_as_new_suggested=True) is Move.CONTINUE_AS_NEW
    assert move(state(), updates=MAX_UPDATES_PER_RUN - 1) is Move.WAIT
    assert move(state(), updates=MAX_UPDATES_PER_RUN) is Move.CONTINUE_AS_NEW


def test_the_first_message_waits_for_the_preload_hook() -> None:
    s = state(queue=[queued("q")])
    assert move(s, has_preload=True) is Move.PRELOAD
    assert move(s.model_copy(update={"preloaded": True}), has_preload=True) is Move.RUN_TURN


# -- the end of a step ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool_calls", "steers", "step", "expected"),
    [
        (False, False, 1, StepEnd.ANSWERED),
        (False, False, 10, StepEnd.ANSWERED),
        (True, False, 1, StepEnd.NEXT_STEP),  # the model answers the tool results
        (False, True, 1, StepEnd.NEXT_STEP),  # the steer joins at the next step
        (True, True, 9, StepEnd.NEXT_STEP),
        (True, False, 10, StepEnd.OUT_OF_STEPS),
        (False, True, 10, StepEnd.OUT_OF_STEPS),  # the steer runs as the next turn
        (True, True, 11, StepEnd.OUT_OF_STEPS),
    ],
)
def test_after_a_step(tool_calls: bool, steers: bool, step: int, expected: StepEnd) -> None:
    assert after_step(tool_calls=tool_calls, steers=steers, step=step, max_steps=10) is expected


def test_the_decisions_load_no_temporal() -> None:
    code = "import sys, agentchat.workflows._inbox; print('temporalio' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
