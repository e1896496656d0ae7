// Inference: the Monte Carlo's accuracy distribution (histogram and CDF) with the read-back
// accuracy marked when the net was programmed onto the board, the confusion matrix, and accuracy
// vs levels over stored runs of the same model, dataset, mapping and clip: one line per device
// model, sorted by levels, with its p5-p95 band and read-back markers.
import { $, api, fx, COLORS } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';
import { el, fill, lines, row } from '../lib/dom.js';

/** An inference result, or a program-net result shaped like one (plus the read-back accuracy). */
export async function accuracyResult(runId) {
  const run = await api(`/api/runs/${runId}`);
  if (!run.results.includes('program-net')) return api(`/api/runs/${runId}/results/infer`);
  const p = await api(`/api/runs/${runId}/results/program-net`);
  const mc = p.monteCarlo;
  const one = { mean: p.quantizedAccuracy, std: 0, min: p.quantizedAccuracy, max: p.quantizedAccuracy, p5: p.quantizedAccuracy, p95: p.quantizedAccuracy };
  return {
    ...p, hardware: p.readbackAccuracy, device: { text: p.device }, trials: mc?.trials ?? 0, engine: mc?.engine ?? 'none',
    summary: mc?.summary ?? one, histogram: mc?.histogram ?? [], cdf: mc?.cdf ?? [], confusion: p.readbackConfusion,
  };
}

const readbackLine = (hw) => (hw === undefined ? {} : { markLine: { silent: true, symbol: 'none', lineStyle: { color: '#2ca02c', width: 2.5 }, label: { formatter: `read-back ${fx(hw * 100, 2)} %`, color: '#2ca02c' }, data: [{ xAxis: hw * 100 }] } });

const pc = (x) => (x === undefined || x === null || Number.isNaN(x) ? '-' : (100 * x).toFixed(2));

/**
 * A progressive fine-tuning run (program-net --fine-tune progressive): one row per layer as it is
 * fine-tuned, predicted and programmed, then the final table: read-back beside the software, the
 * net without fine-tuning and the prediction, with the share of the gap recovered. Hidden for runs
 * without fine-tuning.
 */
export async function showFineTune(runId) {
  const card = $('#ft-card');
  const run = await api(`/api/runs/${runId}`);
  if (run.kind !== 'program-net' || !run.params?.fineTune) {
    card.hidden = true;
    return;
  }
  let ft;
  try {
    ft = await api(`/api/runs/${runId}/results/fine-tune`);
  } catch {
    card.hidden = false;
    fill($('#ft-summary'), `run ${runId}: fine-tuning starts (no layer prepared yet)`);
    fill($('#ft-layers'));
    fill($('#ft-table'));
    return;
  }
  card.hidden = false;
  const done = ft.layers.filter((l) => l.status === 'programmed').length;
  fill($('#ft-summary'), `run ${runId}: ${done} of ${ft.layers.length} layers programmed; ${ft.images} training images measured per layer, ${ft.epochs} epochs (Adam, lr ${ft.lr}), ${ft.reads} reads per cell`);
  $('#ft-layers').dataset.programmed = String(done);
  fill($('#ft-layers'), row('th', ['layer', 'tiles', 'status', 'fine-tuned before it', 'accuracy on its images (before -> after) %', 'prediction before it, mean (p5..p95) %', 'gap recovered by then', 'programming s']),
    ft.layers.map((l) => row('td', [l.name, l.tiles, l.status, l.fineTune ? l.fineTune.layers.join(', ') : '-', l.fineTune ? `${pc(l.fineTune.trainAccuracyBefore)} -> ${pc(l.fineTune.trainAccuracyAfter)}` : '-', l.prediction ? `${pc(l.prediction.mean)} (${pc(l.prediction.p5)}..${pc(l.prediction.p95)})` : '-', l.recovered === undefined || l.recovered === null ? '-' : `${(100 * l.recovered).toFixed(1)} %`, l.programming_s === undefined ? '-' : l.programming_s.toFixed(1)], { dataset: { status: l.status } })));
  const t = ft.table;
  if (!t) {
    fill($('#ft-table'));
    return;
  }
  fill($('#ft-table'), row('th', ['', 'accuracy %']), [
    ['software (float weights)', pc(t.software)],
    [`without fine-tuning (${t.baseline ? t.baseline.source : 'unknown: no baseline given'})`, pc(t.baseline?.readback)],
    ['prediction before layer 1, mean (p5..p95)', t.prediction ? `${pc(t.prediction.mean)} (${pc(t.prediction.p5)}..${pc(t.prediction.p95)})` : '-'],
    ['read-back with fine-tuning, before the digital re-fit', pc(t.readbackBeforeRefit)],
    [`read-back with fine-tuning${refitWords(ft.refit)}`, pc(t.readback)],
    ['the same on the board (analog MVM)', t.onBoard ? pc(t.onBoard.accuracy) : '-'],
    ['share of the gap recovered', t.recovered === undefined || t.recovered === null ? '-' : `${(100 * t.recovered).toFixed(1)} %`],
  ].map((r) => row('td', r)));
  $('#ft-table').dataset.readback = String(t.readback);
}

