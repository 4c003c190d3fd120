// A `useChat` send with files, through the real `ai` package's Chat (AbstractChat, the class
// `useChat` wraps) and DefaultChatTransport: `sendMessage({ text, files })` as a page calls it.
// In a browser `files` is a FileList that the SDK reads into data URLs; Node has no FileList,
// so the same file parts (`{ type: 'file', mediaType, filename, url: 'data:...' }`) are given.
// usage: node files.mjs <major 5|6|7> <baseUrl> <chatId> <agent> <token> <base64 png>
// Prints one JSON line: the chat's messages after the turn, and the chunk types read.
const [major, baseUrl, chatId, agent, token, png] = process.argv.slice(2);
const { AbstractChat, DefaultChatTransport } = await import(`ai${major}`);

class State {
  constructor() {
    this.messages = [];
    this.status = 'ready';
    this.error = undefined;
  }
  pushMessage(message) {
    this.messages = this.messages.concat(message);
  }
  popMessage() {
    this.messages = this.messages.slice(0, -1);
  }
  replaceMessage(index, message) {
    this.messages = [
      ...this.messages.slice(0, index),
      this.snapshot(message),
      ...this.messages.slice(index + 1),
    ];
  }
  snapshot(value) {
    return structuredClone(value);
  }
}

class Chat extends AbstractChat {
  constructor(options) {
    super({ ...options, state: new State() });
  }
}

const routes = { 5: '/api/v5/chat', 6: '/api/chat', 7: '/api/v7/chat' };
const api = `${baseUrl}${process.env.AISDK_ROUTE || routes[major]}`;
const chunks = [];
const transport = new DefaultChatTransport({
  api,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
  body: { agent },
});
const reading = transport.processResponseStream.bind(transport);
transport.processResponseStream = (stream) =>
  reading(stream).pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        chunks.push(chunk.type);
        controller.enqueue(chunk);
      },
    }),
  );
let failure = null;
const chat = new Chat({ id: chatId, transport, onError: (error) => (failure = error) });

try {
  const file = { type: 'file', mediaType: 'image/png', filename: 'cat.png', url: `data:image/png;base64,${png}` };
  await chat.sendMessage({ text: 'what is in the picture?', files: [file] });
  if (failure) throw failure;
  // A second message: the SDK posts the whole history again, the first file's data URL too.
  await chat.sendMessage({ text: 'and now?' });
  if (failure) throw failure;
  process.stdout.write(`${JSON.stringify({ messages: chat.messages, chunks, status: chat.status })}\n`);
} catch (error) {
  console.error(error?.stack ?? String(error));
  process.exit(1);
}
