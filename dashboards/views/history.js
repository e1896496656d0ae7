// History: every stored run with its kind, status (and error), duration, size and parameters, links
// to its views and exports; run comparison side by side (parameters and level statistics, CDFs overlaid).
import { $, api, fx, levelColor, uA } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';
import { el, fill, lines, row } from '../lib/dom.js';
import { readMetadata } from '../lib/metadata.js';

const PARAM_KEYS = ['algo', 'levels', 'cellsPerLevel', 'map', 'array', 'model', 'dataset', 'mapping', 'device', 'trials', 'seed'];
const short = (p) => PARAM_KEYS.filter((k) => p?.[k] !== undefined).map((k) => `${k}=${typeof p[k] === 'object' ? JSON.stringify(p[k]) : p[k]}`).join(' ');
const duration = (r) => (r.ended ? `${fx((Date.parse(r.ended) - Date.parse(r.started)) / 1000, 1)} s` : r.status === 'running' ? 'running' : '–');

// ---- metadata: shown, searched, filtered, edited -----------------------------------------------
const META = ['sample', 'wafer', 'die', 'device', 'operator'];
const metaText = (m) => (m ? [...META.filter((k) => m[k] !== undefined).map((k) => `${k} ${m[k]}`), ...(m.temperature_C !== undefined ? [`${m.temperature_C} °C`] : []), ...(m.tags ?? []).map((t) => `#${t}`)].join(' · ') : '');

/** The text a search word is looked for in: the whole run, or one field of it. */
function haystack(r, field) {
  const m = r.metadata ?? {};
  if (field === 'tags') return (m.tags ?? []).join(' ');
  if (field === 'kind' || field === 'status') return String(r[field] ?? '');
  if (field) return String(m[field] ?? '');
  return [r.id, r.kind, r.status, short(r.params), ...META.map((k) => m[k] ?? ''), m.notes ?? '', ...(m.tags ?? [])].join(' ');
}

/** The runs the history's filters let through (every word of the search must match, case-insensitive). */
export function filterRuns(runs) {
  const words = $('#hist-search').value.toLowerCase().split(/\s+/).filter(Boolean);
  const field = $('#hist-field').value;
  const lo = $('#hist-tmin').value === '' ? -Infinity : Number($('#hist-tmin').value);
  const hi = $('#hist-tmax').value === '' ? Infinity : Number($('#hist-tmax').value);
  const archived = $('#hist-archived').checked;
  return runs.filter((r) => {
    if (r.archived && !archived) return false;
    const t = r.metadata?.temperature_C;
    if ((lo > -Infinity || hi < Infinity) && (t === undefined || t < lo || t > hi)) return false;
    const h = haystack(r, field).toLowerCase();
    return words.every((w) => h.includes(w));
  });
}

let editing = null;
export function editMetadata(r) {
  editing = r.id;
  const f = $('#meta-form');
  f.hidden = false;
  $('#meta-run').textContent = r.id;
  $('#meta-message').textContent = '';
  const m = r.metadata ?? {};
  for (const e of f.elements) if (e.name) e.value = e.name === 'tags' ? (m.tags ?? []).join(', ') : m[e.name] ?? '';
}

/** The form's metadata: empty fields left out, temperature a number, tags a list (the server validates). */
const formMetadata = () => readMetadata([...$('#meta-form').elements].filter((e) => e.name).map((e) => [e.name, e]));

export async function saveMetadata() {
  if (!editing) return false;
  try {
    await api(`/api/runs/${editing}/metadata`, { method: 'PUT', body: JSON.stringify(formMetadata()) });
    $('#meta-form').hidden = true;
    editing = null;
    return true;
  } catch (e) {
    $('#meta-message').textContent = e.message;
    return false;
  }
}

// ---- resume: an interrupted run goes back on its board's queue (POST /api/runs/<id>/resume) ----
const RESUMABLE = ['characterize', 'program', 'program-net'];
const resumeChecks = new Map();

/** The station's answer whether a run can be resumed, asked once per state of the run (status, events). */
function resumeCheck(r) {
  const key = `${r.status}:${r.events}`;
  const had = resumeChecks.get(r.id);
  if (had?.key === key) return had.answer;
  const answer = r.status === 'completed' ? Promise.resolve({ resumable: false, reason: 'it completed: there is nothing to resume' }) : api(`/api/runs/${r.id}/resume`).catch((e) => ({ resumable: false, reason: e.message }));
  resumeChecks.set(r.id, { key, answer });
  return answer;
}

