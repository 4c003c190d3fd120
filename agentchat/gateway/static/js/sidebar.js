// The sidebar: the caller's chats, newest activity first, with search, rename, delete and
// "New chat". It draws only itself (render.js draws the conversation).
//
// It shows when the credential may list chats: a user token (its user's chats) or an open
// gateway. A chat token may not (403): the page is then about its one chat, with no sidebar.
// Picking a chat opens it as a page of its own (?chat=), which loads its history.

import { deleteChat, listChats, renameChat } from './api.js';
import { config, newChatId } from './config.js';
import { showError } from './render.js';

const $ = (selector) => document.querySelector(selector);

const els = {
  root: $('[data-testid="sidebar"]'),
  list: $('[data-testid="chat-list"]'),
  search: $('[data-testid="chat-search"]'),
  more: $('[data-testid="chat-list-more"]'),
  empty: $('[data-testid="chat-list-empty"]'),
  newChat: $('[data-testid="sidebar-new-chat"]'),
};

let query = '';
let nextCursor = null;
let generation = 0; // answers to an older request (a previous search) are dropped
let searchTimer = null;
let refreshTimer = null;

/** The page's URL for `chatId` (null: a new chat), keeping the credential. */
export function chatHref(chatId) {
  const next = new URLSearchParams(config.params);
  next.set('chat', chatId || newChatId());
  if (chatId) next.delete('agent'); // an existing chat names its own agent
  else next.set('agent', config.agent); // a new one talks to this chat's
  return `${location.pathname}?${next}`;
}

/** Wire the sidebar and load the first page; it stays hidden if listing is refused. */
export function installSidebar() {
  els.newChat.addEventListener('click', (event) => {
    event.preventDefault();
    location.href = chatHref(null); // now: the agent is known once the transcript loaded
  });
  els.search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      query = els.search.value.trim();
      refresh();
    }, 250);
  });
  els.more.addEventListener('click', () => refresh(true));
  // A turn ended or a message was sent: titles and the order may have changed.
  window.addEventListener('agentchat:activity', () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refresh(), 300);
  });
  refresh();
}

/** Load the list again from its first page (or, with `append`, its next one). */
export async function refresh(append = false) {
  const mine = ++generation;
  let page;
  try {
    page = await listChats({ query, cursor: append ? nextCursor : null });
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      els.root.hidden = true; // this credential does not list chats
      return;
    }
    if (!els.root.hidden) showError(err);
    return;
  }
  if (mine !== generation) return;
  els.root.hidden = false;
  document.body.classList.add('with-sidebar');
  if (!append) els.list.replaceChildren();
  for (const chat of page.chats || []) els.list.append(item(chat));
  nextCursor = page.next_cursor || null;
  els.more.hidden = !nextCursor;
  els.empty.hidden = els.list.children.length > 0;
  els.empty.textContent = query ? 'No chat matches.' : 'No chats yet.';
}

function item(chat) {
  const li = document.createElement('li');
  li.className = 'chat-item';
  li.dataset.testid = 'chat-item';
  li.dataset.chatId = chat.chat_id;
  if (chat.chat_id === config.chatId) {
    li.classList.add('active');
    li.setAttribute('aria-current', 'page');
  }
  const link = document.createElement('a');
  link.className = 'chat-link';
  link.dataset.testid = 'chat-title';
  link.href = chatHref(chat.chat_id);
  link.textContent = chat.title || 'New chat';
  link.title = chat.title || chat.chat_id;
  const rename = button('chat-rename', 'Rename', '✎');
  rename.addEventListener('click', () => startRename(li, link, chat));
  const remove = button('chat-delete', 'Delete', '×');
  remove.addEventListener('click', () => removeChat(li, chat));
  li.append(link, rename, remove);
  return li;
}

function button(testid, label, glyph) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `chat-action ${testid}`;
  b.dataset.testid = testid;
  b.title = label;
  b.setAttribute('aria-label', label);
  b.textContent = glyph;
  return b;
}

function startRename(li, link, chat) {
  const input = document.createElement('input');
  input.className = 'chat-rename-input';
  input.dataset.testid = 'chat-rename-input';
  input.maxLength = 200;
  input.value = chat.title || '';
  input.setAttribute('aria-label', 'Title');
  link.replaceWith(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = input.value.trim();
    input.replaceWith(link);
    if (!save || !title || title === chat.title) return;
    link.textContent = title;
    try {
      const info = await renameChat(chat.chat_id, title);
      chat.title = info.title;
      refresh(); // a rename is activity: the chat moves to the top
    } catch (err) {
      link.textContent = chat.title || 'New chat';
      showError(err);
    }
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      finish(true);
    } else if (event.key === 'Escape') {
      finish(false);
    }
  });
  input.addEventListener('blur', () => finish(true));
}

async function removeChat(li, chat) {
  const name = chat.title || chat.chat_id;
  if (!window.confirm(`Delete "${name}"? Its messages are erased for good.`)) return;
  li.classList.add('deleting');
  try {
    await deleteChat(chat.chat_id);
  } catch (err) {
    li.classList.remove('deleting');
    showError(err);
    return;
  }
  if (chat.chat_id === config.chatId) {
    location.href = chatHref(null); // the open chat is gone: start a new one
    return;
  }
  li.remove();
  els.empty.hidden = els.list.children.length > 0;
}
