// Provisioning Groups (docs/portal.md): every provisioning tag with its device and rule
// counts, Create group, Delete (the API's 409 shown while a group is in use), and one
// group's page, #/groups/<name>, listing its devices and the rules that target it.

import { all, del, enc, get, post } from './api.js';
import { errorSlot, field, fmtTime, h, notice, setText, syncRows } from './dom.js';

export function render(ctx) {
  const errors = errorSlot();
  const done = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', spellcheck: 'false' });
  const description = h('input', { type: 'text' });
  const createErr = errorSlot();
  const form = h('form', { class: 'toolbar' }, field('Group name', name), field('Description', description),
    h('button', { type: 'submit', class: 'primary' }, 'Create group'));
  const tbody = h('tbody');
  ctx.main.append(
    h('h1', {}, 'Provisioning Groups'),
    h('p', { class: 'muted' }, 'A group is a provisioning tag: rules target groups, devices join them when claimed.'),
    form, createErr.el, errors.el, done,
    h('table', {}, h('thead', {}, h('tr', {}, ...['Name', 'Description', 'Devices', 'Rules', 'Created', ''].map((t) => h('th', {}, t)))), tbody));

  function createRow(t) {
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
    remove.addEventListener('click', async () => {
      errors.clear();
      try {
        await del(`/v1/provisioning/tags/${enc(t.tag)}`);
        notice(done, `Group ${t.tag} deleted.`);
      } catch (e) { errors.show(e); }
      refresh();
    });
    return h('tr', {}, h('td', {}, h('a', { href: `#/groups/${enc(t.tag)}` }, t.tag)), h('td', {}), h('td', {}), h('td', {}), h('td', {}), h('td', {}, remove));
  }
  function updateRow(tr, t) {
    const td = tr.children;
    setText(td[1], t.description || '');
    setText(td[2], t.deviceCount);
    setText(td[3], t.ruleCount);
    setText(td[4], fmtTime(t.createdAt));
  }
  async function refresh() {
    let tags;
    try { tags = await all('/v1/provisioning/tags'); } catch (e) { errors.show(e); return; }
    if (ctx.live) syncRows(tbody, tags, (t) => t.tag, createRow, updateRow);
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    createErr.clear();
    try {
      await post('/v1/provisioning/tags', { tag: name.value.trim(), description: description.value });
      notice(done, `Group ${name.value.trim()} created.`);
      name.value = '';
      description.value = '';
    } catch (e) { createErr.show(e); }
    refresh();
  });
  refresh();
  ctx.every(2000, refresh);
}

export function renderOne(ctx, tag) {
  const errors = errorSlot();
  const body = h('div');
  ctx.main.append(h('p', {}, h('a', { href: '#/groups' }, '← Provisioning Groups')),
    h('h1', {}, `Group ${tag}`), errors.el, body);
  (async () => {
    let t;
    let rules;
    try {
      t = await get(`/v1/provisioning/tags/${enc(tag)}`);
      rules = await all('/v1/provisioning-rules');
    } catch (e) { errors.show(e); return; }
    const byId = new Map(rules.map((r) => [r.id, r]));
    body.append(
      h('p', {}, t.description || ''),
      h('h2', {}, `Devices (${t.deviceCount})`),
      (t.deviceIds || []).length
        ? h('ul', { class: 'mono' }, ...t.deviceIds.map((id) => h('li', {}, h('a', { href: `#/claimed-devices/${enc(id)}` }, id))))
        : h('p', { class: 'muted' }, 'No devices.'),
      h('h2', {}, `Rules (${t.ruleCount})`),
      (t.ruleIds || []).length
        ? h('ul', {}, ...t.ruleIds.map((id) => h('li', {}, byId.has(id) ? `${byId.get(id).name} (${byId.get(id).status})` : id)))
        : h('p', { class: 'muted' }, 'No rules.'));
  })();
}
