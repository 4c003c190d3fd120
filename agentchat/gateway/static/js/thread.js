// The conversation, updated from the transcript and from the stream's envelopes.
//
// Assistant messages are keyed by their turn's messageId; their chunks go through fold.js,
// with each part tagged by its producer so that a retried attempt replaces its own output.
// gaps.js checks each turn's records for losses (Redis restarted without some of them): a
// turn that ends with a loss is shown as the transcript has it.

import { getChat } from './api.js';
import { config } from './config.js';
import { TurnGaps } from './gaps.js';
import {
  appendMessage,
  els,
  ensureElement,
  markDirty,
  showError,
  updateComposer,
} from './render.js';
import { applyResource, loadProtocol } from './protocol.js';
import { Msg, messages, runningTurns, state, steers, triggerIds, turnMessages } from './state.js';

/** A message the agent's handler added hidden (`metadata.hidden`): never shown. */
function isHidden(raw) {
  return Boolean(raw && raw.metadata && raw.metadata.hidden === true);
}

// -- the transcript ----------------------------------------------------------------------------

/** Whether the chat (GET /v1/chats/{id}) has a turn running. */
export function chatRunning(chat) {
  const status = chat.status;
  if (status && typeof status === 'object') return status.active_turn != null;
  return ['running', 'active', 'busy', 'streaming'].includes(String(status || '').toLowerCase());
}

/** Whether the chat is closed for good. */
export function chatClosed(chat) {
  return chat.status === 'closed' || chat.status?.closed === true;
}

/** Redraw the conversation as the transcript has it (keeping messages not yet in it). */
export function applyTranscript(chat) {
  const list = Array.isArray(chat.messages) ? chat.messages : [];
  state.chatKnown = list.length > 0 || Boolean(chat.agent) || chatRunning(chat);
  if (!config.urlAgent && chat.agent) config.agent = chat.agent;
  loadProtocol(); // the agent's triggers and the chat's resources (once per agent)
  state.resumeAfter = chat.resume_after || chat.resumeAfter || null;
  const running = chatRunning(chat);
  const order = [];
  let lastAssistant = null;
  for (const raw of list) {
    if (!raw || !raw.id || (raw.role !== 'user' && raw.role !== 'assistant')) continue;
    if (isHidden(raw)) continue;
    let msg = messages.get(raw.id);
    if (!msg) {
      msg = new Msg(raw.id, raw.role);
      messages.set(raw.id, msg);
    }
    msg.setParts(raw.parts);
    msg.pending = false;
    if (raw.role === 'assistant') {
      const meta = raw.metadata || {};
      msg.status = meta.status === 'stopped' || meta.status === 'failed' ? meta.status : 'completed';
      msg.error = meta.error || null;
      lastAssistant = msg;
    }
    order.push(msg);
  }
  if (running && lastAssistant && lastAssistant === order[order.length - 1]) {
    lastAssistant.status = 'streaming'; // the active turn: the stream will complete it
  }
  // Messages this page sent that the transcript does not have yet (queued) stay, after it.
  const inTranscript = new Set(order.map((m) => m.id));
  for (const msg of messages.values()) {
    if (!inTranscript.has(msg.id) && msg.role === 'user' && msg.pending) order.push(msg);
  }
  for (const [id, msg] of [...messages]) {
    if (!order.includes(msg)) {
      msg.el?.remove();
      messages.delete(id);
    }
  }
  for (const msg of order) {
    appendMessage(msg); // (re)order as the transcript says
    markDirty(msg);
  }
}

// -- messages this page sends ------------------------------------------------------------------

/** Show a message this page sent, pending until its turn starts. */
export function addSentMessage(id, text, steer = false, files = []) {
  const msg = new Msg(id, 'user');
  msg.setParts([...(text ? [{ type: 'text', text }] : []), ...files]);
  msg.pending = true;
  msg.steer = steer;
  messages.set(id, msg);
  appendMessage(msg);
  markDirty(msg);
  return msg;
}

/** Take a message off the page (the gateway refused it). */
export function removeMessage(id) {
  messages.get(id)?.el?.remove();
  messages.delete(id);
}

// -- the stream's envelopes --------------------------------------------------------------------

/** turn -> what this page read of it, to tell a whole turn from one the stream lost records of */
const turnGaps = new Map();

/** Apply one envelope of the chat's stream (`resync` is the stream's own business). */
export function handleEnvelope(env) {
  const gaps = noteGaps(env);
  switch (env.k) {
    case 'turn-start':
      onTurnStart(env);
      break;
    case 'chunk':
      onChunk(env);
      break;
    case 'attempt-start':
      onAttemptStart(env);
      break;
    case 'input':
      onInput(env);
      break;
    case 'turn-end':
      onTurnEnd(env.turn, env.status || 'completed', env.error || env.errorText);
      turnGaps.delete(env.turn);
      if (gaps && gaps.lost !== null) settleFromTranscript(env.turn, gaps.lost);
      break;
    case 'settled':
      turnGaps.delete(env.turn);
      onSettled(env);
      break;
    default:
      break; // accepted, and kinds this page does not know
  }
}