/** The final re-fit, as the CLI says it: kept or not, and the outputs it was fitted on (MVM-measured or from the read-back, with why). */
function refitWords(r) {
  if (!r) return '';
  if (!r.kept) return ' (digital re-fit not kept: it did not improve the training images)';
  const src = r.outputs?.source === 'mvm' ? "the last layer's outputs measured through the board's MVM" : `its outputs computed from the read-back${r.outputs?.reason ? ` (${r.outputs.reason})` : ''}`;
  return ` and the digital scale and bias re-fitted on ${src}`;
}

const pcu = (x) => `${fx(100 * x, 2)} %`;
const band = (iv) => `${fx(100 * iv[0], 2)}..${fx(100 * iv[1], 2)} %`;

/**
 * A net programmed onto the board, as the CLI prints it: the read-back beside the prediction made
 * before it (mean and 5-95 % interval, where the read-back fell and whether inside), the posterior
 * that fixes the unprogrammed cells to what they read, and the interval's variance by source.
 */
function programNetSummary(r) {
  const p = r.programming;
  const s = p.summary ?? {};
  const rows = [['float (trained weights)', pcu(r.floatAccuracy)], ['quantized, noise-free', pcu(r.quantizedAccuracy)], ['from the read-back currents', pcu(r.hardware)]];
  const pred = r.prediction;
  if (pred) {
    rows.push([`prediction before the read-back, ${pred.trials} trials: mean (p5..p95)`, `${pcu(pred.summary.mean)} (${band(pred.interval)})`]);
    rows.push(['read-back in the prediction', `percentile ${fx(100 * pred.readbackPercentile, 0)}: ${pred.inside ? 'inside' : 'OUTSIDE'} the 5-95 % interval`]);
  }
  const post = r.posterior;
  if (post) rows.push([`posterior (${post.fixedCells} unprogrammed cells fixed to what they read): mean (p5..p95)`, `${pcu(post.summary.mean)} (${band(post.interval)}), read-back ${post.inside ? 'inside' : 'OUTSIDE'}, percentile ${fx(100 * post.readbackPercentile, 0)}`]);
  const src = pred?.sources;
  return el('div', { class: 'program-net' },
    el('p', null, `run ${r.runId ?? ''}: programmed ${s.ok ?? '–'} of ${p.cells} cells in ${p.tiles} tiles with ${p.algo ?? '–'}, ${p.pulses} pulses`),
    el('table', { id: 'pn-table' }, row('th', ['accuracy', '']), rows.map((x) => row('td', x))),
    src ? el('p', { id: 'pn-sources' }, `prediction interval variance by source: devices ${fx(100 * src.devices, 0)} %, measured distributions ${fx(100 * src.measuredDistributions, 0)} %, failure rates ${fx(100 * src.failureRates, 0)} %`)
      : pred ? el('p', { id: 'pn-sources' }, 'variance by source: not computed for this run (its prediction drew devices from fixed level distributions, without the bootstrap and failure-rate uncertainty `rram program-net` adds)') : null,
    pred ? null : el('p', null, 'no Monte Carlo prediction in this result (ideal device)'));
}

