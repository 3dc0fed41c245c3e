// Small DOM verbs the pages share: building elements, labelled fields, error alerts in
// the API's words, confirmation dialogs, and tables whose rows are updated in place (a
// refresh keeps each row's elements, so focus and checkboxes survive). No framework.

let uid = 0;
export const nextId = (p = 'f') => `${p}-${++uid}`;

// h('button', {class: 'primary', onclick: f}, 'Text', child…)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Set an element's text only when it changed (no needless DOM churn while polling).
export function setText(el, text) {
  const t = text === undefined || text === null ? '' : String(text);
  if (el.textContent !== t) el.textContent = t;
}

// A labelled control: <div class=field><label for=…>name</label><control aria-label=name></div>.
// The control's accessible name is exactly `name` (docs/portal.md).
export function field(name, control, hint) {
  control.id = control.id || nextId();
  control.setAttribute('aria-label', name);
  const wrap = h('div', { class: 'field' }, h('label', { for: control.id }, name), control);
  if (hint) wrap.append(h('div', { class: 'muted' }, hint));
  return wrap;
}

// A checkbox or radio with its label after it.
export function check(name, input) {
  input.id = input.id || nextId();
  input.setAttribute('aria-label', name);
  return h('span', { class: 'check' }, input, h('label', { for: input.id }, name));
}

// The place where errors of one form or field go: show(err) puts an element with
// role="alert" holding the API's code and message there; clear() removes it.
export function errorSlot() {
  const slot = h('div', { class: 'error-slot' });
  return {
    el: slot,
    show(err) {
      slot.replaceChildren();
      const code = err && err.code ? `${err.code}: ` : '';
      slot.append(h('div', { class: 'error', role: 'alert' }, `${code}${err && err.message ? err.message : err}`));
    },
    clear() { slot.replaceChildren(); },
  };
}

// A short success line (role="status").
export function notice(slot, text) {
  slot.replaceChildren(h('div', { class: 'notice', role: 'status' }, text));
}

// A modal dialog (<dialog role="dialog">) holding `content`; resolves when closed. The
// dialog is removed from the document once closed, and focus goes back to where it was.
export function modal(title, build) {
  const before = document.activeElement;
  const titleId = nextId('dlg');
  const dlg = h('dialog', { role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': titleId });
  dlg.append(h('h2', { id: titleId }, title));
  return new Promise((resolve) => {
    let result;
    const close = (value) => { result = value; dlg.close(); };
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (before && before.isConnected && typeof before.focus === 'function') before.focus();
      resolve(result);
    });
    build(dlg, close);
    // First in the document: while it is open, its controls come before the page's own
    // (the page behind is inert), e.g. the dialog's Claim Device before the page's.
    document.body.prepend(dlg);
    dlg.showModal();
    const first = dlg.querySelector('[autofocus]');
    if (first) first.focus();
  });
}

// Ask "OK" / "Cancel"; resolves true on OK.
export function confirmDialog(title, text) {
  return modal(title, (dlg, close) => {
    dlg.append(h('p', {}, text));
    dlg.append(h('div', { class: 'dialog-buttons' },
      h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: 'primary', autofocus: true, onclick: () => close(true) }, 'OK')));
  }).then((v) => v === true);
}

// Bring tbody's rows in line with items, keyed by key(item): existing rows are updated
// by update(tr, item), new ones made by create(item) then updated, missing ones removed,
// and the order follows items. Rows keep their elements across refreshes.
export function syncRows(tbody, items, key, create, update) {
  const old = new Map();
  for (const tr of tbody.children) old.set(tr.dataset.key, tr);
  let prev = null;
  const seen = new Set();
  for (const item of items) {
    const k = String(key(item));
    seen.add(k);
    let tr = old.get(k);
    if (!tr) {
      tr = create(item);
      tr.dataset.key = k;
    }
    update(tr, item);
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    prev = tr;
  }
  for (const [k, tr] of old) if (!seen.has(k)) tr.remove();
}

// A status word with its colour.
export function statusBadge(word) {
  return h('span', { class: `status status-${word}` }, word);
}
export function setStatus(span, word) {
  const cls = `status status-${word}`;
  if (span.className !== cls) span.className = cls;
  setText(span, word);
}

export const fmtTime = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