/** Note the record in its turn's gaps.js tracker (a turn's start begins a fresh one). */
function noteGaps(env) {
  if (typeof env.turn !== 'number') return null;
  let gaps = turnGaps.get(env.turn);
  if (!gaps || env.k === 'turn-start') {
    // At a turn's start (or a replay of it, which redraws the message) the page reads it whole.
    gaps = new TurnGaps();
    turnGaps.set(env.turn, gaps);
  }
  gaps.note(env);
  return gaps;
}

function onTurnStart(env) {
  // Turns run one after another: one still running here lost its end record with the stream.
  for (const earlier of [...runningTurns]) {
    if (typeof earlier === 'number' && earlier < env.turn) {
      onTurnEnd(earlier, 'completed'); // until the transcript says how it ended
      turnGaps.delete(earlier);
      settleFromTranscript(earlier, null);
    }
  }
  const id = env.messageId || `turn-${env.turn}`;
  let msg = messages.get(id);
  if (!msg) {
    msg = new Msg(id, 'assistant');
    messages.set(id, msg);
  }
  msg.setParts([]); // a replay of an existing message replaces it
  msg.status = 'streaming';
  msg.error = null;
  turnMessages.set(env.turn, id);
  runningTurns.add(env.turn);
  state.awaitingTurn = false;
  const user = env.userMessageId ? ensureUserMessage(env.userMessageId, env.trigger) : null;
  ensureElement(msg);
  const anchor = user ? user.el : null;
  if (anchor && anchor.nextSibling !== msg.el) anchor.after(msg.el);
  else if (!anchor && !msg.el.isConnected) els.list.appendChild(msg.el);
  markDirty(msg);
  updateComposer();
}

function ensureUserMessage(id, trigger) {
  if (triggerIds.has(id)) return null; // a trigger this page sent: its turn has no message
  let user = messages.get(id);
  if (user) {
    if (user.pending) {
      user.pending = false;
      markDirty(user);
    }
    return user;
  }
  // A message this page did not show: a steer that became its own turn, or another client's.
  user = new Msg(id, 'user');
  const local = steers.get(id);
  if (local) {
    user.setParts([{ type: 'text', text: local.text }]);
    user.steer = true;
  } else {
    user.steer = trigger === 'steer';
    fetchMissingText(user);
  }
  messages.set(id, user);
  appendMessage(user);
  markDirty(user);
  return user;
}

async function fetchMissingText(user) {
  try {
    const chat = await getChat();
    const found = (chat?.messages || []).find((m) => m.id === user.id);
    if (found && isHidden(found)) {
      removeMessage(user.id);
    } else if (found && !user.parts.length) {
      user.setParts(found.parts);
      markDirty(user);
    } else if (!found && chat && !user.parts.length) {
      removeMessage(user.id); // a trigger's carrier (another client's): not a message
    }
  } catch {
    // the next transcript load shows it
  }
}

function messageForTurn(turn, chunk) {
  let id = turnMessages.get(turn);
  if (!id && chunk && chunk.type === 'start' && chunk.messageId) id = chunk.messageId;
  if (!id) {
    // Joined mid-turn without its start: continue the transcript's newest assistant message.
    const last = [...els.list.children].reverse().find((el) => el.dataset.role === 'assistant');
    id = last ? last.dataset.messageId : `turn-${turn}`;
  }
  turnMessages.set(turn, id);
  let msg = messages.get(id);
  if (!msg) {
    msg = new Msg(id, 'assistant');
    messages.set(id, msg);
    appendMessage(msg);
  }
  if (!runningTurns.has(turn) && msg.status === 'streaming') runningTurns.add(turn);
  return msg;
}

function onChunk(env) {
  const chunk = env.c;
  if (!chunk || typeof chunk !== 'object') return;
  const msg = messageForTurn(env.turn, chunk);
  const producer = String(env.p || '');
  const attempt = Number(env.a || 1);
  if (attempt < (msg.attempts.get(producer) || 0)) return; // a superseded attempt's write
  msg.attempts.set(producer, attempt);
  if (chunk.type === 'data-resource') applyResource(chunk.data);
  if (chunk.type === 'data-message') addedMessage(env.turn, msg, chunk);
  msg.fold.apply(chunk, producer);
  if (chunk.type === 'error') msg.error = msg.fold.errorText || 'error';
  markDirty(msg);
}

/** A message a trigger's block added, shown (`data-message`: `{role, text}`, the message's
 * id): before the turn's answer. */
