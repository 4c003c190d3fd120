// The page's chunk fold (agentchat/gateway/static/js/fold.js) against the corpus the Python
// MessageBuilder is checked on (tests/protocol/fold_corpus.json): both must give the same
// UIMessage for every case. Run: node --test tests/gateway/js/fold.test.mjs
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { MessageFold, fold } from '../../../agentchat/gateway/static/js/fold.js';

const corpusUrl = new URL('../../protocol/fold_corpus.json', import.meta.url);
const corpus = JSON.parse(readFileSync(corpusUrl, 'utf8'));

test('the corpus has cases', () => {
  assert.ok(Array.isArray(corpus) && corpus.length > 0, `no cases in ${corpusUrl.pathname}`);
});

for (const { name, chunks, message } of corpus) {
  test(`corpus: ${name}`, () => {
    assert.deepStrictEqual(fold(structuredClone(chunks)), message);
  });
}

test('the fold leaves the chunks it reads unchanged', () => {
  for (const { chunks } of corpus) {
    const before = structuredClone(chunks);
    fold(chunks);
    assert.deepStrictEqual(chunks, before);
  }
});

test('a message read mid-stream is a copy: streaming on changes neither', () => {
  const message = new MessageFold('m');
  message.apply({ type: 'text-start', id: 't' });
  message.apply({ type: 'text-delta', id: 't', delta: 'a' });
  const early = message.message();
  message.apply({ type: 'text-delta', id: 't', delta: 'b' });
  message.apply({ type: 'text-end', id: 't' });
  assert.deepStrictEqual(early.parts, [{ type: 'text', text: 'a', state: 'streaming' }]);
  assert.deepStrictEqual(message.message().parts, [{ type: 'text', text: 'ab', state: 'done' }]);
});

test('a superseded producer loses its parts and its open text', () => {
  const message = new MessageFold('m');
  message.apply({ type: 'text-start', id: 't' }, 'old');
  message.apply({ type: 'text-delta', id: 't', delta: 'stale' }, 'old');
  message.apply({ type: 'start-step' }, 'other');
  message.reset('old');
  message.apply({ type: 'text-delta', id: 't', delta: 'fresh' }, 'new');
  assert.equal(message.text(), 'fresh');
  assert.deepStrictEqual(message.message().parts, [
    { type: 'step-start' },
    { type: 'text', text: 'fresh', state: 'streaming' },
  ]);
});

test('streamed tool input is kept aside for display, never in the message', () => {
  const message = new MessageFold('m');
  message.apply({ type: 'tool-input-start', toolCallId: 'c', toolName: 'search' });
  message.apply({ type: 'tool-input-delta', toolCallId: 'c', inputTextDelta: '{"q":' });
  message.apply({ type: 'tool-input-delta', toolCallId: 'c', inputTextDelta: '"x"}' });
  const [part] = message.liveParts();
  assert.equal(message.inputText(part), '{"q":"x"}');
  assert.deepStrictEqual(message.message().parts, [
    { type: 'tool-search', toolCallId: 'c', state: 'input-streaming', input: null },
  ]);
});
