// History: every stored run with its kind, status (and error), duration, size and parameters, links
// to its views and exports; run comparison side by side (parameters and level statistics, CDFs overlaid).
import { $, api, escapeHtml, fx, levelColor, uA } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';

const PARAM_KEYS = ['algo', 'levels', 'cellsPerLevel', 'map', 'array', 'model', 'dataset', 'mapping', 'device', 'trials', 'seed'];
const short = (p) => PARAM_KEYS.filter((k) => p?.[k] !== undefined).map((k) => `${k}=${typeof p[k] === 'object' ? JSON.stringify(p[k]) : p[k]}`).join(' ');
const duration = (r) => (r.ended ? `${fx((Date.parse(r.ended) - Date.parse(r.started)) / 1000, 1)} s` : r.status === 'running' ? 'running' : '–');

export function renderHistory(runs) {
  $('#runs').innerHTML = '<tr><th>run</th><th>kind</th><th>status</th><th>started</th><th>duration</th><th>events</th><th>MB</th><th>parameters</th><th>view</th><th>export</th></tr>' +
    runs.map((r) => `<tr data-run="${r.id}"><td>${r.id}</td><td>${r.kind}</td><td class="${r.status === 'failed' || r.status === 'aborted' ? 'bad' : ''}" title="${escapeHtml(r.error ?? '')}">${r.status}${r.active ? ' (active)' : ''}${r.error ? `: ${escapeHtml(r.error.slice(0, 80))}` : ''}</td><td>${r.started.replace('T', ' ').slice(0, 19)}</td><td>${duration(r)}</td><td>${r.events}${r.pruned ? ' (pruned)' : ''}</td><td>${r.eventsBytes !== undefined ? fx(r.eventsBytes / 1e6, 2) : '–'}</td><td class="params">${escapeHtml(short(r.params))}</td>` +
      `<td><a href="#live/${r.id}" title="replay the run's events">live</a>${r.results.includes('level-cdf') ? ` <a href="#cdf/${r.id}">CDF</a> <a href="#compare/${r.id}">compare</a>` : ''}${r.results.includes('infer') || r.results.includes('program-net') ? ` <a href="#inference/${r.id}">accuracy</a>` : ''}${r.results.includes('calibration-fit') ? ` <a href="#calibration/${r.id}">fit</a>` : ''}${r.results.includes('twin') ? ` <a href="#calibration/${r.id}">twin</a>` : ''}${r.results.includes('wv-bench') ? ` <a href="#wvbench/${r.id}">bench</a>` : ''}</td>` +
      `<td><a href="/api/runs/${r.id}/export?format=csv">csv</a> <a href="/api/runs/${r.id}/export?format=json">json</a>${r.events && !r.pruned ? (r.arrays ?? []).map((a) => ` <a href="/api/runs/${r.id}/export?format=hdf5&array=${a}" title="array ${a} in the ArC TWO layout">hdf5 a${a}</a>`).join('') : ''}</td></tr>`).join('');
}

export function fillCompareSelects(runs, wantA) {
  const opts = runs.filter((r) => r.results.includes('level-cdf')).map((r) => `<option value="${r.id}">${r.id} (${r.kind}${r.params?.algo ? ', ' + r.params.algo : ''})</option>`).join('');
  for (const [sel, k] of [[$('#cmp-a'), 0], [$('#cmp-b'), 1]]) {
    const keep = sel.value;
    sel.innerHTML = opts;
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
  const row = (label, x, y) => `<tr class="${String(x) !== String(y) ? 'diff' : ''}"><th>${label}</th><td>${escapeHtml(String(x ?? '–'))}</td><td>${escapeHtml(String(y ?? '–'))}</td></tr>`;
  $('#cmp-params').innerHTML = `<tr><th></th><th>A: ${a}</th><th>B: ${b}</th></tr>` + row('kind', ra.kind, rb.kind) + row('status', ra.status, rb.status) + row('board', ra.board?.id, rb.board?.id) + row('calibration', ra.calibration, rb.calibration) + keys.map((k) => row(k, ra.params?.[k], rb.params?.[k])).join('') +
    row('programmed', `${da.summary?.ok} / ${da.summary?.cells}`, `${db.summary?.ok} / ${db.summary?.cells}`);
  const n = Math.max(da.levels.length, db.levels.length);
  $('#cmp-levels').innerHTML = '<tr><th>level</th><th>A median µA</th><th>B median µA</th><th>A σ robust</th><th>B σ robust</th><th>A pulses</th><th>B pulses</th><th>A success</th><th>B success</th></tr>' +
    Array.from({ length: n }, (_, k) => {
      const x = da.levels[k]?.stats ?? {};
      const y = db.levels[k]?.stats ?? {};
      return `<tr><td>${k}</td><td>${uA(x.median_A)}</td><td>${uA(y.median_A)}</td><td>${uA(x.sigmaRobust_A)}</td><td>${uA(y.sigmaRobust_A)}</td><td>${fx(x.pulsesMean, 1)}</td><td>${fx(y.pulsesMean, 1)}</td><td>${fx(100 * x.successRate, 1)}%</td><td>${fx(100 * y.successRate, 1)}%</td></tr>`;
    }).join('');
  const cdf = (xs) => xs.map((x) => x * 1e6).sort((p, q) => p - q).map((x, i, s) => [x, (i + 1) / s.length]);
  const series = [[da, 'A', 'solid'], [db, 'B', 'dashed']].flatMap(([d, tag, type]) => d.levels.map((l, k) => ({ name: `${tag} level ${l.spec.level}`, type: 'line', step: 'end', showSymbol: false, lineStyle: { type, color: levelColor(k), width: 2 }, itemStyle: { color: levelColor(k) }, data: cdf(l.samples_A) })));
  chart('cmp-plot', {
    legend: { type: 'scroll', top: 22 },
    tooltip: { trigger: 'item', formatter: (p) => `${p.seriesName}: ${fx(p.data[0], 3)} µA, P = ${fx(p.data[1], 3)}` },
    xAxis: axis(`read current (µA)`, { min: 0, scale: false }),
    yAxis: axis('cumulative probability', { min: 0, max: 1, scale: false }),
    dataZoom: [{ type: 'inside' }],
    series,
  }, () => [['run', 'level', 'current_A'], ...[[a, da], [b, db]].flatMap(([id, d]) => d.levels.flatMap((l) => l.samples_A.map((x) => [id, l.spec.level, x])))]);
}
