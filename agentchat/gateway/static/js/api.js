// The gateway's native API over fetch: JSON in and out, errors as ApiError.

import { config } from './config.js';

/** A refused or failed call: `type` is the gateway's error type, `status` the HTTP status. */
export class ApiError extends Error {
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (config.token) headers.Authorization = `Bearer ${config.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (err) {
    throw new ApiError('NetworkError', `Could not reach the gateway (${err.message}).`, 0);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const e = data && data.error;
    throw new ApiError(
      (e && e.type) || `HTTP ${response.status}`,
      (e && e.message) || text.slice(0, 300) || response.statusText,
      response.status,
    );
  }
  return data;
}

/** The chat: its agent, status, transcript and the cursor to follow on from. */
export function getChat() {
  return api('GET', config.base);
}

/** Send a message; answers with the acknowledgement (`after`: the cursor before its turn).
 * With `files` (the parts uploads answered), it goes as a UIMessage of text and file parts. */
export function sendMessage(text, messageId, files = []) {
  if (files.length) {
    const parts = [...(text ? [{ type: 'text', text }] : []), ...files];
    const message = { id: messageId, role: 'user', parts };
    return api('POST', `${config.base}/messages`, { agent: config.agent, message });
  }
  const body = { agent: config.agent, message: text, message_id: messageId };
  return api('POST', `${config.base}/messages`, body);
}

/** Where the page fetches a file part's bytes: the gateway's route, with the page's token. */
export function fileSrc(part) {
  const url = part.url || '';
  if (!config.token || !url.startsWith('/')) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(config.token)}`;
}

/** The agent's public description: inputs, triggers (name, description, input_schema),
 * resources (name, description, default); a 404 when no worker registered it. */
export function getAgent(agent) {
  return api('GET', `/v1/agents/${encodeURIComponent(agent)}`);
}

/** The chat's resources, `{name: value}` (a 404 for a chat that never started). */
export function getResources() {
  return api('GET', `${config.base}/resources`);
}

/** Invoke one of the agent's triggers; answers with the acknowledgement, as a message does. */
export function sendTrigger(name, input, triggerId) {
  const body = { agent: config.agent, input, trigger_id: triggerId };
  return api('POST', `${config.base}/triggers/${encodeURIComponent(name)}`, body);
}

/** Steer the running turn (`injected: false` when it runs as the next turn instead). */
export function steerTurn(text, messageId) {
  const body = { agent: config.agent, message: text, message_id: messageId };
  return api('POST', `${config.base}/steer`, body);
}

/** Stop the running answer; `turn` is null when none ran. */
export function stopTurn() {
  return api('POST', `${config.base}/stop`, {});
}

/** A page of the caller's chats, newest activity first (`next_cursor` fetches the next). */
export function listChats({ query = '', cursor = null, limit = 30 } = {}) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (query) params.set('query', query);
  if (cursor) params.set('cursor', cursor);
  return api('GET', `/v1/chats?${params}`);
}

/** Rename a chat; answers with its record. */
export function renameChat(chatId, title) {
  return api('PATCH', `/v1/chats/${encodeURIComponent(chatId)}`, { title });
}

/** Delete a chat everywhere; answers once it is gone. */
export function deleteChat(chatId) {
  return api('DELETE', `/v1/chats/${encodeURIComponent(chatId)}`);
}

/** The URL of the chat's event stream, after a cursor (EventSource cannot send headers). */
export function eventsUrl(after) {
  const query = new URLSearchParams();
  if (after) query.set('after', after);
  if (config.token) query.set('token', config.token);
  const q = query.toString();
  return q ? `${config.base}/events?${q}` : `${config.base}/events`;
}
