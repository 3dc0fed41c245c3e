// The Claim Device dialog (docs/portal.md "Claimed Devices"): Single — a claim token,
// optionally an existing rule's tags or a new auto-onboarding rule built from the
// templates the mock serves at /ui/rule-templates.json (the fixtures/rules/ files, so the
// commands of each certificate choice live in one place) — and Bulk, a CSV upload with an
// optional dry run. Resolves with a one-line summary, or undefined when cancelled.

import { all, del, enc, get, post, ApiError } from './api.js';
import { check, errorSlot, field, h, modal, nextId } from './dom.js';

const FIRMWARE = ['APP', 'MODEM', 'BOOT', 'SOFTDEVICE', 'BOOTLOADER'];
const CHOICES = ['All', 'AWS', 'CoAP', 'None'];
const DEFAULT_SEC_TAG = 16842753;

let templates = null; // {All: rule, AWS: rule, CoAP: rule, None: rule}
export async function ruleTemplates() {
  if (!templates) templates = await get('/ui/rule-templates.json');
  return templates;
}

// A provisioning tag named after the rule: the characters a tag may hold (docs/owner-api.md §2.2),
// others turned into '-', at most 64.
export function tagFor(ruleName) {
  const t = ruleName.trim().replace(/[^A-Za-z0-9._:=/-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return t || 'rule';
}

// The commands of a certificate choice with the dialog's settings applied: every secTag
// set to the security tag, and the device-management group, firmware types and subtype
// put into cloudAccessKeyGeneration (docs/owner-api.md §3.1).
export function commandsFor(template, cfg) {
  const commands = JSON.parse(JSON.stringify(template.commands));
  for (const c of commands) {
    const [type] = Object.keys(c.request);
    const params = c.request[type];
    if ('secTag' in params) params.secTag = cfg.secTag;
    if (type === 'cloudAccessKeyGeneration') {
      delete params.deviceManagementGroup;
      delete params.firmwareTypes;
      delete params.subType;
      if (cfg.group) params.deviceManagementGroup = cfg.group;
      if (cfg.firmwareTypes.length) params.firmwareTypes = cfg.firmwareTypes;
      if (cfg.subType) params.subType = cfg.subType;
    }
  }
  return commands;
}

export async function openClaimDialog() {
  const tpl = await ruleTemplates().catch(() => null);
  const allTpl = tpl && tpl.All;
  const cakg = allTpl && allTpl.commands.map((c) => c.request.cloudAccessKeyGeneration).find(Boolean);
  const defaultFirmware = (cakg && cakg.firmwareTypes) || ['APP', 'MODEM'];

  return modal('Claim Device', (dlg, close) => {
    const name = nextId('mode');
    const single = h('input', { type: 'radio', name, value: 'single', checked: true });
    const bulk = h('input', { type: 'radio', name, value: 'bulk' });

    // Single.
    const token = h('textarea', { rows: 4, spellcheck: 'false', autofocus: true });
    const tokenErr = errorSlot();
    const ruleInput = h('input', { type: 'text', spellcheck: 'false', list: nextId('rules') });
    const ruleList = h('datalist', { id: ruleInput.getAttribute('list') });
    const ruleErr = errorSlot();
    const createRule = h('input', { type: 'checkbox' });
    const ruleName = h('input', { type: 'text', spellcheck: 'false' });
    const ruleNameErr = errorSlot();
    const moreBtn = h('button', { type: 'button', 'aria-expanded': 'false' }, 'Additional Configuration');
    const secTag = h('input', { type: 'number', min: 0, max: 2147483647, step: 1, value: DEFAULT_SEC_TAG });
    const secTagErr = errorSlot();
    const certRadios = CHOICES.map((c) => h('input', { type: 'radio', name: nextId('cert'), value: c, checked: c === 'All' }));
    const certName = certRadios[0].name;
    certRadios.forEach((r) => { r.name = certName; });
    const dmGroup = h('input', { type: 'text', spellcheck: 'false', placeholder: (cakg && cakg.deviceManagementGroup) || '' });
    const fwBoxes = FIRMWARE.map((f) => h('input', { type: 'checkbox', value: f, checked: defaultFirmware.includes(f) }));
    const subType = h('input', { type: 'text', spellcheck: 'false', placeholder: (cakg && cakg.subType) || '' });

    const more = h('div', { class: 'card', hidden: true, id: nextId('more') },
      field('Security tag', secTag), secTagErr.el,
      h('fieldset', { role: 'radiogroup', 'aria-label': 'Certificates' }, h('legend', {}, 'Certificates'),
        ...certRadios.map((r) => check(r.value, r))),
      field('Device management group', dmGroup),
      h('fieldset', {}, h('legend', {}, 'Supported firmware types'), ...fwBoxes.map((b) => check(b.value, b))),
      field('Device subtype', subType));
    moreBtn.setAttribute('aria-controls', more.id);
    moreBtn.addEventListener('click', () => {
      more.hidden = !more.hidden;
      moreBtn.setAttribute('aria-expanded', String(!more.hidden));
    });
    const newRule = h('div', { hidden: true }, field('Rule name', ruleName), ruleNameErr.el, moreBtn, more);
    createRule.addEventListener('change', () => { newRule.hidden = !createRule.checked; });

    const singlePane = h('div', {},
      field('Claim token', token, 'The attestation token the device printed (AT%ATTESTTOKEN).'), tokenErr.el,
      field('Provisioning rule', ruleInput, 'Optional: the name of an existing rule; the device gets its groups.'),
      ruleList, ruleErr.el,
      h('div', { class: 'field' }, check('Create a new rule', createRule)), newRule);

    // Bulk.
    const file = h('input', { type: 'file', accept: '.csv,text/csv,text/plain' });
    const dry = h('input', { type: 'checkbox' });
    const fileErr = errorSlot();
    const results = h('div', { 'aria-live': 'polite' });
    const bulkPane = h('div', { hidden: true },
      field('CSV file', file, 'One device per line: claim token, then optional comma-separated groups.'), fileErr.el,
      h('div', { class: 'field' }, check('Dry run', dry)), results);

    const showMode = () => { singlePane.hidden = !single.checked; bulkPane.hidden = !bulk.checked; };
    single.addEventListener('change', showMode);
    bulk.addEventListener('change', showMode);

    const submit = h('button', { type: 'submit', class: 'primary' }, 'Claim Device');
    const cancel = h('button', { type: 'button', onclick: () => close(summary) }, 'Cancel');
    let summary;
    const form = h('form', { novalidate: true },
      h('div', { class: 'tabs', role: 'radiogroup', 'aria-label': 'Claim mode' }, check('Single', single), check('Bulk', bulk)),
      singlePane, bulkPane,
      h('div', { class: 'dialog-buttons' }, cancel, submit));
    dlg.append(form);

    all('/v1/provisioning-rules').then((rules) => {
      ruleList.replaceChildren(...rules.map((r) => h('option', { value: r.name })));
    }).catch(() => {});

    const clearAll = () => [tokenErr, ruleErr, ruleNameErr, secTagErr, fileErr].forEach((s) => s.clear());

    async function claimSingle() {
      const claimToken = token.value.trim();
      if (!claimToken) return tokenErr.show({ message: 'Claim token: paste the device\'s attestation token' });
      let tags = [];
      if (!createRule.checked && ruleInput.value.trim()) {
        let rules;
        try { rules = await all('/v1/provisioning-rules'); } catch (e) { return ruleErr.show(e); }
        const rule = rules.find((r) => r.name === ruleInput.value.trim());
        if (!rule) return ruleErr.show({ message: `Provisioning rule: no rule named "${ruleInput.value.trim()}"` });
        tags = rule.tags || [];
      }
      // Check the token first, so a bad one creates no rule.
      try {
        await post('/v1/claimed-devices?dryrun=true', { claimToken, tags });
      } catch (e) {
        return tokenErr.show(e);
      }
      let made = '';
      if (createRule.checked) {
        const rname = ruleName.value.trim();
        if (!rname) return ruleNameErr.show({ message: 'Rule name: a new rule needs a name' });
        const tag = Number(secTag.value);
        if (!secTag.value || !Number.isInteger(tag) || tag < 0 || tag > 2147483647)
          return secTagErr.show({ message: 'Security tag: an integer from 0 to 2147483647' });
        const choice = certRadios.find((r) => r.checked).value;
        if (!tpl || !tpl[choice]) return ruleNameErr.show({ message: 'the rule templates could not be loaded from the mock' });
        const commands = commandsFor(tpl[choice], {
          secTag: tag,
          group: dmGroup.value.trim(),
          firmwareTypes: fwBoxes.filter((b) => b.checked).map((b) => b.value),
          subType: subType.value.trim(),
        });
        const group = tagFor(rname);
        // The rule's own new provisioning group (docs/owner-api.md §5): an existing group that
        // something already uses is refused rather than shared.
        let createdTag = false;
        try {
          await post('/v1/provisioning/tags', { tag: group, description: `Devices of rule "${rname}"` });
          createdTag = true;
        } catch (e) {
          if (!(e instanceof ApiError) || e.code !== 40902) return ruleNameErr.show(e);
          const existing = await get(`/v1/provisioning/tags/${enc(group)}`).catch((x) => x);
          if (existing instanceof Error) return ruleNameErr.show(existing);
          if (existing.deviceCount || existing.ruleCount)
            return ruleNameErr.show({ code: e.code, message: `Rule name: the provisioning group "${group}" exists and is in use; choose another name` });
        }
        try {
          await post('/v1/provisioning-rules', {
            name: rname,
            description: `${tpl[choice].description} (made by the Claim Device dialog, certificates: ${choice})`,
            active: true, tags: [group], commands,
          });
        } catch (e) {
          if (createdTag) await del(`/v1/provisioning/tags/${enc(group)}`).catch(() => {});
          return (/secTag/.test(e.message) ? secTagErr : ruleNameErr).show(e);
        }
        tags = [group];
        made = ` with the new rule "${rname}" (group ${group})`;
      }
      let dev;
      try {
        dev = await post('/v1/claimed-devices', { claimToken, tags });
      } catch (e) {
        return tokenErr.show(e);
      }
      summary = `Claimed ${dev.id}${made}.`;
      close(summary);
    }

    async function claimBulk() {
      const f = file.files && file.files[0];
      if (!f) return fileErr.show({ message: 'CSV file: choose a file' });
      const text = await f.text();
      let out;
      try {
        out = await post(`/v1/claimed-devices${dry.checked ? '?dryrun=true' : ''}`, { csv: text });
      } catch (e) {
        return fileErr.show(e);
      }
      const ids = out.claimedIds || [];
      const failed = out.failed || [];
      const verb = dry.checked ? 'Would claim' : 'Claimed';
      summary = `${verb} ${ids.length} device${ids.length === 1 ? '' : 's'}; ${failed.length} row${failed.length === 1 ? '' : 's'} failed.`;
      results.replaceChildren(
        h('h3', {}, dry.checked ? 'Dry run: nothing was claimed' : 'Bulk claim result'),
        h('p', { role: 'status' }, summary),
        h('h4', {}, `${verb} (${ids.length})`),
        h('ul', { class: 'mono claimed-ids' }, ...ids.map((id) => h('li', {}, id))),
        h('h4', {}, `Failed rows (${failed.length})`),
        failed.length ? h('table', { class: 'failed-rows' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Row'), h('th', {}, 'Code'), h('th', {}, 'Message'))),
          h('tbody', {}, ...failed.map((f) => h('tr', {}, h('td', {}, f.row), h('td', {}, f.code), h('td', {}, f.message)))))
          : h('p', { class: 'muted' }, 'none'));
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearAll();
      submit.disabled = true;
      try {
        if (single.checked) await claimSingle(); else await claimBulk();
      } finally {
        submit.disabled = false;
      }
    });
  });
}
