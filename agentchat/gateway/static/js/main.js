// agentchat's chat page: ES modules, no build step, no dependencies.
//
//   config.js   what the URL says: the chat, the token, the agent
//   api.js      the gateway's HTTP API
//   fold.js     chunks -> UIMessage parts (the twin of the Python MessageBuilder; no DOM)
//   gaps.js     whether the stream lost records of a turn (the Python reader's check; no DOM)
//   state.js    the page's messages and turns
//   render.js   every DOM write: messages, tool cards, header, composer mode, banner
//   thread.js   the conversation, from the transcript and the stream's envelopes
//   events.js   the EventSource: resume, reconnect, resync from the transcript
//   composer.js the input box: send, steer, stop
//   attach.js   files for the next message: attach button, drag and drop, uploads
//   protocol.js the agent's triggers (buttons, input forms) and the chat's resources
//   sidebar.js  the caller's chats: list, search, rename, delete, new chat

import { installAttach } from './attach.js';
import { installComposer } from './composer.js';
import { installProtocol, loadProtocol } from './protocol.js';
import { config } from './config.js';
import { load, streamInfo } from './events.js';
import { els, hideError, renderChrome } from './render.js';
import { installSidebar } from './sidebar.js';
import { messages } from './state.js';

els.bannerClose.addEventListener('click', hideError);
installComposer();
installAttach();
installProtocol();
installSidebar();

// Expose a little for debugging in the console (and for tests that want the chat id).
window.agentchat = {
  chatId: config.chatId,
  get agent() { return config.agent; },
  get lastEventId() { return streamInfo().lastEventId; },
  get streamState() { return streamInfo().readyState; },
  messages,
};

renderChrome();
load().then(() => loadProtocol());
els.input.focus();