/** The Resume button of a run that did not end (killed, failed, aborted or halted): disabled, with the reason beside it, when it cannot go on here. */
function resumeButton(r, onAction) {
  if (r.active || (r.status === 'completed' && !RESUMABLE.includes(r.kind))) return null;
  const b = el('button', { type: 'button', class: 'small', disabled: true, title: 'queue the same job again with --resume on this board: the run goes on in its folder, no done cell pulsed again', dataset: { action: 'resume', run: r.id } }, 'resume');
  const why = el('span', { class: 'small resume-why', dataset: { run: r.id } }, 'checking…');
  b.addEventListener('click', () => onAction?.('resume', r));
  resumeCheck(r).then((c) => {
    b.disabled = !c.resumable;
    b.dataset.checked = '1';
    fill(why, c.resumable ? '' : c.reason ?? 'cannot be resumed');
  });
  return el('span', null, b, ' ', why);
}

export function renderHistory(allRuns, onAction) {
  const runs = filterRuns(allRuns);
  $('#hist-count').textContent = `${runs.length} of ${allRuns.length} runs`;
  const act = (r, name, text, title) => {
    const b = el('button', { type: 'button', class: 'small', title, dataset: { action: name, run: r.id } }, text);
    b.addEventListener('click', () => onAction?.(name, r));
    return b;
  };
  // A run still being written cannot be deleted (the server refuses too).
  const actions = (r) => [act(r, 'edit', 'edit', 'edit sample, wafer, die, device, operator, temperature, notes, tags'), ' ', act(r, r.archived ? 'unarchive' : 'archive', r.archived ? 'unarchive' : 'archive', r.archived ? 'show it in the history again' : 'hide it from the history (files kept)'), ' ', r.status === 'running' ? null : act(r, 'delete', 'delete', 'delete the run and its files (asks first)'), ' ', resumeButton(r, onAction)];
  const links = (r) => {
    const out = [el('a', { href: `#live/${r.id}`, title: "replay the run's events" }, 'live')];
    const add = (href, text) => out.push(' ', el('a', { href }, text));
    if (r.results.includes('level-cdf')) { add(`#cdf/${r.id}`, 'CDF'); add(`#compare/${r.id}`, 'compare'); }
    if (r.results.includes('infer') || r.results.includes('program-net')) add(`#inference/${r.id}`, 'accuracy');
    if (r.results.includes('calibration-fit')) add(`#calibration/${r.id}`, 'fit');
    if (r.results.includes('twin')) add(`#calibration/${r.id}`, 'twin');
    if (r.results.includes('wv-bench')) add(`#wvbench/${r.id}`, 'bench');
    return out;
  };
  const exports = (r) => {
    const out = [el('a', { href: `/api/runs/${r.id}/export?format=csv` }, 'csv'), ' ', el('a', { href: `/api/runs/${r.id}/export?format=json` }, 'json'), ' ', el('a', { href: `/api/runs/${r.id}/export?format=event-model`, title: 'Bluesky event-model documents (JSON lines)' }, 'bluesky')];
    if (r.events && !r.pruned) for (const a of r.arrays ?? []) out.push(' ', el('a', { href: `/api/runs/${r.id}/export?format=hdf5&array=${a}`, title: `array ${a} in the ArC TWO layout` }, `hdf5 a${a}`));
    return out;
  };
  fill($('#runs'), row('th', ['run', 'kind', 'status', 'started', 'duration', 'events', 'MB', 'parameters', 'metadata', 'view', 'export', '']),
    runs.map((r) => row('td', [
      r.id,
      r.kind,
      el('td', { class: r.status === 'failed' || r.status === 'aborted' ? 'bad' : '', title: r.error ?? '' }, `${r.status}${r.active ? ' (active)' : ''}${r.error ? `: ${r.error.slice(0, 80)}` : ''}`),
      r.started.replace('T', ' ').slice(0, 19),
      duration(r),
      `${r.events}${r.pruned ? ' (pruned)' : ''}`,
      r.eventsBytes !== undefined ? fx(r.eventsBytes / 1e6, 2) : '–',
      el('td', { class: 'params' }, short(r.params)),
      el('td', { class: 'meta', title: r.metadata?.notes ?? '' }, metaText(r.metadata)),
      el('td', null, links(r)),
      el('td', null, exports(r)),
      el('td', null, actions(r)),
    ], { dataset: { run: r.id }, class: r.archived ? 'archived' : '' })));
}

