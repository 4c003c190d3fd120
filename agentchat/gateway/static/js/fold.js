// Folding AI SDK UI-message-stream chunks into the assistant UIMessage.
//
// The JavaScript twin of agentchat's MessageBuilder (agentchat/protocol/messages.py), which
// is the reference: both are checked against tests/protocol/fold_corpus.json (here by
// tests/gateway/js/fold.test.mjs). No DOM, no I/O: Node imports this module as it is.
//
// Parts are tagged with the producer (the activity) that wrote them, so that when a retried
// attempt supersedes a producer, reset(producer) removes exactly that producer's parts.

/** Python's truth value of a JSON value (the reference tests `wire.get(...)` with it). */
function truthy(value) {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

/** `dict.get(key, fallback)`: the value when the key is there, even a null one. */
function get(obj, key, fallback = null) {
  return Object.hasOwn(obj, key) ? obj[key] : fallback;
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Whether a part is a tool call (`tool-<name>` or `dynamic-tool`). */
export function isToolPart(part) {
  const type = String(part?.type || '');
  return type === 'dynamic-tool' || type.startsWith('tool-');
}

/** The part a tool call's first chunk opens (`input-streaming`, no input yet). */
export function newToolPart(chunk) {
  const dynamic = truthy(chunk.dynamic);
  const name = get(chunk, 'toolName', '');
  const part = {
    type: dynamic ? 'dynamic-tool' : `tool-${name}`,
    toolCallId: get(chunk, 'toolCallId', ''),
    state: 'input-streaming',
    input: null,
  };
  if (dynamic) part.toolName = name;
  return part;
}

/**
 * Apply one `tool-*` chunk to its tool part: the AI SDK's tool-part state machine.
 *
 * input-streaming -> input-available | output-error (bad input) -> approval-requested ->
 * output-available (`preliminary` while a tool reports progress) | output-error |
 * output-denied.
 */
export function foldToolChunk(part, chunk) {
  switch (chunk.type) {
    // tool-input-delta changes no part: the input is whole at tool-input-available.
    case 'tool-input-start':
      keepCallMetadata(part, chunk);
      break;
    case 'tool-input-available':
      part.input = get(chunk, 'input');
      part.state = 'input-available';
      keepCallMetadata(part, chunk);
      break;
    case 'tool-input-error':
      part.input = get(chunk, 'input');
      part.state = 'output-error';
      part.errorText = get(chunk, 'errorText', '');
      keepCallMetadata(part, chunk);
      break;
    case 'tool-output-available':
      part.output = get(chunk, 'output');
      part.state = 'output-available';
      if (truthy(chunk.preliminary)) part.preliminary = true;
      else delete part.preliminary;
      break;
    case 'tool-output-error':
      part.state = 'output-error';
      part.errorText = get(chunk, 'errorText', '');
      break;
    case 'tool-approval-request':
      part.state = 'approval-requested';
      part.approval = { id: get(chunk, 'approvalId') };
      break;
    case 'tool-output-denied':
      part.state = 'output-denied';
      break;
    default:
      break;
  }
}

/**
 * A call's opening chunk's `providerMetadata` goes on its part as `callProviderMetadata`, as
 * the AI SDK keeps it: agentchat's display marker (`{agentchat: {display, description}}`).
 */
function keepCallMetadata(part, chunk) {
  const metadata = get(chunk, 'providerMetadata');
  if (metadata !== null && metadata !== undefined) part.callProviderMetadata = metadata;
}

/**
 * A start or end chunk's `providerMetadata` goes on its part, as the AI SDK keeps it (e.g. the
 * signature of Anthropic's thinking, which the next model step sends back).
 */
function keepProviderMetadata(part, chunk) {
  const metadata = get(chunk, 'providerMetadata');
  if (metadata !== null && metadata !== undefined) part.providerMetadata = metadata;
}

/** A turn's assistant message, folded chunk by chunk as the AI SDK client folds it. */
export class MessageFold {
  constructor(messageId = '') {
    this.messageId = messageId;
    this.metadata = null;
    this.finishReason = null;
    this.errorText = null;
    /** @type {{producer: string, part: object}[]} */
    this._entries = [];
    /** "<text|reasoning>:<id>" -> the part being streamed */
    this._open = new Map();
    /** tool part -> its input as streamed so far (shown until the input is whole) */
    this._inputText = new WeakMap();
  }

  /** A fold holding finished parts, as a transcript gives them (copied). */
  static of(messageId, parts = []) {
    const fold = new MessageFold(messageId);
    for (const part of parts || []) fold.addPart(structuredClone(part));
    return fold;
  }

  /** Apply one chunk (its wire object) written by `producer`. */
  apply(chunk, producer = '') {
    if (!isPlainObject(chunk)) return;
    const kind = String(chunk.type ?? '');
    if (kind === 'text-delta' || kind === 'reasoning-delta') {
      const type = kind.slice(0, -6);
      const part = this._open.get(`${type}:${chunk.id}`) || this._openText(type, chunk.id, producer);
      part.text += chunk.delta ?? '';
    } else if (kind === 'text-start' || kind === 'reasoning-start') {
      keepProviderMetadata(this._openText(kind.slice(0, -6), chunk.id, producer), chunk);
    } else if (kind === 'text-end' || kind === 'reasoning-end') {
      const key = `${kind.slice(0, -4)}:${chunk.id}`;
      const part = this._open.get(key);
      if (part) {
        part.state = 'done';
        keepProviderMetadata(part, chunk);
      }
      this._open.delete(key);
    } else if (kind === 'start') {
      this.messageId = truthy(chunk.messageId) ? chunk.messageId : this.messageId;
      this._mergeMetadata(chunk.messageMetadata);
    } else if (kind === 'start-step') {
      this.addPart({ type: 'step-start' }, producer);
    } else if (kind.startsWith('tool-')) {
      this._applyTool(chunk, producer);
    } else if (kind.startsWith('data-')) {
      this._applyData(kind, chunk, producer);
    } else if (kind === 'finish') {
      if (truthy(chunk.finishReason)) this.finishReason = chunk.finishReason;
      else if (!truthy(this.finishReason)) this.finishReason = 'stop';
      this._mergeMetadata(chunk.messageMetadata);
      this.close();
    } else if (kind === 'message-metadata') {
      this._mergeMetadata(chunk.messageMetadata);
    } else if (kind === 'error') {
      this.errorText = get(chunk, 'errorText', 'error');
      this.finishReason = 'error';
    } else if (kind === 'abort') {
      this.close();
    } else if (kind === 'reset-step') {
      this.reset(producer);
    }
    // Other chunk types (sources, files, step ends...) leave the message as it is.
  }

  /** Append a finished part directly. */
  addPart(part, producer = '') {
    this._entries.push({ producer, part });
    return part;
  }

  /** Remove every part written by `producer` (a superseded attempt). */
  reset(producer) {
    const dropped = new Set(this._entries.filter((e) => e.producer === producer).map((e) => e.part));
    this._entries = this._entries.filter((e) => e.producer !== producer);
    for (const [key, part] of this._open) if (dropped.has(part)) this._open.delete(key);
  }

  /** Mark the parts still streaming as done (the turn ended). */
  close() {
    for (const part of this._open.values()) part.state = 'done';
    this._open.clear();
  }

  /** The first part `predicate` accepts, live (the fold's own object), or null. */
  find(predicate) {
    const entry = this._entries.find((e) => predicate(e.part));
    return entry ? entry.part : null;
  }

  /**
   * The parts as they stand, live: the same objects from one call to the next while they
   * change, so a view can key what it draws on them. Read them; never change them.
   */
  liveParts() {
    return this._entries.map((e) => e.part);
  }

  /** A tool call's input as streamed so far, until its whole input arrives. */
  inputText(part) {
    return this._inputText.get(part) || '';
  }

  /** The concatenated text parts. */
  text() {
    return this._entries
      .filter((e) => e.part.type === 'text')
      .map((e) => e.part.text || '')
      .join('');
  }

  /** The parts as the UIMessage has them: copies, without the fold's private `_` fields. */
  parts() {
    return this._entries.map(({ part }) =>
      structuredClone(Object.fromEntries(Object.entries(part).filter(([k]) => !k.startsWith('_')))),
    );
  }

  /** The message as it stands: `{id, role: "assistant", parts, metadata}`, a copy. */
  message() {
    return {
      id: this.messageId,
      role: 'assistant',
      parts: this.parts(),
      metadata: structuredClone(this.metadata),
    };
  }

  _openText(type, id, producer) {
    const part = this.addPart({ type, text: '', state: 'streaming' }, producer);
    this._open.set(`${type}:${id}`, part);
    return part;
  }

  _mergeMetadata(metadata) {
    if (isPlainObject(metadata)) this.metadata = { ...(this.metadata || {}), ...metadata };
  }

  _applyData(kind, chunk, producer) {
    if (truthy(chunk.transient)) return;
    if (Object.hasOwn(chunk, 'id')) {
      const existing = this.find((p) => p.type === kind && p.id === chunk.id);
      if (existing) {
        existing.data = get(chunk, 'data');
        return;
      }
      this.addPart({ type: kind, data: get(chunk, 'data'), id: chunk.id }, producer);
    } else {
      this.addPart({ type: kind, data: get(chunk, 'data') }, producer);
    }
  }

  _applyTool(chunk, producer) {
    const callId = get(chunk, 'toolCallId', '');
    let part = this.find((p) => get(p, 'toolCallId') === callId);
    if (!part) {
      if (chunk.type !== 'tool-input-start' && !Object.hasOwn(chunk, 'toolName')) {
        return; // a chunk for a call this message never announced
      }
      part = this.addPart(newToolPart(chunk), producer);
    }
    if (chunk.type === 'tool-input-delta') {
      this._inputText.set(part, this.inputText(part) + (chunk.inputTextDelta ?? ''));
    }
    foldToolChunk(part, chunk);
  }
}

/** Fold a sequence of chunks (wire objects) into the assistant UIMessage. */
export function fold(chunks, messageId = '') {
  const message = new MessageFold(messageId);
  for (const chunk of chunks) message.apply(chunk);
  return message.message();
}
