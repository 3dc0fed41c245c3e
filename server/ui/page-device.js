// A claimed device's page, #/claimed-devices/<id> (docs/portal.md): its facts, its
// provisioning groups (editable), Block/Unblock/Unclaim, the Provisioning Configuration
// card listing every command with its status, CME error, message and response, a form to
// queue a command, Discard for a PENDING one, and "Open in Devices" once it is onboarded.
// Refreshed in place every 1.5 s; polling stops for good once the device is gone.

import { all, del, enc, get, post, put, ApiError } from './api.js';
import { confirmDialog, errorSlot, field, fmtTime, h, notice, setStatus, setText, statusBadge, syncRows } from './dom.js';

// Example parameters per command type (docs/owner-api.md §3.1), prefilled in the add form.
const EXAMPLES = {
  clientPrivateKeyGeneration: { secTag: 16842753 },
  certificateSigningRequest: { secTag: 16842753, attributes: 'O=Nordic Semiconductor,L=Trondheim,C=no', keyUsage: '101010000' },
  cloudAccessKeyGeneration: { secTag: 16842753 },
  serverCertificate: { secTag: 16842753, content: '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n' },
  clientCertificate: { secTag: 16842753, content: '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n' },
  clientPrivateKey: { secTag: 16842753, content: '-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n' },
  preSharedKey: { secTag: 16842753, identity: 'my-identity', secret: '000102030405060708090a0b0c0d0e0f' },
  config: { properties: { 'provisioning/interval-sec': '300' } },
  finished: {},
};

export const typeOf = (cmd) => Object.keys(cmd.request || {})[0] || '?';

// The text a command's response shows: CSR, public key, certificate, AT answer.
export function responseText(cmd) {
  const r = cmd.response;
  if (!r || cmd.status !== 'SUCCEEDED') return '';
  const body = r[typeOf(cmd)] || Object.values(r)[0] || {};
  const parts = [];
  for (const k of ['csr', 'publicKey', 'certificatePem', 'certificate', 'message'])
    if (body[k]) parts.push(`${k}: ${body[k]}`);
  return parts.length ? parts.join('\n') : JSON.stringify(body);
}

