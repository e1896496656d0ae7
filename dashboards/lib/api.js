// The server's JSON API, and the small formatting helpers every view uses.
export const $ = (s) => document.querySelector(s);
// Mutating requests carry a token: the user's (a server beyond loopback), else the per-server one
// /api/config gives this page (a cross-site page cannot read it).
let sessionToken = '';
export const setSessionToken = (t) => (sessionToken = t || '');
export async function api(path, opts = {}) {
  const token = $('#token').value || localStorage.getItem('rram-token') || sessionToken;
  const r = await fetch(path, { ...opts, headers: { 'content-type': 'application/json', ...(token ? { 'x-rram-token': token } : {}), ...(opts.headers || {}) } });
  const body = r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
// Numbers from JSON may be null (Infinity, NaN on the server side): show a dash, never throw.
export const fx = (x, d) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–');
export const uA = (a) => fx(a * 1e6, 2);
export const COLORS = ['#555', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
export const levelColor = (k) => COLORS[k % COLORS.length];
