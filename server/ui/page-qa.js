// QA (docs/portal.md), a mock-only page: steering the mock through its control API
// (/_mock/…) — reset, settling or delivering a device's commands, fault rules, the
// request journal with live refresh, snapshot and restore by name, and the local CA.
// When the mock has a control token, the page asks for it and keeps it like the API key.

import { all, control, del, enc, get, post, secrets, ApiError } from './api.js';
import { check, confirmDialog, errorSlot, field, fmtTime, h, notice, setStatus, setText, statusBadge, syncRows } from './dom.js';
import { responseText, typeOf } from './page-device.js';

export async function render(ctx) {
  const tokenBox = h('div');
  const done = h('div', { 'aria-live': 'polite' });
  ctx.main.append(
    h('h1', {}, 'QA'),
    h('p', { class: 'qa-banner' }, 'Mock-only: these tools steer the local mock through its control API (/_mock/…). ',
      'nRF Cloud has no such page.'),
    tokenBox, done);
  const sections = h('div');
  ctx.main.append(sections);

  function tokenForm() {
    if (tokenBox.firstChild) return;
    const input = h('input', { type: 'password', spellcheck: 'false', autocomplete: 'off', value: secrets.controlToken });
    const form = h('form', { class: 'card toolbar' },
      field('Control token', input, 'This mock was started with --control-token: every control call sends it as X-Mock-Token.'),
      h('button', { type: 'submit' }, 'Use token'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      secrets.controlToken = input.value.trim();
      ctx.stop();
      // Draw the page again with the new token (a fresh context, so no poll doubles up).
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    tokenBox.replaceChildren(form);
  }
  // Health stays open even with a token and says whether one is needed
  // (docs/control-api.md §2, §5); no other control call is made before that is known.
  let needed = control.tokenNeeded;
  try {
    const health = await get('/_mock/health');
    if (health && typeof health.controlToken === 'boolean') needed = health.controlToken;
  } catch { /* an older mock: learn it from a 401 */ }
  if (!ctx.live) return;
  control.tokenNeeded = needed;
  if (needed) tokenForm();
  if (needed && !secrets.controlToken) {
    sections.append(h('p', {}, 'Enter the control token above to use the QA tools.'));
    return;
  }
  const onError = (slot) => (e) => {
    slot.show(e);
    if (control.tokenNeeded) tokenForm();
  };
  sections.append(resetSection(done, onError), settleSection(ctx, onError), faultSection(ctx, onError),
    journalSection(ctx, onError), snapshotSection(done, onError), caSection(onError));
}

function resetSection(done, onError) {
  const err = errorSlot();
  const team = h('button', { type: 'button', class: 'danger' }, 'Reset team');
  const everything = h('button', { type: 'button', class: 'danger' }, 'Reset all');
  team.addEventListener('click', async () => {
    err.clear();
    if (!(await confirmDialog('Reset team', 'Wipe this team\'s claims, commands, rules and groups?'))) return;
    try {
      await post(`/_mock/reset?team=${enc(secrets.apiKey)}`);
      notice(done, 'This team was reset.');
    } catch (e) { onError(err)(e); }
  });
  everything.addEventListener('click', async () => {
    err.clear();
    if (!(await confirmDialog('Reset all', 'Wipe ALL state of the mock: every team, device, identity, fault rule and the journal? The CA stays.'))) return;
    try {
      await post('/_mock/reset');
      notice(done, 'The mock was reset.');
    } catch (e) { onError(err)(e); }
  });
  return h('section', { class: 'card' }, h('h2', {}, 'Reset'), h('div', { class: 'toolbar' }, team, everything), err.el);
}

function settleSection(ctx, onError) {
  const err = errorSlot();
  const device = h('select', {}, h('option', { value: '' }, '(choose a device)'));
  const tbody = h('tbody');
  const loadDevices = async () => {
    const devs = await all('/v1/claimed-devices');
    const keep = device.value;
    device.replaceChildren(h('option', { value: '' }, '(choose a device)'), ...devs.map((d) => h('option', { value: d.id }, d.id)));
    device.value = devs.some((d) => d.id === keep) ? keep : '';
  };
  const reload = h('button', { type: 'button' }, 'Reload devices');
  reload.addEventListener('click', () => loadDevices().catch(onError(err)));
  loadDevices().catch(onError(err));

  function createRow(c) {
    const cme = h('input', { type: 'number', placeholder: '514', min: 0, max: 65535, class: 'narrow' });
    const failBtn = h('button', { type: 'button', class: 'danger' }, 'Mark failed');
    const okBtn = h('button', { type: 'button' }, 'Mark succeeded');
    const deliverBtn = h('button', { type: 'button' }, 'Deliver');
    const path = (verb) => `/_mock/claimed-devices/${enc(device.value)}/provisioning/${enc(c.id)}/${verb}`;
    const act = async (verb, body) => {
      err.clear();
      try { await post(path(verb), body); } catch (e) { onError(err)(e); }
      refresh();
    };
    failBtn.addEventListener('click', () => {
      const body = { status: 'FAILED', message: 'marked failed in the QA page' };
      if (cme.value !== '') body.cmeError = Number(cme.value);
      act('result', body);
    });
    okBtn.addEventListener('click', () => act('result', { status: 'SUCCEEDED' }));
    deliverBtn.addEventListener('click', () => act('deliver'));
    const controls = h('span', {}, field('CME error', cme), failBtn, ' ', okBtn, ' ', deliverBtn);
    return h('tr', {}, h('td', {}), h('td', { class: 'mono' }), h('td', {}, statusBadge(c.status)), h('td', {}, h('pre', {})), h('td', {}, controls));
  }
  function updateRow(tr, c) {
    const td = tr.children;
    setText(td[0], c.description || '');
    setText(td[1], typeOf(c));
    setStatus(td[2].firstChild, c.status);
    const er = c.response && c.response.errorResponse;
    setText(td[3].firstChild, er ? `CME ${er.cmeError}: ${er.message || ''}` : responseText(c));
    td[4].firstChild.hidden = !(c.status === 'PENDING' || c.status === 'IN_PROGRESS');
  }
  let shownFor = '';
  async function refresh() {
    if (!device.value) {
      tbody.replaceChildren();
      shownFor = '';
      // Nothing chosen yet: keep the choice of devices current (unless it is being used).
      if (document.activeElement !== device) await loadDevices().catch(() => {});
      return;
    }
    const id = device.value;
    let cmds;
    try { cmds = await all(`/v1/claimed-devices/${enc(id)}/provisioning`); } catch (e) {
      if (e instanceof ApiError && e.status === 404) { device.value = ''; loadDevices().catch(() => {}); }
      onError(err)(e);
      return;
    }
    if (id !== device.value || !ctx.live) return;
    if (shownFor !== id) { tbody.replaceChildren(); shownFor = id; }
    syncRows(tbody, cmds, (c) => c.id, createRow, updateRow);
  }
  device.addEventListener('change', () => { err.clear(); refresh(); });
  ctx.every(2000, refresh);
  return h('section', { class: 'card' }, h('h2', {}, 'Settle commands'),
    h('p', { class: 'muted' }, 'Answer a command as if the device had: Mark failed (with a CME error) cancels the rest of its batch.'),
    h('div', { class: 'toolbar' }, field('Device', device), reload), err.el,
    h('table', {}, h('thead', {}, h('tr', {}, ...['Description', 'Type', 'Status', 'Result', ''].map((t) => h('th', {}, t)))), tbody));
}

function faultSection(ctx, onError) {
  const err = errorSlot();
  const protocol = h('select', {}, ...['any', 'http', 'coap'].map((p) => h('option', { value: p }, p)));
  const method = h('input', { type: 'text', size: 8, placeholder: 'GET' });
  const path = h('input', { type: 'text', size: 30, placeholder: '/v1/provisioning/commands' });
  const deviceId = h('input', { type: 'text', size: 36 });
  const status = h('input', { type: 'number', min: 100, max: 599, placeholder: '503' });
  const coapCode = h('input', { type: 'text', size: 6, placeholder: '5.03' });
  const delay = h('input', { type: 'number', min: 0, placeholder: '0' });
  const drop = h('input', { type: 'checkbox' });
  const closeConn = h('input', { type: 'checkbox' });
  const times = h('input', { type: 'number', min: 1, placeholder: 'unlimited' });
  const form = h('form', {},
    h('div', { class: 'toolbar' }, field('Protocol', protocol), field('Method', method), field('Path', path), field('Device ID', deviceId)),
    h('div', { class: 'toolbar' }, field('HTTP status', status), field('CoAP code', coapCode), field('Delay (ms)', delay), field('Times', times),
      check('Drop (CoAP)', drop), check('Close connection (HTTP)', closeConn)),
    h('button', { type: 'submit', class: 'primary' }, 'Add fault'));
  const tbody = h('tbody');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.clear();
    const match = { protocol: protocol.value, path: path.value.trim() };
    if (method.value.trim()) match.method = method.value.trim();
    if (deviceId.value.trim()) match.deviceId = deviceId.value.trim();
    const action = {};
    if (status.value !== '') action.status = Number(status.value);
    if (coapCode.value.trim()) action.coapCode = coapCode.value.trim();
    if (delay.value !== '') action.delayMs = Number(delay.value);
    if (drop.checked) action.drop = true;
    if (closeConn.checked) action.closeConnection = true;
    const body = { match, action };
    if (times.value !== '') body.times = Number(times.value);
    try { await post('/_mock/faults', body); } catch (e) { onError(err)(e); }
    refresh();
  });
  function createRow(f) {
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
    remove.addEventListener('click', async () => {
      err.clear();
      try { await del(`/_mock/faults/${enc(f.id)}`); } catch (e) { onError(err)(e); }
      refresh();
    });
    return h('tr', {}, h('td', { class: 'mono' }, f.id), h('td', { class: 'mono' }), h('td', { class: 'mono' }), h('td', {}), h('td', {}), h('td', {}, remove));
  }
  function updateRow(tr, f) {
    const td = tr.children;
    const m = f.match || {};
    setText(td[1], `${m.protocol} ${m.method || '*'} ${m.path}${m.deviceId ? ` device ${m.deviceId}` : ''}`);
    setText(td[2], JSON.stringify(f.action));
    setText(td[3], f.times === null || f.times === undefined ? 'unlimited' : f.times);
    setText(td[4], f.fired);
  }
  async function refresh() {
    let out;
    try { out = await get('/_mock/faults'); } catch (e) { onError(err)(e); return; }
    if (ctx.live) syncRows(tbody, out.items || [], (f) => f.id, createRow, updateRow);
  }
  refresh();
  ctx.every(2000, refresh);
  return h('section', { class: 'card' }, h('h2', {}, 'Fault rules'), form, err.el,
    h('table', {}, h('thead', {}, h('tr', {}, ...['ID', 'Match', 'Action', 'Times left', 'Fired', ''].map((t) => h('th', {}, t)))), tbody));
}

