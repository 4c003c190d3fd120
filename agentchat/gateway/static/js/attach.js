// Files for the next message: the attach button, drag and drop onto the page, and the tray of
// chips above the input. Each file is uploaded at once (POST /v1/chats/{id}/files), so the
// message carries only the file parts the gateway answers with, never the bytes.

import { ApiError, fileSrc } from './api.js';
import { config } from './config.js';
import { showError } from './render.js';

const $ = (selector) => document.querySelector(selector);
const tray = $('[data-testid="attachments"]');
const input = $('[data-testid="file-input"]');
const button = $('[data-testid="attach-button"]');

/** Uploads under way or done, in the order the files were added. */
let pending = [];

/** Wire the attach button, the file input and drag and drop. */
export function installAttach() {
  button.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = '';
  });
  const app = $('.app');
  app.addEventListener('dragover', (event) => {
    if (![...(event.dataTransfer?.types || [])].includes('Files')) return;
    event.preventDefault();
    app.classList.add('dropping');
  });
  app.addEventListener('dragleave', (event) => {
    if (event.target === app || !app.contains(event.relatedTarget)) app.classList.remove('dropping');
  });
  app.addEventListener('drop', (event) => {
    if (!event.dataTransfer?.files?.length) return;
    event.preventDefault();
    app.classList.remove('dropping');
    addFiles(event.dataTransfer.files);
  });
}

/** Upload each file and show it in the tray. */
export function addFiles(files) {
  for (const file of files) {
    const item = { file, part: null, chip: chip(file) };
    item.upload = uploadFile(file).then(
      (part) => {
        item.part = part;
        item.chip.classList.remove('uploading');
        return part;
      },
      (err) => {
        drop(item);
        showError(err);
        return null;
      },
    );
    pending.push(item);
    tray.append(item.chip);
  }
  tray.hidden = pending.length === 0;
}

/** The file parts for a message (waiting for uploads under way); the tray is emptied. */
export async function takeAttachments() {
  const items = pending;
  pending = [];
  const parts = (await Promise.all(items.map((i) => i.upload))).filter(Boolean);
  for (const item of items) item.chip.remove();
  tray.hidden = true;
  return parts;
}

/** Whether files wait to be sent. */
export function hasAttachments() {
  return pending.length > 0;
}

/** Put the parts of a refused message back in the tray. */
export function restoreAttachments(parts) {
  for (const part of parts) {
    const item = { part, upload: Promise.resolve(part), chip: chip(null, part) };
    item.chip.classList.remove('uploading');
    pending.push(item);
    tray.append(item.chip);
  }
  tray.hidden = pending.length === 0;
}

function drop(item) {
  pending = pending.filter((i) => i !== item);
  item.chip.remove();
  tray.hidden = pending.length === 0;
}

function chip(file, part = null) {
  const name = file ? file.name : part.filename || 'file';
  const type = file ? file.type : part.mediaType;
  const el = document.createElement('span');
  el.className = 'attachment uploading';
  el.dataset.testid = 'attachment';
  el.title = name;
  if (type && type.startsWith('image/')) {
    const img = document.createElement('img');
    img.alt = '';
    img.src = file ? URL.createObjectURL(file) : fileSrc(part);
    el.append(img);
  }
  const label = document.createElement('span');
  label.className = 'attachment-name';
  label.textContent = name;
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'attachment-remove';
  remove.setAttribute('aria-label', `Remove ${name}`);
  remove.textContent = '×';
  remove.addEventListener('click', () => {
    const item = pending.find((i) => i.chip === el);
    if (item) drop(item);
  });
  el.append(label, remove);
  return el;
}

/** Upload one file to the chat; its file part. */
export async function uploadFile(file) {
  const form = new FormData();
  form.append('file', file, file.name);
  const headers = { Accept: 'application/json' };
  if (config.token) headers.Authorization = `Bearer ${config.token}`;
  const query = new URLSearchParams({ agent: config.agent });
  let response;
  try {
    response = await fetch(`${config.base}/files?${query}`, {
      method: 'POST',
      headers,
      body: form,
      credentials: 'same-origin',
    });
  } catch (err) {
    throw new ApiError('NetworkError', `Could not upload ${file.name} (${err.message}).`, 0);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const e = data && data.error;
    throw new ApiError((e && e.type) || `HTTP ${response.status}`,
      (e && e.message) || `Could not upload ${file.name}.`, response.status);
  }
  return data;
}