export function fillCompareSelects(runs, wantA) {
  const opts = runs.filter((r) => r.results.includes('level-cdf'));
  for (const [sel, k] of [[$('#cmp-a'), 0], [$('#cmp-b'), 1]]) {
    const keep = sel.value;
    fill(sel, opts.map((r) => el('option', { value: r.id }, `${r.id} (${r.kind}${r.params?.algo ? ', ' + r.params.algo : ''})`)));
    if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
    else if (sel.options.length > k) sel.selectedIndex = k;
  }
  if (wantA && [...$('#cmp-a').options].some((o) => o.value === wantA)) $('#cmp-a').value = wantA;
}

export async function showCompare() {
  const a = $('#cmp-a').value;
  const b = $('#cmp-b').value;
  if (!a || !b) return;
  const [ra, rb, da, db] = await Promise.all([api(`/api/runs/${a}`), api(`/api/runs/${b}`), api(`/api/runs/${a}/results/level-cdf`), api(`/api/runs/${b}/results/level-cdf`)]);
  const keys = [...new Set([...Object.keys(ra.params ?? {}), ...Object.keys(rb.params ?? {})])].filter((k) => typeof (ra.params?.[k] ?? rb.params?.[k]) !== 'object');
  const pair = (label, x, y) => el('tr', { class: String(x) !== String(y) ? 'diff' : '' }, el('th', null, label), el('td', null, String(x ?? '–')), el('td', null, String(y ?? '–')));
  fill($('#cmp-params'), row('th', ['', `A: ${a}`, `B: ${b}`]), pair('kind', ra.kind, rb.kind), pair('status', ra.status, rb.status), pair('board', ra.board?.id, rb.board?.id), pair('calibration', ra.calibration, rb.calibration), keys.map((k) => pair(k, ra.params?.[k], rb.params?.[k])),
    pair('programmed', `${da.summary?.ok} / ${da.summary?.cells}`, `${db.summary?.ok} / ${db.summary?.cells}`));
  const n = Math.max(da.levels.length, db.levels.length);
  fill($('#cmp-levels'), row('th', ['level', 'A median µA', 'B median µA', 'A σ robust', 'B σ robust', 'A pulses', 'B pulses', 'A success', 'B success']),
    Array.from({ length: n }, (_, k) => {
      const x = da.levels[k]?.stats ?? {};
      const y = db.levels[k]?.stats ?? {};
      return row('td', [k, uA(x.median_A), uA(y.median_A), uA(x.sigmaRobust_A), uA(y.sigmaRobust_A), fx(x.pulsesMean, 1), fx(y.pulsesMean, 1), `${fx(100 * x.successRate, 1)}%`, `${fx(100 * y.successRate, 1)}%`]);
    }));
  const cdf = (xs) => xs.map((x) => x * 1e6).sort((p, q) => p - q).map((x, i, s) => [x, (i + 1) / s.length]);
  const series = [[da, 'A', 'solid'], [db, 'B', 'dashed']].flatMap(([d, tag, type]) => d.levels.map((l, k) => ({ name: `${tag} level ${l.spec.level}`, type: 'line', step: 'end', showSymbol: false, lineStyle: { type, color: levelColor(k), width: 2 }, itemStyle: { color: levelColor(k) }, data: cdf(l.samples_A) })));
  $('#cmp-plot').dataset.run = `${a}-vs-${b}`;
  chart('cmp-plot', {
    legend: { type: 'scroll', top: 22 },
    tooltip: { trigger: 'item', formatter: (p) => lines(`${p.seriesName}: ${fx(p.data[0], 3)} µA, P = ${fx(p.data[1], 3)}`) },
    xAxis: axis(`read current (µA)`, { min: 0, scale: false }),
    yAxis: axis('cumulative probability', { min: 0, max: 1, scale: false }),
    dataZoom: [{ type: 'inside' }],
    series,
  }, () => [['run', 'level', 'current_A'], ...[[a, da], [b, db]].flatMap(([id, d]) => d.levels.flatMap((l) => l.samples_A.map((x) => [id, l.spec.level, x])))]);
}
