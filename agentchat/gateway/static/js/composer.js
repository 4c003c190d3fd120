// The composer: send while the chat is idle; while it answers, steer it or stop it.

import { sendMessage, steerTurn, stopTurn } from './api.js';
import { hasAttachments, restoreAttachments, takeAttachments } from './attach.js';
import { config, newChatId } from './config.js';
import { followSent } from './events.js';
import { els, flush, hideError, scrollToBottom, showError, updateComposer } from './render.js';
import { awaitTurn, messages, state, steers, turnActive } from './state.js';
import { addSentMessage, removeMessage } from './thread.js';

/** Wire the input box, its buttons and the "New chat" link. */
export function installComposer() {
  els.input.addEventListener('input', autosize);
  els.input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      els.form.requestSubmit();
    }
  });

  els.form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = els.input.value.trim();
    const active = turnActive();
    // Files go with a message, never with a steer: they wait in the tray for the next one.
    const files = !active && hasAttachments();
    if (!text && !files) return;
    els.input.value = '';
    autosize();
    if (active) steer(text);
    else send(text, files);
  });

  els.stop.addEventListener('click', stop);

  els.newChat.addEventListener('click', (event) => {
    event.preventDefault();
    const next = new URLSearchParams(config.params);
    next.set('chat', newChatId());
    location.search = `?${next}`;
  });
}

function autosize() {
  els.input.style.height = 'auto';
  els.input.style.height = `${Math.min(els.input.scrollHeight, 220)}px`;
}

/** Put a refused message back in the input box (unless the user typed something since). */
function giveBack(text) {
  els.input.value = els.input.value || text;
  autosize();
}

async function send(text, withFiles = false) {
  hideError();
  const id = `msg-${newChatId()}`;
  awaitTurn();
  updateComposer();
  const files = withFiles ? await takeAttachments() : [];
  addSentMessage(id, text, false, files);
  scrollToBottom();
  try {
    const ack = await sendMessage(text, id, files);
    followSent(ack && ack.after);
    window.dispatchEvent(new CustomEvent('agentchat:activity')); // a new chat is listed now
  } catch (err) {
    showError(err);
    removeMessage(id);
    state.awaitingTurn = false;
    giveBack(text);
    restoreAttachments(files);
    updateComposer();
    flush();
  }
}

async function steer(text) {
  hideError();
  const id = `msg-${newChatId()}`;
  steers.set(id, { text, injected: false });
  try {
    const ack = await steerTurn(text, id);
    if (ack && ack.injected === false && !messages.has(id)) {
      // No step left to take it: it runs as the next turn. Show it as a queued message.
      addSentMessage(id, text, true);
      awaitTurn();
      updateComposer();
    }
  } catch (err) {
    steers.delete(id);
    showError(err);
    giveBack(text);
  }
}

async function stop() {
  hideError();
  state.stopping = true;
  updateComposer();
  try {
    const answer = await stopTurn();
    if (!answer || answer.turn == null) {
      // Nothing was running (the turn had not started or already ended).
      state.awaitingTurn = false;
      state.stopping = false;
    }
  } catch (err) {
    state.stopping = false;
    showError(err);
  }
  updateComposer();
}