export function render(ctx, id) {
  const base = `/v1/claimed-devices/${enc(id)}`;
  const errors = errorSlot();
  const done = h('div', { 'aria-live': 'polite' });
  const f = {};
  const facts = h('dl', { class: 'facts' });
  for (const [k, label] of [['deviceType', 'Type'], ['status', 'Status'], ['blocked', 'Blocked'], ['tags', 'Provisioning groups'],
    ['claimedAt', 'Claimed at'], ['updatedAt', 'Updated at'], ['firmwareId', 'Modem firmware'], ['imei', 'IMEI'], ['ownershipStatus', 'Ownership']]) {
    f[k] = h('dd', {});
    facts.append(h('dt', {}, label), f[k]);
  }
  f.status.append(statusBadge('READY'));

  const blockBtn = h('button', { type: 'button' }, 'Block');
  const unclaimBtn = h('button', { type: 'button', class: 'danger' }, 'Unclaim');
  const openLink = h('a', { href: `#/devices/${enc(id)}`, class: 'button', hidden: true }, 'Open in Devices');

  const groupsInput = h('input', { type: 'text', spellcheck: 'false', size: 40 });
  const groupsErr = errorSlot();
  const groupsForm = h('form', { class: 'toolbar' }, field('Provisioning groups', groupsInput, 'Comma-separated group names.'),
    h('button', { type: 'submit' }, 'Save groups'));

  const tbody = h('tbody');
  const cmdErr = errorSlot();
  const typeSel = h('select', {}, ...Object.keys(EXAMPLES).map((t) => h('option', { value: t }, t)));
  const desc = h('input', { type: 'text', value: 'Added in the portal' });
  const params = h('textarea', { rows: 4, spellcheck: 'false' }, JSON.stringify(EXAMPLES.clientPrivateKeyGeneration, null, 2));
  const addErr = errorSlot();
  typeSel.addEventListener('change', () => { params.value = JSON.stringify(EXAMPLES[typeSel.value], null, 2); });
  const addForm = h('form', {},
    h('div', { class: 'toolbar' }, field('Command type', typeSel), field('Description', desc)),
    field('Parameters (JSON)', params), addErr.el, h('button', { type: 'submit' }, 'Add command'));

  ctx.main.append(
    h('p', {}, h('a', { href: '#/claimed-devices' }, '← Claimed Devices')),
    h('h1', { class: 'mono' }, id),
    errors.el, done,
    h('div', { class: 'card' }, facts, h('div', { class: 'toolbar' }, blockBtn, unclaimBtn, openLink)),
    h('div', { class: 'card' }, groupsForm, groupsErr.el),
    h('section', { class: 'card', 'aria-labelledby': 'prov-config' },
      h('h2', { id: 'prov-config' }, 'Provisioning Configuration'),
      cmdErr.el,
      h('table', {},
        h('thead', {}, h('tr', {}, ...['Description', 'Type', 'Status', 'CME error', 'Message', 'Response', 'Created', ''].map((t) => h('th', {}, t)))),
        tbody),
      h('h3', {}, 'Add a command'), addForm));

  let dev = null;
  let gone = false;
  let groupsFilled = false;
  let groupsTyped = false;
  groupsInput.addEventListener('input', () => { groupsTyped = true; });
  let onboarded = false;
  let checkedOnboarded = false;
  let lastCakg = 0;

  function createRow(c) {
    const discard = h('button', { type: 'button', hidden: true }, 'Discard');
    discard.addEventListener('click', async () => {
      cmdErr.clear();
      try { await del(`${base}/provisioning/${enc(c.id)}`); } catch (e) { cmdErr.show(e); }
      refresh();
    });
    return h('tr', {}, h('td', {}), h('td', { class: 'mono' }), h('td', {}, statusBadge(c.status)), h('td', {}), h('td', {}),
      h('td', {}, h('pre', {})), h('td', {}), h('td', {}, discard));
  }
  function updateRow(tr, c) {
    const td = tr.children;
    const err = (c.response && c.response.errorResponse) || null;
    setText(td[0], c.description || '');
    setText(td[1], typeOf(c));
    setStatus(td[2].firstChild, c.status);
    setText(td[3], err && err.cmeError !== undefined ? err.cmeError : '');
    setText(td[4], err ? err.message || '' : '');
    setText(td[5].firstChild, responseText(c));
    setText(td[6], fmtTime(c.createdAt));
    td[7].firstChild.hidden = c.status !== 'PENDING';
  }

  // Onboarded means listed under Devices (docs/owner-api.md §6); looked up when a cloud access
  // key command has succeeded, and once when the page opens.
  async function checkOnboarded() {
    const devs = await all('/v1/devices');
    onboarded = devs.some((d) => d.id === id);
    openLink.hidden = !onboarded;
  }

  // One refresh at a time; `paused` holds polling while the device is being unclaimed,
  // so no request goes to a device that is gone (docs/portal.md "Frame").
  let inflight = Promise.resolve();
  let paused = false;
  function refresh() {
    if (gone || paused) return inflight;
    inflight = inflight.then(load, load);
    return inflight;
  }
  async function load() {
    if (gone || paused) return;
    let d;
    let cmds;
    try {
      d = await get(base);
      cmds = await all(`${base}/provisioning`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        gone = true;
        ctx.stop();
        errors.show(e);
        return;
      }
      errors.show(e);
      return;
    }
    if (!ctx.live) return;
    errors.clear();
    dev = d;
    setText(f.deviceType, d.deviceType);
    setStatus(f.status.firstChild, d.status);
    setText(f.blocked, d.blocked ? 'Blocked' : 'No');
    setText(f.tags, (d.tags || []).join(', ') || '—');
    setText(f.claimedAt, fmtTime(d.claimedAt));
    setText(f.updatedAt, fmtTime(d.updatedAt));
    setText(f.firmwareId, d.firmwareId);
    setText(f.imei, d.imei || '—');
    setText(f.ownershipStatus, d.ownershipStatus);
    setText(blockBtn, d.blocked ? 'Unblock' : 'Block');
    // Filled once, and never over what the user has begun to type.
    // Never overwrite what the user is typing: a field that has focus, or has been typed
    // into, is filled from the device later or not at all.
    if (!groupsFilled && !groupsTyped && document.activeElement !== groupsInput) {
      groupsInput.value = (d.tags || []).join(', ');
      groupsFilled = true;
    }
    syncRows(tbody, cmds, (c) => c.id, createRow, updateRow);
    const cakg = cmds.filter((c) => typeOf(c) === 'cloudAccessKeyGeneration' && c.status === 'SUCCEEDED').length;
    if (!checkedOnboarded || cakg !== lastCakg) {
      checkedOnboarded = true;
      lastCakg = cakg;
      await checkOnboarded().catch(() => {});
    }
  }

  blockBtn.addEventListener('click', async () => {
    errors.clear();
    if (!dev) return;
    try {
      if (dev.blocked) {
        await post(`${base}/unblock`);
      } else {
        if (!(await confirmDialog('Block device', `Block ${id}? It cannot fetch or report commands until it is unblocked.`))) return;
        await post(`${base}/block`);
      }
    } catch (e) { errors.show(e); }
    refresh();
  });
  unclaimBtn.addEventListener('click', async () => {
    errors.clear();
    if (!(await confirmDialog('Unclaim device', `Unclaim ${id}? Its provisioning commands are removed; if it is onboarded it stays under Devices.`))) return;
    paused = true;
    await inflight;
    try {
      await del(base);
    } catch (e) {
      paused = false;
      errors.show(e);
      return;
    }
    gone = true;
    ctx.stop();
    ctx.go('#/claimed-devices');
  });
  groupsForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    groupsErr.clear();
    const tags = groupsInput.value.split(',').map((t) => t.trim()).filter(Boolean);
    try {
      await put(`${base}/tags`, { tags });
      notice(done, 'Groups saved.');
    } catch (e) { groupsErr.show(e); }
    refresh();
  });
  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    addErr.clear();
    let p;
    try { p = JSON.parse(params.value || '{}'); } catch (e) {
      addErr.show({ message: `Parameters (JSON): ${e.message}` });
      return;
    }
    try {
      await post(`${base}/provisioning`, { description: desc.value, request: { [typeSel.value]: p } });
      notice(done, `${typeSel.value} queued.`);
    } catch (e) { addErr.show(e); }
    refresh();
  });

  refresh();
  ctx.every(1500, refresh);
}
