// The page's loss check (agentchat/gateway/static/js/gaps.js) on the cases the Python reader's
// `_track` / `_check_marks` are checked on (tests/stream/test_gaps.py): the same stream is
// whole, or lost records, for both. Run: node --test tests/gateway/js/gaps.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TurnGaps } from '../../../agentchat/gateway/static/js/gaps.js';

const LLM = 't1.s1.llm';

function record(seq, kind, producer = LLM, fields = {}) {
  return { v: 1, turn: 1, p: producer, a: 1, seq, k: kind, ...fields };
}

function delta(seq, text) {
  return record(seq, 'chunk', LLM, { c: { type: 'text-delta', id: 't', delta: text } });
}

/** A turn as tests/stream/test_gaps.py writes it: start, text-start, `middle`, finish, end. */
function turn(middle, marks) {
  const start = record(1, 'turn-start', LLM, {
    messageId: 'm',
    userMessageId: 'u',
    trigger: 'submit-message',
  });
  const opening = record(2, 'chunk', LLM, { c: { type: 'text-start', id: 't' } });
  const end = { status: 'completed' };
  if (marks !== undefined) end.marks = marks;
  const finish = record(1, 'chunk', 't1.end', { c: { type: 'finish' } });
  return [start, opening, ...middle, finish, record(2, 'turn-end', 't1.end', end)];
}

/** The producer a reader of `envelopes` finds it lost records of (null: none). */
function lost(envelopes) {
  const gaps = new TurnGaps();
  for (const env of envelopes) gaps.note(structuredClone(env));
  return gaps.lost;
}

test('case: a whole stream is read as it is', () => {
  const marks = { [LLM]: { seq: 4, attempt: 1 } };
  assert.equal(lost(turn([delta(3, 'a b '), delta(4, 'c d')], marks)), null);
});

test("case: a jump in a producer's numbers is a loss", () => {
  assert.equal(lost(turn([delta(3, 'a '), delta(5, 'd')])), LLM);
});

test("case: a lost tail is told by the end record's marks", () => {
  const marks = { [LLM]: { seq: 5, attempt: 1 } };
  assert.equal(lost(turn([delta(3, 'a '), delta(4, 'b ')], marks)), LLM);
});

test('case: a producer never seen is a loss for a reader from the start', () => {
  const marks = { [LLM]: { seq: 3 }, 't1.s1.tool.c1': { seq: 1, attempt: 1 } };
  assert.equal(lost(turn([delta(3, 'a b c d')], marks)), 't1.s1.tool.c1');
});

test('case: a reader that joined mid-turn judges only what it could see', () => {
  const marks = { [LLM]: { seq: 5, attempt: 1 }, 't1.s1.tool.c0': { seq: 2, attempt: 1 } };
  const envelopes = turn([delta(3, 'a '), delta(4, 'b '), delta(5, 'c d')], marks);
  // A resume after the turn's first three records (no turn-start): a producer it did not see
  // from its first record is no loss, nor is the end's mark of records before it.
  assert.equal(lost(envelopes.slice(3)), null);
  // The same reader from the start lost nothing of the step, but never saw the tool.
  assert.equal(lost(envelopes), 't1.s1.tool.c0');
});

test('case: a newer attempt numbers from one', () => {
  const retried = { v: 1, turn: 1, k: 'attempt-start', p: LLM, a: 2 };
  const again = { ...record(1, 'chunk', LLM, { c: { type: 'text-start', id: 't' } }), a: 2 };
  const rest = { ...delta(2, 'a b c d'), a: 2 };
  const marks = { [LLM]: { seq: 2, attempt: 2 } };
  assert.equal(lost(turn([delta(3, 'x'), retried, again, rest], marks)), null);
});

// Beyond the Python file's cases: the corners of `_track` and `_check_marks`.

test("a superseded attempt's late write is no loss", () => {
  const retried = { v: 1, turn: 1, k: 'attempt-start', p: LLM, a: 2 };
  const again = { ...delta(1, 'a b c d'), a: 2 };
  const late = delta(9, 'stale'); // attempt 1, far beyond what was read of it
  const marks = { [LLM]: { seq: 1, attempt: 2 } };
  assert.equal(lost(turn([delta(3, 'x'), retried, again, late], marks)), null);
});

test('a record read again (a replay) is no loss', () => {
  const marks = { [LLM]: { seq: 4, attempt: 1 } };
  assert.equal(lost(turn([delta(3, 'a '), delta(3, 'a '), delta(4, 'b')], marks)), null);
});

test("a newer attempt that does not start at one lost its first records", () => {
  const retried = { v: 1, turn: 1, k: 'attempt-start', p: LLM, a: 2 };
  const marks = { [LLM]: { seq: 3, attempt: 2 } };
  const rest = { ...delta(3, 'c d'), a: 2 };
  assert.equal(lost(turn([delta(3, 'x'), retried, rest], marks)), LLM);
});

test('a mark of an attempt never read is a loss', () => {
  const marks = { [LLM]: { seq: 3, attempt: 2 } };
  assert.equal(lost(turn([delta(3, 'a b c d')], marks)), LLM);
});

test("a reader from mid-turn takes a producer's first record as its start", () => {
  const envelopes = turn([delta(3, 'a '), delta(4, 'b '), delta(6, 'd')]);
  assert.equal(lost(envelopes.slice(3)), LLM); // 4 then 6: 5 is lost
  assert.equal(lost(envelopes.slice(4)), null); // 6 first: what came before is not judged
});

test('the first producer lost is the one named', () => {
  const marks = { [LLM]: { seq: 9, attempt: 1 }, 't1.s1.tool.c1': { seq: 1 } };
  assert.equal(lost(turn([delta(3, 'a '), delta(5, 'c')], marks)), LLM);
});

test('a turn with no marks and no numbers loses nothing', () => {
  const gaps = new TurnGaps();
  gaps.note({ v: 1, k: 'turn-start', turn: 1, messageId: 'm' });
  gaps.note({ v: 1, k: 'chunk', turn: 1, c: { type: 'text-delta', id: 't', delta: 'a' } });
  gaps.note({ v: 1, k: 'turn-end', turn: 1, status: 'completed' });
  assert.equal(gaps.lost, null);
});
