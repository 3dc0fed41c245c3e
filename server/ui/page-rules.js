// Rules (docs/portal.md): the team's provisioning rules with state, groups and command
// count, Activate for a draft, Delete, and a form that creates a rule from JSON commands
// (prefilled from the mock's own rule templates). The Claim Device dialog is the
// friendlier way to make an onboarding rule.

import { all, del, enc, patch, post } from './api.js';
import { check, errorSlot, field, fmtTime, h, notice, setStatus, setText, statusBadge, syncRows } from './dom.js';
import { ruleTemplates } from './claim-dialog.js';

export function render(ctx) {
  const errors = errorSlot();
  const done = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text' });
  const groups = h('input', { type: 'text', spellcheck: 'false' });
  const commands = h('textarea', { rows: 10, spellcheck: 'false' });
  const active = h('input', { type: 'checkbox' });
  const createErr = errorSlot();
  const form = h('form', { class: 'card' }, h('h2', {}, 'Create a rule'),
    h('div', { class: 'toolbar' }, field('Name', name), field('Groups', groups, 'Comma-separated group names.')),
    field('Commands (JSON)', commands, 'An array of {"description", "request": {"<commandType>": {…}}}.'),
    h('div', { class: 'field' }, check('Active', active)), createErr.el,
    h('button', { type: 'submit', class: 'primary' }, 'Create rule'));
  const tbody = h('tbody');
  ctx.main.append(h('h1', {}, 'Rules'),
    h('p', { class: 'muted' }, 'An active rule queues its commands on every claimed device of its groups when the device next checks in.'),
    errors.el, done,
    h('table', {}, h('thead', {}, h('tr', {}, ...['Name', 'State', 'Groups', 'Commands', 'Created', ''].map((t) => h('th', {}, t)))), tbody),
    form);
  ruleTemplates().then((t) => {
    if (!commands.value) commands.value = JSON.stringify(t.None.commands, null, 2);
  }).catch(() => {});

  function createRow(r) {
    const activate = h('button', { type: 'button' }, 'Activate');
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
    activate.addEventListener('click', async () => {
      errors.clear();
      try { await patch(`/v1/provisioning-rules/${enc(r.id)}`, { active: true }); } catch (e) { errors.show(e); }
      refresh();
    });
    remove.addEventListener('click', async () => {
      errors.clear();
      try {
        await del(`/v1/provisioning-rules/${enc(r.id)}`);
        notice(done, `Rule ${r.name} deleted.`);
      } catch (e) { errors.show(e); }
      refresh();
    });
    return h('tr', {}, h('td', {}), h('td', {}, statusBadge(r.status)), h('td', {}), h('td', {}), h('td', {}), h('td', {}, activate, ' ', remove));
  }
  function updateRow(tr, r) {
    const td = tr.children;
    setText(td[0], r.name);
    setStatus(td[1].firstChild, r.status);
    setText(td[2], (r.tags || []).join(', '));
    setText(td[3], (r.commands || []).length);
    setText(td[4], fmtTime(r.createdAt));
    td[5].firstChild.hidden = r.status !== 'DRAFT';
  }
  async function refresh() {
    let rules;
    try { rules = await all('/v1/provisioning-rules'); } catch (e) { errors.show(e); return; }
    if (ctx.live) syncRows(tbody, rules, (r) => r.id, createRow, updateRow);
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    createErr.clear();
    let cmds;
    try { cmds = JSON.parse(commands.value); } catch (e) {
      createErr.show({ message: `Commands (JSON): ${e.message}` });
      return;
    }
    const tags = groups.value.split(',').map((t) => t.trim()).filter(Boolean);
    try {
      await post('/v1/provisioning-rules', { name: name.value.trim(), active: active.checked, tags, commands: cmds });
      notice(done, `Rule ${name.value.trim()} created.`);
      name.value = '';
    } catch (e) { createErr.show(e); }
    refresh();
  });
  refresh();
  ctx.every(2000, refresh);
}