export async function showInference(runId) {
  if (!runId) return;
  await showFineTune(runId).catch(() => ($('#ft-card').hidden = true));
  const r = await accuracyResult(runId);
  const hw = r.hardware;
  const mcLine = (r.aborted ? `aborted after ${r.aborted.trialsDone} of ${r.aborted.trialsAsked} trials; those trials: ` : '') + (hw !== undefined ? 'Monte Carlo: ' : '') +
    `${r.model} on ${r.dataset}, ${r.levels} levels, ${r.mapping.scheme}, device ${r.device.text}: mean ${(100 * r.summary.mean).toFixed(2)} % ± ${(100 * r.summary.std).toFixed(2)} (min ${(100 * r.summary.min).toFixed(2)}, p5 ${(100 * r.summary.p5).toFixed(2)}), noise-free ${(100 * r.quantizedAccuracy).toFixed(2)} %, float ${(100 * r.floatAccuracy).toFixed(2)} %, ${r.trials} trials, ${r.engine}`;
  fill($('#infer-summary'), hw !== undefined ? programNetSummary(r) : null, el('p', { class: 'mc-line' }, mcLine));
  $('#confusion-title').textContent = hw !== undefined ? 'Confusion matrix (from the read-back)' : 'Confusion matrix (all trials)';
  const hist = r.histogram.map((h) => [(h.lo + h.hi) * 50, h.count, h.lo * 100, h.hi * 100]);
  const width = r.histogram.length ? (r.histogram[0].hi - r.histogram[0].lo) * 100 : 1;
  const lo = Math.floor(Math.min(r.histogram[0]?.lo ?? r.summary.min, hw ?? 1) * 100 - width);
  const hi = Math.ceil(Math.max(r.histogram[r.histogram.length - 1]?.hi ?? r.summary.max, hw ?? 0) * 100 + width);
  const h = $('#acc-hist');
  h.dataset.run = runId;
  chart(h, {
    tooltip: { trigger: 'item', formatter: (p) => (p.data ? lines(`${fx(p.data[2], 2)}-${fx(p.data[3], 2)} %: ${p.data[1]} trials`) : '') },
    xAxis: axis('accuracy (%)', { min: lo, max: hi, scale: false }),
    yAxis: axis('trials', { min: 0, scale: false, minInterval: 1 }),
    series: [{ name: 'Monte Carlo trials', type: 'bar', barWidth: '95%', itemStyle: { color: '#3a8ee6' }, data: hist, ...readbackLine(hw) }],
  }, () => [['lo_pct', 'hi_pct', 'trials'], ...hist.map((x) => [x[2], x[3], x[1]]), ...(hw !== undefined ? [['readback_pct', hw * 100, '']] : [])]);
  h.dataset.readback = hw === undefined ? '' : String(hw * 100);
  const c = $('#acc-cdf');
  c.dataset.run = runId;
  chart(c, {
    tooltip: { trigger: 'axis' },
    xAxis: axis('accuracy (%)', { min: lo, max: hi, scale: false }),
    yAxis: axis('cumulative probability', { min: 0, max: 1, scale: false }),
    series: [{ name: 'prediction', type: 'line', step: 'end', showSymbol: false, lineStyle: { color: '#d62728', width: 2 }, data: r.cdf.map((x) => [x.accuracy * 100, x.p]), ...readbackLine(hw) }],
  }, () => [['accuracy_pct', 'p'], ...r.cdf.map((x) => [x.accuracy * 100, x.p])]);
  const rowMax = r.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  fill($('#confusion'), row('th', ['true \\ pred', ...r.confusion.map((_, k) => k)]),
    r.confusion.map((cells, k) => el('tr', null, el('th', null, k), cells.map((v) => el('td', { style: { background: `rgba(58,142,230,${(v / Math.max(1, rowMax[k])).toFixed(2)})` } }, (100 * v / Math.max(1, rowMax[k])).toFixed(1))))));
  $('#confusion').dataset.run = runId;
  await accuracyVsLevels(r);
}

