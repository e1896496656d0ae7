// The live run: one state per followed run, fed by the server's compacted SSE deltas; progress,
// warnings, write-verify traces (one followed cell per level) and the heat maps draw from it.
import { $, fx, levelColor } from '../lib/api.js';
import { el, fill } from '../lib/dom.js';
import { axis, chart } from '../lib/charts.js';
import { drawMaps } from './map.js';

export const live = { runId: null, kind: null, params: null, board: null, cells: new Map(), dirty: new Set(), traces: new Map(), warnings: [], progress: null, end: null, es: null, lastSeq: -1, latencies: [], seqRate: [], updates: 0, onEnd: null };
window.__rram = live;

export function follow(runId) {
  if (live.runId === runId) return;
  live.es?.close();
  Object.assign(live, { runId, kind: null, params: null, cells: new Map(), dirty: new Set(), traces: new Map(), warnings: [], progress: null, end: null, lastSeq: -1, updates: 0 });
  $('#run-id').textContent = runId;
  document.querySelectorAll('.map-run').forEach((e) => (e.textContent = runId));
  const es = new EventSource(`/api/runs/${runId}/stream`);
  live.es = es;
  es.addEventListener('delta', (m) => applyDelta(JSON.parse(m.data)));
  es.addEventListener('end', () => { es.close(); live.onEnd?.(runId); });
  drawLive();
}

let frame = 0;
function applyDelta(d) {
  if (d.runId !== live.runId) return;
  if (d.kind) { live.kind = d.kind; live.params = d.params; live.board = d.board; }
  // The changed cells, for the heat maps to draw only those (map.js takes and empties the set).
  live.dirty ??= new Set();
  for (const c of d.cells) {
    const k = `${c[0]}:${c[1]}:${c[2]}`;
    live.cells.set(k, c);
    live.dirty.add(k);
  }
  for (const t of d.traces) live.traces.set(t.level, t);
  live.warnings.push(...d.warnings);
  if (d.progress) live.progress = d.progress;
  if (d.end) live.end = d.end;
  const now = performance.now();
  live.seqRate.push([now, d.seq]);
  while (live.seqRate.length > 2 && now - live.seqRate[0][0] > 3000) live.seqRate.shift();
  live.lastSeq = d.seq;
  // Several deltas in one frame draw once; the latency is measured for each after drawing.
  const t = d.t;
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; drawLive(); live.updates++; });
  requestAnimationFrame(() => {
    live.latencies.push(Date.now() - t);
    if (live.latencies.length > 500) live.latencies.shift();
  });
}

export function drawLive() {
  const p = live.progress;
  const status = live.end ? live.end.status : live.kind ? 'running' : live.runId ? 'starting' : 'idle';
  $('#status').textContent = status;
  $('#status').className = `badge ${status}`;
  $('#run-kind').textContent = live.kind || '';
  if (p) {
    $('#progress-bar').style.width = `${(100 * p.done) / Math.max(1, p.total)}%`;
    // No rate or ETA before a first measured interval (never "NaN s").
    const eta = p.done > 0 && Number.isFinite(p.eta_s) ? `, ETA ${fx(p.eta_s, 0)} s` : '';
    const rate = p.done > 0 && Number.isFinite(p.rate_per_s) ? ` (${fx(p.rate_per_s, 1)}/s${eta})` : '';
    $('#progress-text').textContent = `${p.phase}: ${p.done} / ${p.total}${rate}`;
  } else if (live.runId && !live.end) $('#progress-text').textContent = 'waiting for the first event';
  if (live.end) {
    $('#progress-text').textContent = `${p ? $('#progress-text').textContent + ' — ' : ''}${live.end.status}${live.end.error ? ': ' + live.end.error : ''}`;
    $('#progress-text').classList.toggle('error', live.end.status !== 'completed');
  } else $('#progress-text').classList.remove('error');
  $('#abort').disabled = !!live.end || !live.runId;
  const s = [...live.latencies].sort((a, b) => a - b);
  if (s.length) $('#latency').textContent = `p50 ${s[Math.floor(s.length / 2)]} ms, p95 ${s[Math.floor(s.length * 0.95)]} ms`;
  const r = live.seqRate;
  if (r.length > 1) $('#evrate').textContent = Math.round(((r[r.length - 1][1] - r[0][1]) * 1000) / Math.max(1, r[r.length - 1][0] - r[0][0]));
  fill($('#warnings'), live.warnings.slice(-30).map((w) => el('li', null, w.message)));
  drawTraces();
  drawMaps(live);
}

const stepped = () => `stepped voltage (V): ${live.params?.algo === 'ispva' ? 'VTE' : 'VG'} for SET, −VSL for RESET`;

function drawTraces() {
  const node = $('#traces');
  // Hidden (another view shown): drawn when the live view is shown again; redrawing a hidden chart
  // every frame cost as much as the heat maps.
  if (!node.offsetParent) return;
  const tr = [...live.traces.values()].sort((a, b) => a.level - b.level);
  const series = tr.map((t) => ({
    name: `level ${t.level}${t.status ? ` (${t.status})` : ''}`,
    type: 'line',
    data: t.points.map((p) => [p[0], p[1] * 1e6]),
    showSymbol: t.points.length < 60,
    symbolSize: 4,
    lineStyle: { width: 1.5 },
    itemStyle: { color: levelColor(t.level) },
    ...(t.target_A ? { markLine: { silent: true, symbol: 'none', lineStyle: { type: 'dashed', color: levelColor(t.level) }, label: { formatter: `target ${fx(t.target_A * 1e6, 2)} µA` }, data: [{ yAxis: t.target_A * 1e6 }] } } : {}),
  }));
  const csv = () => [['level', 'cell', 'status', 'stepped_V', 'verify_uA'], ...tr.flatMap((t) => t.points.map((p) => [t.level, t.key, t.status ?? 'in flight', p[0], p[1] * 1e6]))];
  node.dataset.points = String(tr.reduce((n, t) => n + t.points.length, 0));
  node.dataset.traces = String(tr.length);
  if (!node.dataset.drawn) {
    node.dataset.run = live.runId ?? "";
    chart(node, {
      title: { text: '', left: 'center' },
      legend: { type: 'scroll', top: 22 },
      tooltip: { trigger: 'axis', valueFormatter: (v) => `${fx(v, 2)} µA` },
      xAxis: axis(stepped()),
      yAxis: axis('verify read current (µA)'),
      dataZoom: [{ type: 'inside' }],
      series,
    }, csv);
  } else {
    node.__csv = csv;
    // replaceMerge: a level's series is replaced whole when the followed cell changes.
    window.echarts.getInstanceByDom(node).setOption({ xAxis: { name: stepped() }, series }, { replaceMerge: ['series'] });
  }
}
