// Drives the gateway's AI SDK route with the real `ai` package (a strict, z.strictObject version).
// usage: node drive.mjs <major 5|6> <text|resume|send-then-resume> <baseUrl> <chatId>
//          [agent] [token] [text]   (an empty token sends no Authorization header)
// Prints one JSON line; any schema, ordering or HTTP error exits non-zero with the error printed.
import { randomUUID } from 'node:crypto';

const [major, scenario, baseUrl, chatId, agent = 'quick', token, text = 'hello'] =
  process.argv.slice(2);
if (!['5', '6'].includes(major) || !baseUrl || !chatId) {
  console.error('usage: node drive.mjs <5|6> <scenario> <baseUrl> <chatId> [agent] [token] [text]');
  process.exit(2);
}
const { DefaultChatTransport, readUIMessageStream } = await import(`ai${major}`);
// v5 clients use the profile route, which keeps the transport's default resume URL working.
const api = major === '5' ? `${baseUrl}/api/v5/chat` : `${baseUrl}/api/chat`;
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
  const recorded = stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        chunks.push(chunk.type);
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
