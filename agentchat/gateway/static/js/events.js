// Following the chat: the transcript first, then one EventSource on /v1/chats/{id}/events
// that carries every turn live, resumed from the newest event id it delivered.
//
// The browser reconnects a dropped stream itself, sending Last-Event-ID. A stream that
// closes for good (nothing to follow, or an error answer) sends the page back to the
// transcript, and from its cursor to a new stream, with a growing delay.

import { eventsUrl, getChat } from './api.js';
import { renderChrome, setConnection, showError } from './render.js';
import { state } from './state.js';
import { applyTranscript, chatClosed, chatRunning, forgetRunningTurns, handleEnvelope } from './thread.js';

let source = null;
let lastEventId = null; // newest cursor seen on the current EventSource
let retryDelay = 1000;
let reopenTimer = null;
let quietCloses = 0; // streams in a row that closed without delivering anything
let resyncing = false;

/** Draw the transcript, then follow the chat's events from its cursor. */
export async function load() {
  setConnection('connecting');
  let chat = null;
  try {
    chat = await getChat();
  } catch (err) {
    if (err.status !== 404) showError(err);
  }
  if (chat) applyTranscript(chat);
  renderChrome();
  openEvents();
}

/** This page sent a message: follow its turn (from `after`) unless a stream already does. */
export function followSent(after) {
  state.chatKnown = true;
  quietCloses = 0;
  if (!source) openEvents(after || lastEventId || state.resumeAfter || '0-0');
}

/** For debugging: the newest event id and the EventSource's readyState (-1: none). */
export function streamInfo() {
  return { lastEventId, readyState: source ? source.readyState : -1 };
}

/** Whether event id `a` comes before (-1), is (0) or comes after (1) `b`. */
export function compareIds(a, b) {
  const [am, as] = a.split('-').map((x) => BigInt(x || 0));
  const [bm, bs] = b.split('-').map((x) => BigInt(x || 0));
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

function openEvents(after = state.resumeAfter) {
  clearTimeout(reopenTimer);
  reopenTimer = null;
  if (source) source.close();
  lastEventId = null;
  setConnection('connecting');
  const es = new EventSource(eventsUrl(after));
  source = es;
  es.onopen = () => {
    if (source !== es) return;
    retryDelay = 1000;
    setConnection('open');
  };
  es.onmessage = (event) => {
    if (source !== es) return;
    quietCloses = 0;
    if (event.lastEventId) {
      if (lastEventId && compareIds(event.lastEventId, lastEventId) <= 0) return; // seen
      lastEventId = event.lastEventId;
    }
    let envelope;
    try {
      envelope = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!envelope || typeof envelope !== 'object') return;
    state.chatKnown = true;
    if (envelope.k === 'resync') {
      // The stream no longer holds what we missed: redraw from the transcript.
      if (source) source.close();
      source = null;
      resync();
    } else {
      handleEnvelope(envelope);
    }
  };
  es.onerror = () => {
    if (source !== es) return;
    if (es.readyState === EventSource.CONNECTING) {
      setConnection('connecting'); // the browser retries with Last-Event-ID itself
      return;
    }
    // Closed for good: 204 (nothing to follow), or an HTTP error such as 410 or 503.
    es.close();
    source = null;
    resync();
  };
}

/** After the stream closed: redraw from the transcript and follow on from its cursor. */
async function resync() {
  if (resyncing) return;
  resyncing = true;
  try {
    let chat = null;
    try {
      chat = await getChat();
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        showError(err); // retrying cannot help: the credentials are wrong
        setConnection('closed');
        return;
      }
      if (err.status !== 404) {
        setConnection('offline');
        scheduleReopen();
        return;
      }
    }
    if (chat) {
      applyTranscript(chat);
      renderChrome();
    }
    if (chat && chatClosed(chat)) {
      setConnection('closed');
      forgetRunningTurns();
      return;
    }
    if (!chat || !state.chatKnown) {
      // Nothing to follow yet; the first message reopens the stream.
      setConnection(state.awaitingTurn ? 'connecting' : 'idle');
      if (state.awaitingTurn) scheduleReopen('0-0');
      return;
    }
    if (!chatRunning(chat)) {
      forgetRunningTurns();
      // An idle chat whose stream keeps closing at once (its run ended): wait for a message.
      quietCloses += 1;
      if (quietCloses >= 3) {
        setConnection('idle');
        return;
      }
    }
    scheduleReopen();
  } finally {
    resyncing = false;
  }
}

function scheduleReopen(after) {
  clearTimeout(reopenTimer);
  const delay = retryDelay;
  retryDelay = Math.min(retryDelay * 2, 10000);
  reopenTimer = setTimeout(() => openEvents(after ?? state.resumeAfter), delay);
}
