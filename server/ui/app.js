// The portal's frame (docs/portal.md "Frame"): the API key form, the navigation, and the
// router that draws one page per URL hash (#/claimed-devices, #/claimed-devices/<id>,
// #/groups, #/groups/<name>, #/rules, #/devices, #/devices/<id>, #/qa). Each page module
// exports render(ctx, ...params); ctx gives it the main element, a polling timer that
// stops when the page is left, and navigation.

import { get, secrets, ApiError } from './api.js';
import { errorSlot, h } from './dom.js';
import * as claimed from './page-claimed.js';
import * as device from './page-device.js';
import * as groups from './page-groups.js';
import * as rules from './page-rules.js';
import * as devices from './page-devices.js';
import * as qa from './page-qa.js';

const routes = [
  [/^\/claimed-devices\/([^/]+)$/, device.render, 'claimed-devices'],
  [/^\/claimed-devices$/, claimed.render, 'claimed-devices'],
  [/^\/groups\/(.+)$/, groups.renderOne, 'groups'],
  [/^\/groups$/, groups.render, 'groups'],
  [/^\/rules$/, rules.render, 'rules'],
  [/^\/devices\/([^/]+)$/, devices.render, 'devices'],
  [/^\/devices$/, devices.render, 'devices'],
  [/^\/qa$/, qa.render, 'qa'],
];

const main = document.getElementById('main');
const keyForm = document.getElementById('key-form');
const keyInput = document.getElementById('api-key');
const keyState = document.getElementById('key-state');
const keyError = errorSlot();
keyForm.append(keyError.el);

let current = null; // the page's context; replaced (and stopped) on every navigation

function makeContext() {
  const ctx = {
    main,
    live: true,
    timers: [],
    // Call fn every ms milliseconds (one call at a time) until the page is left.
    every(ms, fn) {
      const loop = async () => {
        if (!ctx.live) return;
        try { await fn(); } catch (e) { if (!(e instanceof ApiError)) console.warn(e); }
        if (ctx.live) ctx.timers.push(setTimeout(loop, ms));
      };
      ctx.timers.push(setTimeout(loop, ms));
    },
    stop() {
      ctx.live = false;
      ctx.timers.forEach(clearTimeout);
    },
    go(hash) { location.hash = hash; },
  };
  return ctx;
}

function route() {
  if (current) current.stop();
  current = makeContext();
  const path = (location.hash || '').replace(/^#/, '') || '/claimed-devices';
  let hit = null;
  for (const [re, fn, nav] of routes) {
    const m = path.match(re);
    if (m) { hit = { fn, nav, args: m.slice(1).map(decodeURIComponent) }; break; }
  }
  for (const a of document.querySelectorAll('nav a')) {
    if (hit && a.dataset.nav === hit.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.replaceChildren();
  document.querySelector('nav').hidden = !secrets.apiKey;
  if (!secrets.apiKey) {
    main.append(h('h1', {}, 'Welcome'),
      h('p', {}, 'Enter your team\'s API key above and choose "Use key". Any non-empty key makes a team ',
        'unless the mock was started with --api-keys. The key stays in this browser.'));
    keyInput.focus();
    return;
  }
  if (!hit) {
    main.append(h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '.'));
    return;
  }
  hit.fn(current, ...hit.args);
}

function showKeyState() {
  const k = secrets.apiKey;
  keyState.textContent = k ? `team key …${k.slice(-4)}` : 'no key yet';
  if (k && !keyInput.value) keyInput.value = k;
}

// Try the key with a one-item list call before keeping it, so a strict mock's refusal
// is shown in the API's words and the old key stays.
keyForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  keyError.clear();
  const k = keyInput.value.trim();
  if (!k) {
    keyError.show({ message: 'API key: enter a key' });
    return;
  }
  try {
    await get('/v1/claimed-devices?pageLimit=1', { key: k });
  } catch (e) {
    keyError.show(e);
    return;
  }
  secrets.apiKey = k;
  showKeyState();
  route();
});

window.addEventListener('hashchange', route);
showKeyState();
route();
