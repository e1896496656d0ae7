// Level CDFs (seed 000 Fig. 2b): one curve per level over its programmed cells, linear or log
// current axis, decision bands drawn faintly under the curves (every level stays visible), failed
// cells apart as markers under the axis, and an overlay: the same run after a relaxation time, or
// another run (board vs twin, before vs after), dashed.
import { $, api, fx, levelColor, uA } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';
import { el, fill, lines, row } from '../lib/dom.js';

const FLOOR_UA = 1e-4; // log axis: currents at or below 0.1 nA are drawn at 0.1 nA

const curve = (xs, log) => {
  const s = xs.map((x) => x * 1e6).map((x) => (log ? Math.max(x, FLOOR_UA) : x)).sort((a, b) => a - b);
  return s.map((x, i) => [x, (i + 1) / s.length]);
};

/** The curves to compare with: a relaxation time of this run ("relax:K") or another run ("run:ID"). */
async function overlay(d, choice) {
  if (!choice) return undefined;
  if (choice.startsWith('relax:')) {
    const k = Number(choice.slice(6));
    return { label: `after ${d.levels[0].relax[k].t_s} s`, levels: d.levels.map((l) => ({ level: l.spec.level, samples_A: l.relax[k].samples_A })) };
  }
  const id = choice.slice(4);
  const o = await api(`/api/runs/${id}/results/level-cdf`);
  return { label: id, levels: o.levels.map((l) => ({ level: l.spec.level, samples_A: l.samples_A })) };
}

export function fillCompare(runs, d, current) {
  const sel = $('#cdf-compare');
  const keep = sel.value;
  const relax = (d?.levels[0]?.relax ?? []).map((r, k) => el('option', { value: `relax:${k}` }, `this run after ${r.t_s} s`));
  const others = runs.filter((r) => r.results.includes('level-cdf') && r.id !== current).map((r) => el('option', { value: `run:${r.id}` }, `run ${r.id} (${r.kind})`));
  fill(sel, el('option', { value: '' }, 'none'), relax, others);
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

export async function showCdf(runId, runs) {
  if (!runId) return;
  const d = await api(`/api/runs/${runId}/results/level-cdf`);
  if (runs) fillCompare(runs, d, runId);
  const log = $('#cdf-scale').value === 'log';
  const cmp = await overlay(d, $('#cdf-compare').value);
  const series = [];
  d.levels.forEach((l, k) => {
    const col = levelColor(k);
    series.push({
      name: `level ${l.spec.level}`,
      type: 'line',
      step: 'end',
      showSymbol: false,
      z: 3,
      lineStyle: { width: 2, color: col },
      itemStyle: { color: col },
      data: curve(l.samples_A, log),
      markArea: { silent: true, itemStyle: { color: col, opacity: 0.07 }, data: [[{ xAxis: Math.max(log ? FLOOR_UA : 0, l.spec.band_A[0] * 1e6) }, { xAxis: l.spec.band_A[1] * 1e6 }]] },
      markLine: { silent: true, symbol: 'none', label: { show: false }, lineStyle: { type: 'dotted', color: col }, data: [{ xAxis: Math.max(log ? FLOOR_UA : 0, l.spec.target_A * 1e6) }] },
    });
    const failed = (l.cells ?? []).filter((c) => c.status !== 'ok');
    if (failed.length)
      series.push({
        name: `level ${l.spec.level} not programmed (${failed.length})`,
        type: 'scatter',
        symbol: 'triangle',
        symbolSize: 7,
        itemStyle: { color: col, borderColor: '#000', borderWidth: 0.5 },
        data: failed.map((c) => [log ? Math.max(c.current_A * 1e6, FLOOR_UA) : c.current_A * 1e6, -0.04, c.status, c.row, c.col]),
        tooltip: { formatter: (p) => lines(`level ${l.spec.level}, row ${p.data[3]} col ${p.data[4]}: ${p.data[2]}, ${fx(p.data[0], 3)} µA`) },
      });
  });
  if (cmp)
    cmp.levels.forEach((l, k) =>
      series.push({ name: `level ${l.level} (${cmp.label})`, type: 'line', step: 'end', showSymbol: false, z: 2, lineStyle: { width: 1.5, type: 'dashed', color: levelColor(k) }, itemStyle: { color: levelColor(k) }, data: curve(l.samples_A, log) }),
    );
  const csv = () => [
    ['run', 'level', 'status', 'row', 'col', 'current_A'],
    ...d.levels.flatMap((l) => (l.cells ?? []).map((c) => [runId, l.spec.level, c.status, c.row, c.col, c.current_A])),
    ...(cmp ? cmp.levels.flatMap((l) => l.samples_A.map((x) => [cmp.label, l.level, 'ok', '', '', x])) : []),
  ];
  const node = $('#cdf-plot');
  node.dataset.run = runId;
  chart(node, {
    legend: { type: 'scroll', top: 22, left: 10, right: 160 },
    tooltip: { trigger: 'item', formatter: (p) => (p.seriesType === 'line' ? lines(`${p.seriesName}: ${fx(p.data[0], 3)} µA, P = ${fx(p.data[1], 3)}`) : undefined) },
    xAxis: axis(`read current at ${d.vread_V} V (µA)`, log ? { type: 'log', min: FLOOR_UA, scale: false } : { min: 0, scale: false }),
    yAxis: axis('cumulative probability', { min: -0.08, max: 1, scale: false, axisLabel: { formatter: (v) => (v < 0 ? '' : v.toFixed(1)) } }),
    dataZoom: [{ type: 'inside', xAxisIndex: 0 }],
    series,
  }, csv);
  node.dataset.levels = String(d.levels.length);
  node.dataset.run = runId;
  node.dataset.failed = String(d.levels.reduce((n, l) => n + (l.cells ?? []).filter((c) => c.status !== 'ok').length, 0));
  // Statistics are over programmed cells; cells that failed are counted apart, by reason.
  const fails = (f) => Object.entries(f ?? {}).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ') || '–';
  const sm = d.summary;
  fill($('#cdf-table'),
    sm ? el('tr', null, el('th', { colspan: 9, class: sm.belowThreshold ? 'bad' : '' }, `${sm.ok} of ${sm.cells} cells programmed (${fx(100 * sm.successRate, 1)} %${sm.belowThreshold ? `, below the required ${fx(100 * sm.minSuccess, 0)} %` : ''}); failures: ${fails(sm.failures)}`)) : null,
    row('th', ['level', 'target µA', 'n', 'ok', 'failures', 'median µA', 'σ robust µA', 'pulses', 'success']),
    d.levels.map((l) => row('td', [l.spec.level, uA(l.spec.target_A), l.stats.n, l.stats.nOk ?? l.stats.n, fails(l.stats.failures), uA(l.stats.median_A), uA(l.stats.sigmaRobust_A), fx(l.stats.pulsesMean, 1), `${fx(100 * l.stats.successRate, 1)}%`])),
    el('tr', null, el('th', { colspan: 9 }, 'adjacent-level overlap of programmed cells (empirical BER / Gaussian)')),
    d.overlaps.map((o) => el('tr', null, el('td', null, `${o.lower}-${o.upper}`), el('td', { colspan: 4 }, `threshold ${uA(o.threshold_A)} µA`), el('td', { colspan: 4 }, `${o.empiricalBer?.toExponential(2) ?? '–'} / ${o.gaussianBer?.toExponential(2) ?? '–'}`))));
  return d;
}