function journalSection(ctx, onError) {
  const err = errorSlot();
  const live = h('input', { type: 'checkbox', checked: true });
  const pathFilter = h('input', { type: 'text', size: 30, placeholder: '/v1/' });
  const clear = h('button', { type: 'button' }, 'Clear journal');
  const tbody = h('tbody');
  const detail = h('div', { 'aria-live': 'polite' });
  const total = h('span', { class: 'muted' });
  const bodyText = (b) => (b === undefined || b === null ? '' : typeof b === 'string' ? b : JSON.stringify(b, null, 2));
  function showDetail(x) {
    detail.replaceChildren(h('div', { class: 'card' },
      h('h3', {}, `${x.method} ${x.path}${x.query ? `?${x.query}` : ''} → ${x.status}`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Request id'), h('dd', { class: 'mono' }, x.requestId),
        h('dt', {}, 'Time'), h('dd', {}, x.time), h('dt', {}, 'Protocol'), h('dd', {}, x.protocol),
        h('dt', {}, 'Device'), h('dd', { class: 'mono' }, x.deviceId || '—'), h('dt', {}, 'Team'), h('dd', { class: 'mono' }, x.team || '—'),
        h('dt', {}, 'Fault'), h('dd', {}, x.fault || '—')),
      h('h4', {}, 'Request body'), h('pre', {}, bodyText(x.requestBody) || '(none)'),
      h('h4', {}, 'Response body'), h('pre', {}, bodyText(x.responseBody) || '(none)')));
  }
  function createRow(x) {
    const show = h('button', { type: 'button' }, 'Details');
    show.addEventListener('click', () => showDetail(x));
    return h('tr', {}, h('td', {}, fmtTime(x.time)), h('td', {}, x.protocol), h('td', {}, x.method),
      h('td', { class: 'mono' }, `${x.path}${x.query ? `?${x.query}` : ''}`), h('td', {}, String(x.status)),
      h('td', { class: 'mono' }, x.deviceId || ''), h('td', {}, x.durationMs !== undefined ? Number(x.durationMs).toFixed(1) : ''), h('td', {}, show));
  }
  async function refresh(force) {
    if (!live.checked && !force) return;
    let out;
    const q = `limit=50${pathFilter.value.trim() ? `&path=${enc(pathFilter.value.trim())}` : ''}`;
    try { out = await get(`/_mock/requests?${q}`); } catch (e) { onError(err)(e); return; }
    if (!ctx.live) return;
    err.clear();
    setText(total, `${out.total} matching exchange${out.total === 1 ? '' : 's'} held; newest first`);
    syncRows(tbody, out.items || [], (x) => x.requestId, createRow, () => {});
  }
  clear.addEventListener('click', async () => {
    try { await del('/_mock/requests'); } catch (e) { onError(err)(e); }
    detail.replaceChildren();
    refresh(true);
  });
  pathFilter.addEventListener('input', () => refresh(true));
  refresh(true);
  ctx.every(2000, refresh);
  return h('section', { class: 'card' }, h('h2', {}, 'Request journal'),
    h('div', { class: 'toolbar' }, check('Live', live), field('Path prefix', pathFilter), clear), err.el, total,
    h('table', {}, h('thead', {}, h('tr', {}, ...['Time', 'Protocol', 'Method', 'Path', 'Status', 'Device', 'ms', ''].map((t) => h('th', {}, t)))), tbody),
    detail);
}

