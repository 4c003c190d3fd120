"""The page's chunk fold (`static/js/fold.js`) gives the corpus's messages, as the Python
`MessageBuilder` does (tests/protocol/test_fold.py): one semantics, checked on one corpus.

Runs `node --test tests/gateway/js/fold.test.mjs`; node's output is the failure message.
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


def test_the_page_fold_gives_every_corpus_message() -> None:
    node = shutil.which("node")
    require(node is not None, "node is missing (apt install nodejs)")
    assert node is not None
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(TEST)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"node --test {TEST} failed:\n{output}"
    # Every case ran (a test file that checks nothing would pass too).
    passed = re.search(r"^# pass (\d+)$", done.stdout, re.MULTILINE)
    cases = len(json.loads(CORPUS.read_text()))
    assert passed and int(passed.group(1)) >= cases, f"not every corpus case ran:\n{output}"