async function accuracyVsLevels(r) {
  // Monte Carlo and program-net runs (an on-board evaluation, kind infer too, holds no accuracy distribution).
  const runs = (await api('/api/runs')).filter((x) => (x.kind === 'infer' || x.kind === 'program-net') && x.status === 'completed' && !x.results.includes('infer-on-board'));
  const pts = [];
  for (const x of runs) {
    try {
      const o = await accuracyResult(x.id);
      if (o.model === r.model && o.dataset === r.dataset && o.mapping.scheme === r.mapping.scheme && (o.mapping.clip ?? 1) === (r.mapping.clip ?? 1))
        pts.push({ run: x.id, device: o.device.text, levels: o.levels, mean: o.summary.mean * 100, p5: o.summary.p5 * 100, p95: (o.summary.p95 ?? o.summary.max) * 100, readback: o.hardware === undefined ? undefined : o.hardware * 100 });
    } catch { /* a result still being written */ }
  }
  const devices = [...new Set(pts.map((p) => p.device))].sort();
  const series = devices.flatMap((dev, k) => {
    const col = COLORS[(k + 1) % COLORS.length];
    // One point per level count (the newest run's when repeated); sorted by levels, never by run order.
    const by = new Map();
    for (const p of pts.filter((p) => p.device === dev)) if (!by.has(p.levels)) by.set(p.levels, p);
    const s = [...by.values()].sort((a, b) => a.levels - b.levels);
    const rb = pts.filter((p) => p.device === dev && p.readback !== undefined);
    const band = s.map((p) => [p.levels, p.p5, p.p95]);
    return [
      // The p5-p95 band as one polygon through every point (stacked areas misbehave on a log axis).
      { name: `${dev} p5-p95`, type: 'custom', silent: true, z: 1, itemStyle: { color: col, opacity: 0.18 }, data: band, encode: { x: 0, y: [1, 2] },
        renderItem: (params, api) => (params.dataIndex !== 0 ? null : { type: 'polygon', shape: { points: band.map((p) => api.coord([p[0], p[2]])).concat(band.map((p) => api.coord([p[0], p[1]])).reverse()) }, style: { fill: col, opacity: 0.18 } }) },
      { name: `${dev} mean`, type: 'line', symbolSize: 6, lineStyle: { color: col, width: 2 }, itemStyle: { color: col }, data: s.map((p) => [p.levels, p.mean]) },
      ...(rb.length ? [{ name: `${dev} read-back`, type: 'scatter', symbol: 'diamond', symbolSize: 11, itemStyle: { color: '#2ca02c', borderColor: col, borderWidth: 2 }, data: rb.map((p) => [p.levels, p.readback]) }] : []),
    ];
  });
  const node = $('#acc-levels');
  chart(node, {
    legend: { type: 'scroll', top: 22 },
    tooltip: { trigger: 'item', formatter: (p) => lines(`${p.seriesName}: ${p.data[0]} levels, ${fx(p.data[1], 2)} %`) },
    xAxis: axis('levels per device', { type: 'log', logBase: 2, scale: false, min: 2 }),
    yAxis: axis('accuracy (%)'),
    dataZoom: [{ type: 'inside' }],
    series,
  }, () => [['run', 'device', 'levels', 'mean_pct', 'p5_pct', 'p95_pct', 'readback_pct'], ...pts.map((p) => [p.run, p.device, p.levels, p.mean, p.p5, p.p95, p.readback])]);
  node.dataset.levels = JSON.stringify(series.filter((s) => s.name.endsWith(' mean')).map((s) => s.data.map((d) => d[0])));
}
