// Devices (docs/portal.md), nRF Cloud's Device Management → Devices: the onboarded
// devices with subtype, group, firmware types and creation time, a Download certificate
// link (the PEM) and Delete with confirmation. #/devices/<id> also shows one device's
// card (the "Open in Devices" target of a claimed device's page).

import { all, del, enc, get } from './api.js';
import { confirmDialog, errorSlot, fmtTime, h, notice, setText, syncRows } from './dom.js';

const pemHref = (pem) => `data:application/x-pem-file;charset=utf-8,${encodeURIComponent(pem || '')}`;

export function render(ctx, focusId) {
  const errors = errorSlot();
  const done = h('div', { 'aria-live': 'polite' });
  const tbody = h('tbody');
  const card = h('div');
  ctx.main.append(h('h1', {}, 'Devices'),
    h('p', { class: 'muted' }, 'Device management: devices onboarded by a successful cloud access key command. Unclaiming does not remove them.'),
    card, errors.el, done,
    h('table', {}, h('thead', {}, h('tr', {}, ...['Device ID', 'Subtype', 'Group', 'Firmware types', 'Created', '', ''].map((t) => h('th', {}, t)))), tbody));

  if (focusId) {
    get(`/v1/devices/${enc(focusId)}`).then((d) => {
      card.append(h('section', { class: 'card', 'aria-label': `Device ${d.id}` },
        h('h2', { class: 'mono' }, d.id),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Subtype'), h('dd', {}, d.subType || '—'),
          h('dt', {}, 'Group'), h('dd', {}, (d.tags || []).join(', ') || '—'),
          h('dt', {}, 'Firmware types'), h('dd', {}, ((d.firmware && d.firmware.supports) || []).join(', ') || '—'),
          h('dt', {}, 'Created'), h('dd', {}, fmtTime(d.createdAt)),
          h('dt', {}, 'Claimed device'), h('dd', {}, h('a', { href: `#/claimed-devices/${enc(d.id)}` }, 'Claimed device page'))),
        h('h3', {}, 'Certificate'), h('pre', {}, d.certificatePem || '')));
    }).catch((e) => errors.show(e));
  }

  function createRow(d) {
    const link = h('a', { download: `${d.id}.pem` }, 'Download certificate');
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
    remove.addEventListener('click', async () => {
      errors.clear();
      if (!(await confirmDialog('Delete device', `Delete ${d.id} from device management? Its claim, if any, stays.`))) return;
      try {
        await del(`/v1/devices/${enc(d.id)}`);
        notice(done, `Device ${d.id} deleted.`);
      } catch (e) { errors.show(e); }
      refresh();
    });
    return h('tr', {}, h('td', { class: 'mono' }, h('a', { href: `#/devices/${enc(d.id)}` }, d.id)),
      h('td', {}), h('td', {}), h('td', {}), h('td', {}), h('td', {}, link), h('td', {}, remove));
  }
  function updateRow(tr, d) {
    const td = tr.children;
    setText(td[1], d.subType || '');
    setText(td[2], (d.tags || []).join(', '));
    setText(td[3], ((d.firmware && d.firmware.supports) || []).join(', '));
    setText(td[4], fmtTime(d.createdAt));
    const href = pemHref(d.certificatePem);
    if (td[5].firstChild.getAttribute('href') !== href) td[5].firstChild.setAttribute('href', href);
    tr.classList.toggle('selected', d.id === focusId);
  }
  async function refresh() {
    let devs;
    try { devs = await all('/v1/devices'); } catch (e) { errors.show(e); return; }
    if (ctx.live) syncRows(tbody, devs, (d) => d.id, createRow, updateRow);
  }
  refresh();
  ctx.every(2000, refresh);
}