function addedMessage(turn, answer, chunk) {
  const data = chunk.data || {};
  if (data.role !== 'user' && data.role !== 'assistant') return;
  if (data.thread) return; // a named thread's message: not the conversation's
  // Its id is the transcript's message's: a reload shows the same message.
  const id = chunk.id || `added-${turn}-${digest(`${data.role}:${data.text}`)}`;
  if (messages.has(id)) return;
  const msg = new Msg(id, data.role);
  msg.status = 'completed';
  msg.setParts([{ type: 'text', text: String(data.text || '') }]);
  messages.set(id, msg);
  ensureElement(msg);
  ensureElement(answer);
  if (answer.el.isConnected) answer.el.before(msg.el);
  else els.list.appendChild(msg.el);
  markDirty(msg);
}

/** A short digest of a string (a stable id for what a replay shows again). */
function digest(text) {
  let h = 5381;
  for (let i = 0; i < text.length; i += 1) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
  return h.toString(36);
}

function onAttemptStart(env) {
  const id = turnMessages.get(env.turn);
  const msg = id && messages.get(id);
  if (!msg) return;
  const producer = String(env.p || '');
  msg.attempts.set(producer, Number(env.a || 1));
  msg.fold.reset(producer); // the retried step writes its parts again
  markDirty(msg);
}

function onInput(env) {
  if (env.kind !== 'steer') return;
  const local = steers.get(env.messageId);
  if (local) {
    local.injected = true;
    local.state = env.state || 'injected';
  }
  const id = turnMessages.get(env.turn);
  const msg = id && messages.get(id);
  if (!msg) return;
  // The data-steer part that follows carries the text (fold.js replaces this one by id);
  // until then show what we know.
  if (!msg.fold.find((p) => p.type === 'data-steer' && p.id === env.messageId)) {
    const part = { type: 'data-steer', id: env.messageId, data: { text: local?.text || '' } };
    msg.fold.addPart(part, String(env.p || ''));
  }
  markDirty(msg);
}

function onTurnEnd(turn, status, error) {
  runningTurns.delete(turn);
  const id = turnMessages.get(turn);
  const msg = id && messages.get(id);
  if (msg) {
    msg.status = ['completed', 'stopped', 'failed'].includes(status) ? status : 'completed';
    if (error) msg.error = String(error);
    msg.fold.close();
    markDirty(msg);
  }
  if (!runningTurns.size) state.stopping = false;
  updateComposer();
  window.dispatchEvent(new CustomEvent('agentchat:activity')); // the sidebar's titles, order
}

function onSettled(env) {
  const message = env.message;
  if (message && message.id && isHidden(message)) {
    onTurnEnd(env.turn, (message.metadata || {}).status || 'completed');
  } else if (message && message.id) {
    let msg = messages.get(message.id);
    if (!msg) {
      msg = new Msg(message.id, 'assistant');
      messages.set(message.id, msg);
      appendMessage(msg);
    }
    msg.setParts(message.parts);
    turnMessages.set(env.turn, message.id);
    const meta = message.metadata || {};
    onTurnEnd(env.turn, meta.status || 'completed', meta.error);
  } else {
    onTurnEnd(env.turn, 'completed');
  }
}

const SETTLE_TRIES = 3;

/**
 * The stream lost records of `turn` (`lost` names a producer, null: its end): show the turn's
 * message as the transcript (GET /v1/chats/{id}) has it, in place of what was streamed. The
 * workflow writes the turn's end after its message is whole, so the transcript has all of it.
 */
async function settleFromTranscript(turn, lost) {
  const id = turnMessages.get(turn);
  const what = lost === null ? 'its end' : `records of ${lost}`;
  console.warn(`turn ${turn}: the stream lost ${what}; showing the transcript's message`);
  for (let tries = 1; ; tries += 1) {
    let chat;
    try {
      chat = await getChat();
    } catch (err) {
      if (tries >= SETTLE_TRIES || err.status === 401 || err.status === 403 || err.status === 404) {
        showError({
          type: 'StreamError',
          message: `The stream lost part of turn ${turn} and the transcript could not be read`
            + ` (${err.message}); reload the page to see the whole answer.`,
        });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** (tries - 1)));
      continue;
    }
    // The turn streams again (a replay from its start) or another message took it: leave it.
    if (runningTurns.has(turn) || turnMessages.get(turn) !== id) return;
    const list = Array.isArray(chat?.messages) ? chat.messages : [];
    const found = list.find((m) => m?.id === id && m.role === 'assistant');
    const msg = id && messages.get(id);
    if (found && msg) {
      msg.setParts(found.parts);
      const meta = found.metadata || {};
      msg.status = meta.status === 'stopped' || meta.status === 'failed' ? meta.status : 'completed';
      msg.error = meta.error || null;
      markDirty(msg);
    } else if (chat && !runningTurns.size) {
      // The page's message is not the transcript's (the turn's start was lost too): redraw
      // the conversation as the transcript has it, which disturbs no streaming answer now.
      applyTranscript(chat);
    }
    return;
  }
}

/** A turn ended while this page could not hear it: forget what it waited for. */
export function forgetRunningTurns() {
  runningTurns.clear();
  turnGaps.clear();
  state.awaitingTurn = false;
  updateComposer();
}
