"""The page's chunk fold (`static/js/fold.js`) gives the corpus's messages, as the Python
`MessageBuilder` does (tests/protocol/test_fold.py): one semantics, checked on one corpus.

Runs `node --test tests/gateway/js/fold.test.mjs`; node's output is the failure message.
`node_test` runs the other files of tests/gateway/js the same way (test_gaps_js.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from tests.gateway.conftest import require

ROOT = Path(__file__).resolve().parents[2]
TEST = Path("tests/gateway/js/fold.test.mjs")
CORPUS = ROOT / "tests/protocol/fold_corpus.json"


def node_test(test: Path, prefix: str) -> set[str]:
    """Run `node --test` on one file (skipped without node, failed under CI); the names of
    its passed cases that start with `prefix`, without it."""
    node = shutil.which("node")
    require(node is not None, "node is missing (apt install nodejs)")
    assert node is not None
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(test)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"node --test {test} failed:\n{output}"
    return set(re.findall(rf"^ok \d+ - {re.escape(prefix)}(.+)$", done.stdout, re.MULTILINE))


def test_the_page_fold_gives_every_corpus_message() -> None:
    ran = node_test(TEST, "corpus: ")
    # Every case ran (a test file that checks nothing would pass too).
    names = {case["name"] for case in json.loads(CORPUS.read_text())}
    assert ran == names, f"corpus cases that did not pass: {sorted(names - ran)}"
