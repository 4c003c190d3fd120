// The agent's protocol on the page: a button per trigger (GET /v1/agents/{agent}), a small form
// for a trigger's input (a field per property of its JSON schema, required ones enforced), and
// the chat's resources (GET /v1/chats/{id}/resources, then each `data-resource` chunk).

import { getAgent, getResources, sendTrigger } from './api.js';
import { config, newChatId } from './config.js';
import { followSent } from './events.js';
import { els, hideError, renderResources, showError, updateComposer } from './render.js';
import { awaitTurn, resources, state, triggerIds } from './state.js';

let agentLoaded = null; // the agent whose description is drawn
let open = null; // the trigger whose form is open

/** Draw the agent's trigger buttons and the chat's resources (again after the agent changed). */
export async function loadProtocol() {
  if (agentLoaded === config.agent) return;
  agentLoaded = config.agent;
  let agent = null;
  try {
    agent = await getAgent(config.agent);
  } catch (err) {
    if (err.status !== 404) console.warn(`the agent's description: ${err.message}`);
  }
  renderTriggers(agent ? agent.triggers || [] : []);
  const defaults = new Map((agent?.resources || []).map((r) => [r.name, r.default]));
  for (const [name, value] of defaults) if (!resources.has(name)) resources.set(name, value);
  await loadResources();
}

/** The chat's resources as the gateway has them (a new chat: the agent's defaults). */
export async function loadResources() {
  try {
    const answer = await getResources();
    for (const [name, value] of Object.entries(answer?.resources || {})) resources.set(name, value);
  } catch (err) {
    if (err.status !== 404) console.warn(`the chat's resources: ${err.message}`);
  }
  renderResources();
}

/** A `data-resource` chunk: `{name, value}`. */
export function applyResource(data) {
  if (!data || typeof data.name !== 'string') return;
  resources.set(data.name, data.value);
  renderResources();
}

function renderTriggers(triggers) {
  els.triggers.replaceChildren();
  for (const trigger of triggers) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'btn trigger-button';
    button.setAttribute('data-testid', 'trigger-button');
    button.dataset.trigger = trigger.name;
    button.textContent = trigger.name;
    button.title = trigger.description || trigger.name;
    button.addEventListener('click', () => clicked(trigger));
    els.triggers.append(button);
  }
  els.triggers.hidden = triggers.length === 0;
}

function clicked(trigger) {
  const fields = properties(trigger.input_schema);
  if (!fields.length) {
    closeForm();
    fire(trigger.name, trigger.input_schema ? {} : null);
    return;
  }
  openForm(trigger, fields);
}

/** The schema's fields: [{name, title, type, required, enum, default, description}]. */
function properties(schema) {
  if (!schema || typeof schema !== 'object' || !schema.properties) return [];
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties).map(([name, prop]) => {
    const options = Array.isArray(prop.anyOf) ? prop.anyOf : [prop];
    const typed = options.find((o) => o && o.type && o.type !== 'null') || prop;
    return {
      name,
      title: prop.title || name,
      type: typed.type || 'string',
      enum: Array.isArray(typed.enum) ? typed.enum : null,
      required: required.has(name),
      default: prop.default,
      description: prop.description || '',
    };
  });
}

function openForm(trigger, fields) {
  open = { trigger, fields };
  const form = els.triggerForm;
  form.querySelector('.trigger-form-title').textContent = trigger.name;
  form.querySelector('.trigger-form-description').textContent = trigger.description || '';
  const box = form.querySelector('.trigger-fields');
  box.replaceChildren();
  for (const field of fields) box.append(fieldRow(field));
  form.querySelector('.trigger-form-error').textContent = '';
  form.hidden = false;
  box.querySelector('input, select, textarea')?.focus();
}

function fieldRow(field) {
  let input;
  if (field.enum) {
    input = document.createElement('select');
    if (!field.required) input.append(new Option('', ''));
    for (const value of field.enum) input.append(new Option(String(value), String(value)));
  } else if (field.type === 'boolean') {
    input = document.createElement('input');
    input.type = 'checkbox';
    input.checked = field.default === true;
  } else if (field.type === 'object' || field.type === 'array') {
    input = document.createElement('textarea');
    input.rows = 2;
    input.placeholder = field.type === 'array' ? '[…] (JSON)' : '{…} (JSON)';
  } else {
    input = document.createElement('input');
    input.type = field.type === 'integer' || field.type === 'number' ? 'number' : 'text';
    if (field.type === 'integer') input.step = '1';
    if (field.type === 'number') input.step = 'any';
  }
  if (field.type !== 'boolean') {
    input.required = field.required;
    if (field.default !== undefined && field.default !== null && input.type !== 'checkbox') {
      input.value = typeof field.default === 'object' ? JSON.stringify(field.default) : String(field.default);
    }
  }
  input.name = field.name;
  input.setAttribute('data-testid', 'trigger-field');
  input.dataset.field = field.name;
  const label = document.createElement('label');
  label.className = 'trigger-field';
  const caption = document.createElement('span');
  caption.className = 'trigger-field-label';
  caption.textContent = field.required ? `${field.title} *` : field.title;
  if (field.description) label.title = field.description;
  label.append(caption, input);
  return label;
}

/** The form's values as the schema types them; throws naming a field that does not fit. */
function formInput(fields) {
  const box = els.triggerForm.querySelector('.trigger-fields');
  const input = {};
  for (const field of fields) {
    const el = box.querySelector(`[data-field="${CSS.escape(field.name)}"]`);
    if (field.type === 'boolean' && !field.enum) {
      input[field.name] = el.checked;
      continue;
    }
    const raw = el.value.trim();
    if (!raw) {
      if (field.required) throw new Error(`${field.title} is required`);
      continue; // left out: the schema's default applies
    }
    if (field.type === 'integer' || field.type === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n) || (field.type === 'integer' && !Number.isInteger(n))) {
        throw new Error(`${field.title}: not ${field.type === 'integer' ? 'an integer' : 'a number'}`);
      }
      input[field.name] = n;
    } else if (field.type === 'object' || field.type === 'array') {
      try {
        input[field.name] = JSON.parse(raw);
      } catch {
        throw new Error(`${field.title}: not JSON`);
      }
    } else {
      input[field.name] = raw;
    }
  }
  return input;
}

function closeForm() {
  open = null;
  els.triggerForm.hidden = true;
}

async function fire(name, input) {
  hideError();
  const id = `trg-${newChatId()}`;
  triggerIds.add(id);
  awaitTurn();
  updateComposer();
  try {
    const ack = await sendTrigger(name, input, id);
    followSent(ack && ack.after);
    window.dispatchEvent(new CustomEvent('agentchat:activity'));
  } catch (err) {
    triggerIds.delete(id);
    state.awaitingTurn = false;
    updateComposer();
    showError(err);
    return false;
  }
  return true;
}

/** Wire the trigger form (the buttons are drawn by `loadProtocol`). */
export function installProtocol() {
  const form = els.triggerForm;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!open) return;
    if (!form.reportValidity()) return; // required fields, numbers: the browser says which
    let input;
    try {
      input = formInput(open.fields);
    } catch (err) {
      form.querySelector('.trigger-form-error').textContent = err.message;
      return;
    }
    const { trigger } = open;
    closeForm();
    await fire(trigger.name, input);
  });
  form.querySelector('[data-testid="trigger-cancel"]').addEventListener('click', closeForm);
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeForm();
  });
}
