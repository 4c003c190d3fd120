// What the page's URL and HTML say: the chat, the credential, the agent.
//
// A page opened without ?chat= gets a fresh chat id, written back into the URL so a reload
// stays in the same chat.

/** A random UUID, in non-secure contexts too (plain http on a LAN address has no randomUUID). */
export function newChatId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const params = new URLSearchParams(location.search);
let chatId = params.get('chat');
if (!chatId) {
  chatId = newChatId();
  params.set('chat', chatId);
  history.replaceState(null, '', `${location.pathname}?${params}${location.hash}`);
}
const urlAgent = params.get('agent');

export const config = {
  /** the page's query parameters (with `chat` set) */
  params,
  chatId,
  /** a chat token from ?token=, or null (then the cookie or an open gateway) */
  token: params.get('token'),
  /** the agent ?agent= names: it wins over the chat's own */
  urlAgent,
  /** the agent this page talks to; the transcript names it when the URL does not */
  agent: urlAgent || document.body.dataset.agent || 'demo',
  /** the chat's native API path */
  base: `/v1/chats/${encodeURIComponent(chatId)}`,
};
