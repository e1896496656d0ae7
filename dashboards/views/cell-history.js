// One cell's history on its board (click a cell on the array map): every pulse and read the
// store holds for it, across runs, plotted in order (reads as current, pulses as their amplitude:
// VG for SET and FORM, -VSL for RESET), with one row per run that touched it.
import { $, api, fx } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';
import { el, fill, lines, row } from '../lib/dom.js';

const PULSE_COLORS = { form: '#9467bd', set: '#1f77b4', reset: '#d62728', 'write-verify': '#17becf' };

export async function showCellHistory(runId, array, r, c) {
  const card = $('#cell-history-card');
  card.hidden = false;
  $('#cell-history-title').textContent = `array ${array} · row ${r}, col ${c} (board of run ${runId})`;
  const h = await api(`/api/runs/${encodeURIComponent(runId)}/cells/${array}/${r}/${c}/history`);
  const node = $('#cell-history');
  node.dataset.run = `${runId}-cell-a${array}r${r}c${c}`;
  node.dataset.points = String(h.points.length);
  node.dataset.runs = String(h.runs.length);
  const idx = h.points.map((_, i) => i);
  const reads = h.points.map((p, i) => (p.type === 'read' && p.current_A !== null ? [i, p.current_A * 1e6, p] : null)).filter(Boolean);
  const pulses = Object.keys(PULSE_COLORS).map((k) => ({
    name: `${k} pulse (V)`,
    type: 'scatter',
    yAxisIndex: 1,
    symbolSize: 5,
    itemStyle: { color: PULSE_COLORS[k] },
    data: h.points.map((p, i) => (p.type === 'pulse' && p.what === k ? [i, k === 'reset' ? -p.vsl_V : p.vg_V, p] : null)).filter(Boolean),
  }));
  // A vertical line where each run's points begin.
  const starts = h.runs.map((run) => ({ xAxis: h.points.findIndex((p) => p.run === run.id), label: { formatter: run.kind } })).filter((m) => m.xAxis >= 0);
  const tip = (p) => {
    const x = p.data?.[2];
    if (!x) return '';
    return lines(`run ${x.run} · seq ${x.seq}`, x.type === 'read' ? `read (${x.what}): ${x.current_A === null ? 'unusable' : `${fx(x.current_A * 1e6, 3)} µA`}` : `${x.what} pulse: VTE ${fx(x.vte_V, 3)} V, VSL ${fx(x.vsl_V, 3)} V, VG ${fx(x.vg_V, 3)} V${x.outcome ? ` (${x.outcome})` : ''}`, `level ${x.level ?? '–'}${x.step ? ` · ${x.step}` : ''}`);
  };
  chart(
    node,
    {
      tooltip: { trigger: 'item', formatter: tip },
      legend: { top: 22 },
      xAxis: { type: 'value', name: 'event of this cell (oldest first)', nameLocation: 'middle', nameGap: 28, min: 0, max: Math.max(1, idx.length - 1) },
      yAxis: [axis('read current (µA)'), axis('pulse amplitude (V)', { position: 'right' })],
      series: [{ name: 'read current (µA)', type: 'scatter', symbolSize: 5, itemStyle: { color: '#2ca02c' }, data: reads, markLine: { symbol: 'none', silent: true, lineStyle: { color: '#999', type: 'dashed' }, data: starts } }, ...pulses],
    },
    () => [['run', 'seq', 't_ms', 'type', 'what', 'vte_V', 'vsl_V', 'vg_V', 'width_s', 'current_A', 'level', 'step', 'outcome'], ...h.points.map((p) => [p.run, p.seq, p.t, p.type, p.what, p.vte_V, p.vsl_V, p.vg_V, p.width_s, p.current_A, p.level, p.step, p.outcome])],
  );
  fill(
    $('#cell-history-runs'),
    el('thead', null, row('th', ['run', 'kind', 'started', 'status', 'pulses', 'reads', 'verdict'])),
    el('tbody', null, h.runs.map((x) => row('td', [x.id, x.kind, x.started, x.status, x.pulses, x.reads, x.verdict ?? '–']))),
  );
  $('#cell-history-note').textContent = h.truncated ? `showing the first ${h.points.length} events of this cell` : `${h.points.length} events of this cell in ${h.runs.length} run(s) on board ${h.board}`;
}
