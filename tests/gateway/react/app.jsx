// A chat page on @ai-sdk/react's `useChat` (AI SDK 7) against an agentchat gateway, as an app
// would write it. tests/gateway/test_react.py bundles it with esbuild and drives it in Chromium.
// The page's address names the gateway and the chat:
//   index.html?gateway=http://127.0.0.1:8000&chat=<chat id>&token=<chat token>&agent=<agent>
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport, isToolUIPart } from 'ai';
import { useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

const params = new URLSearchParams(window.location.search);
const gateway = params.get('gateway') ?? '';
const chatId = params.get('chat');
const agent = params.get('agent') ?? undefined;
const auth = { Authorization: `Bearer ${params.get('token')}` };

// AI SDK 7 has its own route: chunks as v7 validates them (`reset-step` included), and the
// transport's resume URL follows it (`GET /api/v7/chat/{id}/stream`).
const transport = new DefaultChatTransport({
  api: `${gateway}/api/v7/chat`,
  headers: auth,
  body: { agent },
});

function post(path, body) {
  return fetch(`${gateway}/v1/chats/${chatId}${path}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

// The transcript so far (a reload comes back to it): the gateway keeps it, not the page.
async function history() {
  const response = await fetch(`${gateway}/v1/chats/${chatId}`, { headers: auth });
  if (response.status === 404) return []; // a new chat
  if (!response.ok) throw new Error(`GET /v1/chats/${chatId}: ${response.status}`);
  return (await response.json()).messages;
}

function ToolPart({ part, onAnswer }) {
  return (
    <div data-testid="tool" data-tool-call-id={part.toolCallId} data-state={part.state}>
      <code>{part.type.slice('tool-'.length)}</code> {part.state}
      {part.state === 'approval-requested' && (
        <span>
          <button data-testid="approve" onClick={() => onAnswer(part, true)}>Approve</button>
          <button data-testid="deny" onClick={() => onAnswer(part, false)}>Deny</button>
        </span>
      )}
      {part.state === 'output-available' && (
        <pre data-testid="tool-output">{JSON.stringify(part.output)}</pre>
      )}
    </div>
  );
}

function Chat({ initial }) {
  // resume: true reconnects on mount to a turn still running (GET .../{id}/stream; 204: none).
  const { messages, sendMessage, status, error, addToolApprovalResponse } = useChat({
    id: chatId,
    messages: initial,
    transport,
    resume: true,
  });
  const [input, setInput] = useState('');
  const busy = status === 'submitted' || status === 'streaming';

  // The turn runs in the gateway's workers, so closing the response would not end it: ask
  // the gateway to stop, and the stream ends with the partial answer.
  const stop = () => post('/stop', {});

  // The turn waits for the decision with its stream open: record it in the UI, and hand it
  // to the gateway, which streams the tool's result and the rest of the answer.
  const answer = async (part, approved) => {
    await addToolApprovalResponse({ id: part.approval.id, approved });
    await post(`/approvals/${part.approval.id}`, { approved });
  };

  return (
    <main data-testid="chat" data-status={status}>
      {messages.map((message) => (
        <div
          key={message.id}
          data-testid="message"
          data-role={message.role}
          data-message-id={message.id}
        >
          {message.parts.map((part, i) =>
            part.type === 'text' ? (
              <p key={i} data-testid="message-text">{part.text}</p>
            ) : isToolUIPart(part) ? (
              <ToolPart key={i} part={part} onAnswer={answer} />
            ) : null,
          )}
        </div>
      ))}
      {error && <div data-testid="error">{error.message}</div>}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          sendMessage({ text: input });
          setInput('');
        }}
      >
        <input
          data-testid="composer-input"
          value={input}
          onChange={(event) => setInput(event.target.value)}
        />
        <button data-testid="send-button" type="submit" disabled={busy || !input}>
          Send
        </button>
        {busy && (
          <button data-testid="stop-button" type="button" onClick={stop}>
            Stop
          </button>
        )}
      </form>
    </main>
  );
}

function App() {
  const [initial, setInitial] = useState(null);
  const [failure, setFailure] = useState(null);
  useEffect(() => {
    history().then(setInitial, setFailure);
  }, []);
  if (failure) return <div data-testid="error">{String(failure)}</div>;
  return initial === null ? <p>Loading…</p> : <Chat initial={initial} />;
}

createRoot(document.getElementById('root')).render(<App />);
