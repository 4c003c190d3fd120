// A chat's `inputs` through the real `ai` package: the `AbstractChat` that `useChat` wraps,
// on a `DefaultChatTransport`, carrying the inputs the three ways an app can:
//   body      the transport's `body` option (`new DefaultChatTransport({ body: { inputs } })`)
//   prepare   `prepareSendMessagesRequest` building the request body itself
//   call      `sendMessage(message, { body: { inputs } })`, one request's own body
// usage: node inputs.mjs <major 5|6|7> <body|prepare|call> <baseUrl> <chatId> <agent> <token>
//          <inputs as JSON> [text]
// Prints `{"status", "error", "message", "requests"}` as the last JSON line: the chat's status
// once the send settled, the error `onError` got (if any), the assistant message, and the
// bodies the transport posted.
import { randomUUID } from 'node:crypto';

const [major, how, baseUrl, chatId, agent, token, inputsJson, text = 'hello'] =
  process.argv.slice(2);
if (!['5', '6', '7'].includes(major) || !['body', 'prepare', 'call'].includes(how)) {
  console.error('usage: node inputs.mjs <5|6|7> <body|prepare|call> <baseUrl> <chatId> <agent> <token> <inputs>');
  process.exit(2);
}
const { AbstractChat, DefaultChatTransport } = await import(`ai${major}`);
const ROUTES = { 5: '/api/v5/chat', 6: '/api/chat', 7: '/api/v7/chat' };
const inputs = JSON.parse(inputsJson);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const requests = [];

/** The state `useChat` keeps in React, as plain fields. */
class State {
  constructor() {
    this.status = 'ready';
    this.error = undefined;
    this.messages = [];
  }
  pushMessage(message) { this.messages = [...this.messages, message]; }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(index, message) {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  }
  snapshot(thing) { return structuredClone(thing); }
}

class Chat extends AbstractChat {
  constructor(init) {
    const state = new State();
    super({ ...init, state });
    this.stateRef = state;
  }
}

const options = {
  api: `${baseUrl}${ROUTES[major]}`,
  headers,
  fetch: async (url, init) => {
    requests.push(JSON.parse(init.body));
    return fetch(url, init);
  },
};
if (how === 'body') options.body = { agent, inputs };
if (how === 'call') options.body = { agent };
if (how === 'prepare') {
  options.prepareSendMessagesRequest = ({ id, messages, trigger, messageId }) => ({
    body: { id, messages: messages.slice(-1), trigger, messageId, agent, inputs },
  });
}

let error = null;
const chat = new Chat({
  id: chatId,
  generateId: randomUUID,
  transport: new DefaultChatTransport(options),
  onError: (e) => { error = String(e?.message ?? e); },
});
const message = { text };
await chat.sendMessage(message, how === 'call' ? { body: { inputs } } : undefined);
const state = chat.stateRef;
const last = state.messages[state.messages.length - 1];
process.stdout.write(`${JSON.stringify({
  status: state.status,
  error,
  message: last && last.role === 'assistant' ? last : null,
  requests,
})}\n`);
