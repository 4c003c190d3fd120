"""The page's loss check (`static/js/gaps.js`) tells a whole turn from one the stream lost
records of on the cases the Python reader is checked on (tests/stream/test_gaps.py).

Runs `node --test tests/gateway/js/gaps.test.mjs`; node's output is the failure message.
"""

from __future__ import annotations

import re

from tests.gateway.test_fold_js import ROOT, node_test

TEST = ROOT / "tests/gateway/js/gaps.test.mjs"
PYTHON = ROOT / "tests/stream/test_gaps.py"

CASES = {
    "a whole stream is read as it is": "test_a_whole_stream_is_read_as_it_is",
    "a jump in a producer's numbers is a loss": (
        "test_a_jump_in_a_producer_s_numbers_finishes_from_the_transcript"
    ),
    "a lost tail is told by the end record's marks": (
        "test_a_lost_tail_is_told_by_the_end_record_s_marks"
    ),
    "a producer never seen is a loss for a reader from the start": (
        "test_a_producer_never_seen_is_a_loss_for_a_reader_from_the_start"
    ),
    "a reader that joined mid-turn judges only what it could see": (
        "test_a_reader_that_joined_mid_turn_judges_only_what_it_could_see"
    ),
    "a newer attempt numbers from one": "test_a_newer_attempt_numbers_from_one",
}
"""Each case of gaps.test.mjs (`case: <name>`) -> the Python test it mirrors."""


def test_the_page_tells_losses_as_the_python_reader_does() -> None:
    ran = node_test(TEST.relative_to(ROOT), "case: ")
    # Every case ran and passed (a test file that checks nothing would pass too).
    assert ran == set(CASES), f"cases that did not pass: {sorted(set(CASES) - ran)}"


def test_every_mirrored_python_case_still_exists() -> None:
    python = set(re.findall(r"^async def (test_\w+)\(", PYTHON.read_text(), re.MULTILINE))
    assert set(CASES.values()) <= python, sorted(set(CASES.values()) - python)
