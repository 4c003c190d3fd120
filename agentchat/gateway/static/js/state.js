// What the page knows about the conversation: its messages and turns, and what it waits for.

import { MessageFold } from './fold.js';

/** One message on the page: its parts (folded by fold.js) and how it shows. */
export class Msg {
  constructor(id, role) {
    this.id = id;
    this.role = role;
    this.fold = new MessageFold(id);
    this.status = role === 'assistant' ? 'streaming' : 'completed';
    this.error = null;
    this.pending = false;
    this.steer = false;
    this.attempts = new Map(); // producer -> newest attempt
    this.el = null;
  }

  /** Replace the parts with finished ones (a transcript's, a settled turn's, or none). */
  setParts(parts) {
    this.fold = MessageFold.of(this.id, parts);
    this.attempts.clear();
  }

  /** The parts as they stand (live objects: the view keys its nodes on them). */
  get parts() {
    return this.fold.liveParts();
  }

  text() {
    return this.fold.text();
  }
}

/** @type {Map<string, Msg>} every message on the page, by id */
export const messages = new Map();
/** turn number -> assistant message id */
export const turnMessages = new Map();
/** turns that started and have not ended */
export const runningTurns = new Set();
/** steers this page sent, by message id: {text, injected, state} */
export const steers = new Map();
/** the ids of the triggers this page sent: their turns have no user message */
export const triggerIds = new Set();
/** the chat's resources as the page knows them: name -> value */
export const resources = new Map();

export const state = {
  awaitingTurn: false, // a message was sent and its turn has not started yet
  awaitingSince: 0,
  stopping: false,
  chatKnown: false, // the chat exists: there is a stream to follow
  resumeAfter: null, // the transcript's cursor
};

/** A message was sent: its turn is about to start. */
export function awaitTurn() {
  state.awaitingTurn = true;
  state.awaitingSince = Date.now();
}

/** Whether an answer is running or about to (then the composer steers). */
export function turnActive() {
  if (state.awaitingTurn && Date.now() - state.awaitingSince > 60000) state.awaitingTurn = false;
  return runningTurns.size > 0 || state.awaitingTurn;
}