function snapshotSection(done, onError) {
  const err = errorSlot();
  const list = h('ul', { class: 'mono' });
  const loadList = () => get('/_mock/snapshots').then((out) => {
    const items = out.items || [];
    list.replaceChildren(...items.map((x) => h('li', {}, `${x.name} — ${x.bytes} bytes, ${fmtTime(x.createdAt)}`)));
    if (!items.length) list.append(h('li', { class: 'muted' }, 'No snapshots yet.'));
  }).catch(onError(err));
  const name = h('input', { type: 'text', spellcheck: 'false', placeholder: 'before-test' });
  const save = h('button', { type: 'button' }, 'Save snapshot');
  const restore = h('button', { type: 'button', class: 'danger' }, 'Restore snapshot');
  save.addEventListener('click', async () => {
    err.clear();
    try {
      const out = await post('/_mock/snapshot', { name: name.value.trim() });
      notice(done, `Snapshot ${out.name} saved (${out.bytes} bytes).`);
    } catch (e) { onError(err)(e); }
    loadList();
  });
  restore.addEventListener('click', async () => {
    err.clear();
    if (!(await confirmDialog('Restore snapshot', `Replace the whole state of the mock with snapshot "${name.value.trim()}"?`))) return;
    try {
      await post('/_mock/restore', { name: name.value.trim() });
      notice(done, `Snapshot ${name.value.trim()} restored.`);
    } catch (e) { onError(err)(e); }
  });
  loadList();
  return h('section', { class: 'card' }, h('h2', {}, 'Snapshots'),
    h('div', { class: 'toolbar' }, field('Snapshot name', name), save, restore), err.el, list);
}

// The CA link works as a plain download; with a control token it is fetched with the
// token header and handed to the browser as a file.
function caSection(onError) {
  const err = errorSlot();
  const link = h('a', { href: '/_mock/ca', download: 'nrfprov-mock-ca.pem', class: 'button' }, 'Download CA');
  link.addEventListener('click', async (ev) => {
    if (!secrets.controlToken) return;
    ev.preventDefault();
    try {
      const pem = await get('/_mock/ca', { text: true });
      const a = h('a', { href: `data:application/x-pem-file;charset=utf-8,${encodeURIComponent(pem)}`, download: 'nrfprov-mock-ca.pem' });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) { onError(err)(e); }
  });
  return h('section', { class: 'card' }, h('h2', {}, 'Local CA'),
    h('p', { class: 'muted' }, 'The CA that signs the mock\'s server certificate and every device certificate: flash it as the root CA.'),
    link, err.el);
}
