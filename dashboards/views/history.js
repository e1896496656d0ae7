// History: every stored run with its kind, status (and error), duration, size and parameters, links
// to its views and exports; run comparison side by side (parameters and level statistics, CDFs overlaid).
import { $, api, fx, levelColor, uA } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';
import { el, fill, lines, row } from '../lib/dom.js';

const PARAM_KEYS = ['algo', 'levels', 'cellsPerLevel', 'map', 'array', 'model', 'dataset', 'mapping', 'device', 'trials', 'seed'];
const short = (p) => PARAM_KEYS.filter((k) => p?.[k] !== undefined).map((k) => `${k}=${typeof p[k] === 'object' ? JSON.stringify(p[k]) : p[k]}`).join(' ');
const duration = (r) => (r.ended ? `${fx((Date.parse(r.ended) - Date.parse(r.started)) / 1000, 1)} s` : r.status === 'running' ? 'running' : '–');

export function renderHistory(runs) {
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
    const out = [el('a', { href: `/api/runs/${r.id}/export?format=csv` }, 'csv'), ' ', el('a', { href: `/api/runs/${r.id}/export?format=json` }, 'json')];
    if (r.events && !r.pruned) for (const a of r.arrays ?? []) out.push(' ', el('a', { href: `/api/runs/${r.id}/export?format=hdf5&array=${a}`, title: `array ${a} in the ArC TWO layout` }, `hdf5 a${a}`));
    return out;
  };
  fill($('#runs'), row('th', ['run', 'kind', 'status', 'started', 'duration', 'events', 'MB', 'parameters', 'view', 'export']),
    runs.map((r) => row('td', [
      r.id,
      r.kind,
      el('td', { class: r.status === 'failed' || r.status === 'aborted' ? 'bad' : '', title: r.error ?? '' }, `${r.status}${r.active ? ' (active)' : ''}${r.error ? `: ${r.error.slice(0, 80)}` : ''}`),
      r.started.replace('T', ' ').slice(0, 19),
      duration(r),
      `${r.events}${r.pruned ? ' (pruned)' : ''}`,
      r.eventsBytes !== undefined ? fx(r.eventsBytes / 1e6, 2) : '–',
      el('td', { class: 'params' }, short(r.params)),
      el('td', null, links(r)),
      el('td', null, exports(r)),
    ], { dataset: { run: r.id } })));
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
