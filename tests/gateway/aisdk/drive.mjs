// Drives the gateway's AI SDK route with the real `ai` package: v5 and v6 validate every chunk
// with z.strictObject, v7 with looseObject (extra fields pass, an unknown chunk type does not).
// usage: node drive.mjs <major 5|6|7> <text|resume|send-then-resume> <baseUrl> <chatId>
//          [agent] [token] [text]   (an empty token sends no Authorization header)
// The route is the major's own (/api/v5/chat, /api/chat, /api/v7/chat) unless $AISDK_ROUTE
// names another (a v7 client on the plain /api/chat, say). $AISDK_PROGRESS=1 also prints a
// `{"deltas": n}` line per text-delta read, so a test can act mid-answer.
// Prints its result as the last JSON line; any schema, ordering or HTTP error exits non-zero
// with the error printed.
import { randomUUID } from 'node:crypto';

const [major, scenario, baseUrl, chatId, agent = 'quick', token, text = 'hello'] =
  process.argv.slice(2);
if (!['5', '6', '7'].includes(major) || !baseUrl || !chatId) {
  console.error('usage: node drive.mjs <5|6|7> <scenario> <baseUrl> <chatId> [agent] [token] [text]');
  process.exit(2);
}
const { DefaultChatTransport, readUIMessageStream } = await import(`ai${major}`);
// v5 and v7 clients use their profile route, which keeps the transport's default resume URL
// working; v6 is the plain route's default.
const ROUTES = { 5: '/api/v5/chat', 6: '/api/chat', 7: '/api/v7/chat' };
const api = `${baseUrl}${process.env.AISDK_ROUTE || ROUTES[major]}`;
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const responseHeaders = [];

const transport = new DefaultChatTransport({
  api,
  headers,
  body: { agent },
  fetch: async (url, init) => {
    const response = await fetch(url, init);
    responseHeaders.push({
      status: response.status,
      stream: response.headers.get('x-vercel-ai-ui-message-stream'),
      type: response.headers.get('content-type'),
    });
    return response;
  },
});

function send(abortSignal) {
  return transport.sendMessages({
    chatId,
    messages: [{ id: randomUUID(), role: 'user', parts: [{ type: 'text', text }] }],
    trigger: 'submit-message',
    messageId: undefined,
    abortSignal,
  });
}

// Reads a chunk stream the way useChat does: readUIMessageStream enforces ordering and parts.
async function consume(stream) {
  const chunks = [];
  let deltas = 0;
  const recorded = stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        chunks.push(chunk.type);
        // $AISDK_PROGRESS=1: a line per text-delta read, for a test that acts mid-answer.
        if (process.env.AISDK_PROGRESS === '1' && chunk.type === 'text-delta') {
          process.stdout.write(`${JSON.stringify({ deltas: ++deltas })}\n`);
        }
        controller.enqueue(chunk);
      },
    }),
  );
  let message = null;
  for await (const m of readUIMessageStream({ stream: recorded, terminateOnError: true })) {
    message = m;
  }
  return { chunks, message };
}

async function sendThenResume() {
  const abort = new AbortController();
  const reader = (await send(abort.signal)).getReader();
  const before = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before any text-delta: ${before.join(',')}`);
    before.push(value.type);
    if (value.type === 'text-delta') break;
  }
  abort.abort();
  await reader.cancel().catch(() => {});
  const stream = await transport.reconnectToStream({ chatId });
  if (stream === null) throw new Error('reconnectToStream returned null (204) mid-turn');
  return { before, ...(await consume(stream)) };
}

async function main() {
  switch (scenario) {
    case 'text':
      return consume(await send(undefined));
    case 'resume': {
      const stream = await transport.reconnectToStream({ chatId });
      return stream === null ? { resumed: null } : consume(stream);
    }
    case 'send-then-resume':
      return sendThenResume();
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

try {
  const result = await main();
  process.stdout.write(`${JSON.stringify({ ...result, responses: responseHeaders })}\n`);
} catch (error) {
  console.error(error?.stack ?? String(error));
  if (error?.cause) console.error('cause:', error.cause);
  if (error?.value !== undefined) console.error('value:', JSON.stringify(error.value));
  process.exit(1);
}
