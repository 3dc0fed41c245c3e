// Claimed Devices (docs/portal.md): the team's claimed devices in a table refreshed in
// place every 1.5 s, the Status / Group / Blocked / Device type filters, paging, and
// Block / Unblock / Unclaim on the selected rows. The Claim Device dialog is
// claim-dialog.js.

import { all, del, enc, get, post } from './api.js';
import { check, confirmDialog, errorSlot, field, fmtTime, h, notice, setStatus, setText, statusBadge, syncRows } from './dom.js';
import { openClaimDialog } from './claim-dialog.js';

const STATUSES = ['READY', 'PENDING', 'PROVISIONED', 'ERROR'];
const TYPES = ['nrf9160_SIAA', 'nrf9160_SIBA', 'nrf9160_SICA', 'nrf9161_LACA', 'nrf9131_LACA', 'nrf9151_LACA'];
const PAGE = 100;

export function render(ctx) {
  const selected = new Set();
  const errors = errorSlot();
  const done = h('div', { 'aria-live': 'polite' });

  const status = h('select', {}, h('option', { value: '' }, 'All'), ...STATUSES.map((s) => h('option', { value: s }, s)));
  const group = h('input', { type: 'text', spellcheck: 'false', placeholder: 'any group' });
  const blocked = h('select', {}, h('option', { value: '' }, 'All'), h('option', { value: 'true' }, 'Blocked'),
    h('option', { value: 'false' }, 'Not blocked'));
  const type = h('select', {}, h('option', { value: '' }, 'All'), ...TYPES.map((t) => h('option', { value: t }, t)));

  const blockBtn = h('button', { type: 'button', disabled: true }, 'Block');
  const unblockBtn = h('button', { type: 'button', disabled: true }, 'Unblock');
  const unclaimBtn = h('button', { type: 'button', class: 'danger', disabled: true }, 'Unclaim');
  const claimBtn = h('button', { type: 'button', class: 'primary' }, 'Claim Device');
  const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select all' });

  const tbody = h('tbody');
  const total = h('span', { class: 'muted', role: 'status' });
  const prevBtn = h('button', { type: 'button', disabled: true }, 'Previous page');
  const nextBtn = h('button', { type: 'button', disabled: true }, 'Next page');
  const tokens = [null]; // pageNextToken of each page seen; the current page is the last
  let nextToken = null;

  ctx.main.append(
    h('h1', {}, 'Claimed Devices'),
    h('p', { class: 'muted' }, 'Devices your team has claimed, with their provisioning status. Security Services → Claimed Devices in nRF Cloud.'),
    h('div', { class: 'toolbar' }, claimBtn, blockBtn, unblockBtn, unclaimBtn),
    h('div', { class: 'toolbar', role: 'search' },
      field('Status', status), field('Group', group), field('Blocked', blocked), field('Device type', type)),
    errors.el, done,
    h('table', {},
      h('caption', { class: 'muted' }, total),
      h('thead', {}, h('tr', {}, h('th', {}, selectAll), h('th', {}, 'Device ID'), h('th', {}, 'Type'),
        h('th', {}, 'Status'), h('th', {}, 'Blocked'), h('th', {}, 'Provisioning groups'), h('th', {}, 'Claimed at'))),
      tbody),
    h('div', { class: 'pager' }, prevBtn, nextBtn));

  function syncButtons() {
    const none = selected.size === 0;
    blockBtn.disabled = unblockBtn.disabled = unclaimBtn.disabled = none;
    const boxes = [...tbody.querySelectorAll('input[type=checkbox]')];
    selectAll.checked = boxes.length > 0 && boxes.every((b) => b.checked);
  }

  function query() {
    const q = [`pageLimit=${PAGE}`];
    if (status.value) q.push(`status=${enc(status.value)}`);
    if (group.value.trim()) q.push(`tags=${enc(group.value.trim())}`);
    if (blocked.value) q.push(`blocked=${blocked.value}`);
    if (type.value) q.push(`deviceType=${enc(type.value)}`);
    const t = tokens[tokens.length - 1];
    if (t) q.push(`pageNextToken=${enc(t)}`);
    return `/v1/claimed-devices?${q.join('&')}`;
  }

  function createRow(d) {
    const box = h('input', { type: 'checkbox', 'aria-label': `Select ${d.id}` });
    box.addEventListener('change', () => {
      if (box.checked) selected.add(d.id); else selected.delete(d.id);
      box.closest('tr').classList.toggle('selected', box.checked);
      syncButtons();
    });
    return h('tr', {},
      h('td', {}, box),
      h('td', { class: 'mono' }, h('a', { href: `#/claimed-devices/${enc(d.id)}` }, d.id)),
      h('td', {}), h('td', {}, statusBadge(d.status)), h('td', {}), h('td', {}), h('td', {}));
  }

  function updateRow(tr, d) {
    const c = tr.children;
    setText(c[2], d.deviceType);
    setStatus(c[3].firstChild, d.status);
    setText(c[4], d.blocked ? 'Blocked' : '');
    c[4].className = d.blocked ? 'blocked' : '';
    setText(c[5], (d.tags || []).join(', '));
    setText(c[6], fmtTime(d.claimedAt));
    const box = c[0].firstChild;
    if (box.checked !== selected.has(d.id)) box.checked = selected.has(d.id);
    tr.classList.toggle('selected', box.checked);
  }

  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    let page;
    try {
      page = await get(query());
    } catch (e) {
      if (mine === seq) errors.show(e);
      return;
    }
    if (mine !== seq || !ctx.live) return; // a newer refresh (filters changed) wins
    errors.clear();
    const items = page.items || [];
    syncRows(tbody, items, (d) => d.id, createRow, updateRow);
    // A selected device that left this view is no longer selected.
    const shown = new Set(items.map((d) => d.id));
    for (const id of [...selected]) if (!shown.has(id)) selected.delete(id);
    nextToken = page.pageNextToken || null;
    nextBtn.disabled = !nextToken;
    prevBtn.disabled = tokens.length < 2;
    setText(total, `${page.total} claimed device${page.total === 1 ? '' : 's'}${items.length < page.total ? `, showing ${items.length}` : ''}`);
    syncButtons();
  }

  function refilter() {
    tokens.length = 1;
    selected.clear();
    refresh();
  }
  for (const el of [status, blocked, type]) el.addEventListener('change', refilter);
  group.addEventListener('input', refilter);
  nextBtn.addEventListener('click', () => { if (nextToken) { tokens.push(nextToken); selected.clear(); refresh(); } });
  prevBtn.addEventListener('click', () => { if (tokens.length > 1) { tokens.pop(); selected.clear(); refresh(); } });
  selectAll.addEventListener('change', () => {
    for (const box of tbody.querySelectorAll('input[type=checkbox]')) {
      const id = box.closest('tr').dataset.key;
      box.checked = selectAll.checked;
      if (selectAll.checked) selected.add(id); else selected.delete(id);
    }
    refresh();
  });

  // Carry out one verb on every selected device; failures are listed in the API's words.
  // The selection is cleared as the verb starts, so no refresh shows an acted-on row
  // still selected.
  async function onSelected(verb, fn) {
    const ids = [...selected];
    const failed = [];
    selected.clear();
    for (const box of tbody.querySelectorAll('input[type=checkbox]')) box.checked = false;
    syncButtons();
    for (const id of ids) {
      try { await fn(id); } catch (e) { failed.push(`${id}: ${e.code}: ${e.message}`); }
    }
    await refresh();
    if (failed.length) errors.show({ message: `${verb} failed for ${failed.join('; ')}` });
    else notice(done, `${verb}: ${ids.length} device${ids.length === 1 ? '' : 's'} done.`);
  }

  blockBtn.addEventListener('click', async () => {
    const n = selected.size;
    if (await confirmDialog('Block devices', `Block ${n} device${n === 1 ? '' : 's'}? A blocked device cannot fetch or report commands until it is unblocked.`))
      await onSelected('Block', (id) => post(`/v1/claimed-devices/${enc(id)}/block`));
  });
  unblockBtn.addEventListener('click', () => onSelected('Unblock', (id) => post(`/v1/claimed-devices/${enc(id)}/unblock`)));
  unclaimBtn.addEventListener('click', async () => {
    const n = selected.size;
    if (await confirmDialog('Unclaim devices', `Unclaim ${n} device${n === 1 ? '' : 's'}? Their provisioning commands are removed; onboarded devices stay under Devices.`))
      await onSelected('Unclaim', (id) => del(`/v1/claimed-devices/${enc(id)}`));
  });
  claimBtn.addEventListener('click', async () => {
    const result = await openClaimDialog();
    if (result) notice(done, result);
    refresh();
  });

  refresh();
  ctx.every(1500, refresh);
}

// Exported for the QA page's device picker.
export const listAll = () => all('/v1/claimed-devices');
