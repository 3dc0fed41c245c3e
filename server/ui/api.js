// The portal's only way to the mock: fetch() against the owner API (/v1/…) and the
// control API (/_mock/…) of the origin that served the page (docs/portal.md). It adds the
// API key and the control token, sends every JSON body as application/json, and turns an
// error answer into an ApiError carrying the API's own code and message. No state of the
// mock lives here; only the two secrets, kept in localStorage.

const KEY_ITEM = 'nrfprov.apiKey';
const TOKEN_ITEM = 'nrfprov.controlToken';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function read(item) {
  try { return localStorage.getItem(item) || ''; } catch { return ''; }
}
function write(item, value) {
  try {
    if (value) localStorage.setItem(item, value); else localStorage.removeItem(item);
  } catch { /* storage off: the value lives until the page is left */ }
}

export const secrets = {
  get apiKey() { return read(KEY_ITEM); },
  set apiKey(v) { write(KEY_ITEM, v); },
  get controlToken() { return read(TOKEN_ITEM); },
  set controlToken(v) { write(TOKEN_ITEM, v); },
};

// Set once a control call was refused for want of a control token (401/40100), or
// when GET /_mock/health says the mock has one: the QA page then asks for it.
export const control = { tokenNeeded: false };

async function errorOf(resp) {
  let code = resp.status * 100;
  let message = resp.statusText || `HTTP ${resp.status}`;
  try {
    const body = await resp.json();
    if (body && typeof body.code === 'number') code = body.code;
    if (body && typeof body.message === 'string') message = body.message;
  } catch { /* not JSON: keep the status */ }
  return new ApiError(resp.status, code, message);
}

// One call. body: an object (sent as JSON) or {csv: text}; opts.key overrides the stored
// API key (used to try a key before keeping it); opts.text asks for the answer as text.
export async function call(method, path, body, opts = {}) {
  const headers = {};
  const key = opts.key !== undefined ? opts.key : secrets.apiKey;
  if (key) headers.Authorization = `Bearer ${key}`;
  const isControl = path.startsWith('/_mock/');
  if (isControl && secrets.controlToken) headers['X-Mock-Token'] = secrets.controlToken;
  let payload;
  if (body !== undefined && body !== null) {
    if (typeof body.csv === 'string') {
      headers['Content-Type'] = 'text/csv';
      payload = body.csv;
    } else {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 0, `the mock did not answer (${e.message})`);
  }
  if (!resp.ok) {
    const err = await errorOf(resp);
    if (isControl && err.code === 40100) control.tokenNeeded = true;
    throw err;
  }
  if (resp.status === 204) return null;
  if (opts.text) return resp.text();
  const type = resp.headers.get('Content-Type') || '';
  return type.includes('json') ? resp.json() : resp.text();
}

export const get = (path, opts) => call('GET', path, undefined, opts);
export const post = (path, body, opts) => call('POST', path, body, opts);
export const put = (path, body) => call('PUT', path, body);
export const patch = (path, body) => call('PATCH', path, body);
export const del = (path) => call('DELETE', path);

// Every item of a list endpoint (docs/owner-api.md §1 lists), following pageNextToken; at most
// `max` items so a huge team cannot stall the page.
export async function all(path, max = 1000) {
  const items = [];
  let token = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}pageLimit=100${token ? `&pageNextToken=${encodeURIComponent(token)}` : ''}`);
    items.push(...(page.items || []));
    token = page.pageNextToken;
  } while (token && items.length < max);
  return items;
}

export const enc = encodeURIComponent;
