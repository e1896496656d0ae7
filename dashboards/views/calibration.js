// Calibration: the fitted median transfer over the sweep's measured staircases, and board vs twin
// read-current CDFs per level (rram calibrate --from, rram twin); the write-verify bench (rram wv-bench).
import { $, api, fx, levelColor, COLORS } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';
import { el, fill, lines, row } from '../lib/dom.js';

export async function showFit(runId) {
  if (!runId) return;
  const d = await api(`/api/runs/${runId}/results/calibration-fit`);
  const t = d.transfer;
  const node = $('#transfer-plot');
  node.dataset.run = runId;
  chart(node, {
    title: t ? undefined : { text: 'this fit has no sweep (no transfer curve)', left: 'center', top: 'middle', textStyle: { fontSize: 13, color: '#888' } },
    legend: { top: 22 },
    tooltip: { trigger: 'item', formatter: (p) => lines(`${p.seriesName}: VG ${fx(p.data[0], 3)} V, G ${fx(p.data[1], 2)} µS`) },
    xAxis: axis('gate voltage VG (V)'),
    yAxis: axis('conductance G (µS)'),
    dataZoom: [{ type: 'inside' }],
    series: t ? [
      { name: 'measured (sweep)', type: 'scatter', symbolSize: 3, itemStyle: { color: '#1f77b4', opacity: 0.5 }, data: t.points.map((p) => [p.vg, p.g * 1e6]) },
      { name: 'fitted median transfer', type: 'line', showSymbol: false, lineStyle: { width: 2.5, color: '#d62728' }, data: t.curve.map((p) => [p.vg, p.g * 1e6]) },
    ] : [],
  }, () => [['kind', 'vg_V', 'g_S'], ...(t ? t.points.map((p) => ['measured', p.vg, p.g]).concat(t.curve.map((p) => ['fitted', p.vg, p.g])) : [])]);
  node.dataset.points = String(t?.points.length ?? 0);
  const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x.toPrecision(4) : '–');
  fill($('#fit-table'), row('th', ['parameter', 'value', 'unit', '±', 'status']),
    Object.entries(d.params).map(([k, p]) => row('td', [k, num(p.value), p.unit, num(p.uncertainty), el('td', { title: p.method || '' }, p.status)])));
}

export async function showTwin(runId) {
  if (!runId) return;
  const d = await api(`/api/runs/${runId}/results/twin`);
  fill($('#twin-summary'), `run ${d.against} with calibration ${d.calibration}: worst KS `, el('b', null, fx(d.worstKs, 3)), ` (noise floor ${fx(d.ksNoise, 3)}), `,
    el('span', { class: d.pass ? '' : 'error' }, `${d.pass ? 'PASS' : 'FAIL'} at max KS ${d.maxKs}`));
  const cdf = (xs) => xs.map((x) => x * 1e6).sort((a, b) => a - b).map((x, i, s) => [x, (i + 1) / s.length]);
  const series = d.samples.flatMap((l, k) => [
    { name: `level ${l.level ?? k} board`, type: 'line', step: 'end', showSymbol: false, lineStyle: { color: levelColor(k), width: 2 }, itemStyle: { color: levelColor(k) }, data: cdf(l.board_A) },
    { name: `level ${l.level ?? k} twin`, type: 'line', step: 'end', showSymbol: false, lineStyle: { color: levelColor(k), width: 1.5, type: 'dashed' }, itemStyle: { color: levelColor(k) }, data: cdf(l.twin_A) },
  ]);
  const node = $('#twin-plot');
  node.dataset.run = runId;
  chart(node, {
    legend: { type: 'scroll', top: 22 },
    tooltip: { trigger: 'item', formatter: (p) => lines(`${p.seriesName}: ${fx(p.data[0], 3)} µA, P = ${fx(p.data[1], 3)}`) },
    xAxis: axis('read current (µA)', { min: 0, scale: false }),
    yAxis: axis('cumulative probability', { min: 0, max: 1, scale: false }),
    dataZoom: [{ type: 'inside' }],
    series,
  }, () => [['level', 'source', 'current_A'], ...d.samples.flatMap((l, k) => l.board_A.map((x) => [l.level ?? k, 'board', x]).concat(l.twin_A.map((x) => [l.level ?? k, 'twin', x])))]);
  node.dataset.levels = String(d.samples.length);
  fill($('#twin-table'), row('th', ['level', 'quantity', 'n board', 'n twin', 'KS', 'median twin/board', 'σ twin/board']),
    d.rows.map((r) => row('td', [r.level, r.quantity, r.nBoard, r.nTwin, el('td', { class: r.pass ? '' : 'bad' }, fx(r.ks, 3)), fx(r.medianRatio, 3), fx(r.sigmaRatio, 2)])));
}

export async function showWvBench(runId) {
  if (!runId) return;
  const d = await api(`/api/runs/${runId}/results/wv-bench`);
  const lrs = d.rows.filter((r) => r.kind === 'lrs');
  const names = d.algos.map((a) => a.algo);
  const node = $('#wvb-plot');
  node.dataset.run = runId;
  chart(node, {
    legend: { top: 22 },
    tooltip: { trigger: 'item', formatter: (p) => lines(`${p.seriesName}, level ${p.data[2]}: ${fx(p.data[0], 1)} pulses per cell, σ robust ${fx(p.data[1], 3)} µA`) },
    xAxis: axis('pulses per cell, mean (forming and reset-verify included)'),
    yAxis: axis('robust sigma after verify (µA)'),
    dataZoom: [{ type: 'inside' }],
    series: names.map((n, k) => ({ name: n, type: 'scatter', symbolSize: 9, itemStyle: { color: COLORS[(k + 1) % COLORS.length] }, data: lrs.filter((r) => r.algo === n).map((r) => [r.pulsesMean, r.sigmaRobust_A[0] * 1e6, r.level]) })),
  }, () => [['algo', 'level', 'pulses_mean', 'sigma_robust_A'], ...lrs.map((r) => [r.algo, r.level, r.pulsesMean, r.sigmaRobust_A[0]])]);
  node.dataset.points = String(lrs.length);
  fill($('#wvb-table'), row('th', ['algorithm', 'run', 'LRS pulses/cell', 'p99', 'success', 'σ robust µA', 'vs igvva', 'energy pJ', ...d.times_s.map((t) => `BER @ ${t} s`)]),
    d.algos.map((a) => row('td', [a.algo, el('td', null, el('a', { href: `#cdf/${a.runId}` }, a.runId)), fx(a.lrsPulsesMean, 1), fx(a.lrsPulsesP99, 0), `${fx(100 * a.success, 2)} %`, fx(a.lrsSigmaRobustMean_A * 1e6, 3), fx(a.sigmaVsIgvva, 2), fx(a.energyMean_J * 1e12, 1), ...a.ber.map((b) => b.empirical.toExponential(1))])));
}
