// Studies (`rram study ... --out DIR`): the paper-vs-ours tables, the paper's claims checked, and
// each figure as a chart (lines, boxplots, histograms, CDFs, scatter, heat map) with its data as CSV.
import { $, api, fx, COLORS } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';
import { clear, el, fill, lines, row } from '../lib/dom.js';

export async function fillStudies() {
  const sel = $('#study-pick');
  const keep = sel.value;
  const list = await api('/api/studies');
  fill(sel, list.map((s) => el('option', { value: s.name }, `${s.name} (${s.study}, ${s.points} points)`)));
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  $('#study-empty').hidden = list.length > 0;
  return list;
}

const pct = (x) => (typeof x === 'number' ? 100 * x : x);

function table(t) {
  const notes = t.notes.map((n) => el('li', null, n));
  return el('div', { class: 'card' }, el('h3', null, t.title),
    el('table', { class: 'study-table' }, row('th', t.header), t.rows.map((r) => row('td', r.map((c) => c ?? '')))),
    notes.length ? el('ul', { class: 'small' }, notes) : null);
}

function histogramSeries(values, bins = 30) {
  if (!values.length) return [];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const w = (hi - lo) / bins || 1e-3;
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / w))]++;
  return counts.map((c, k) => [100 * (lo + (k + 0.5) * w), c]);
}

function drawFigure(node, f) {
  const s = f.series;
  const pctAxis = (name) => axis(`${name} (%)`);
  if (f.kind === 'line' || f.kind === 'scatter') {
    chart(node, {
      title: { text: f.title, textStyle: { fontSize: 13 } },
      legend: { bottom: 0 },
      tooltip: { trigger: f.kind === 'line' ? 'axis' : 'item', formatter: f.kind === 'scatter' ? (p) => lines(p.seriesName, p.data[2] ?? '', `${f.x} ${p.data[0]}: ${fx(p.data[1], 2)} %`) : undefined },
      xAxis: axis(f.x, f.x === 'levels' || f.x === 'conduction states' ? { type: 'log', logBase: 2 } : {}),
      yAxis: pctAxis(f.y),
      series: s.map((x, i) => ({ name: x.name, type: f.kind, symbolSize: 7, color: COLORS[(i + 1) % COLORS.length], data: x.points.map((p) => [p[0], pct(p[1]), p[2]]) })),
    }, () => [['series', f.x, f.y], ...s.flatMap((x) => x.points.map((p) => [x.name, p[0], p[1]]))]);
  } else if (f.kind === 'box') {
    const cats = [...new Set(s.flatMap((x) => x.points.map((p) => p[0])))];
    chart(node, {
      title: { text: f.title, textStyle: { fontSize: 13 } },
      legend: { bottom: 0 },
      tooltip: { trigger: 'item' },
      xAxis: { type: 'category', data: cats, name: f.x, nameLocation: 'middle', nameGap: 55, axisLabel: { interval: 0, rotate: cats.length > 6 ? 35 : 0 } },
      yAxis: pctAxis(f.y),
      series: s.map((x, i) => ({ name: x.name, type: 'boxplot', color: COLORS[(i + 1) % COLORS.length], data: cats.map((c) => { const p = x.points.find((q) => q[0] === c); return p && p.length === 6 ? p.slice(1).map(pct) : []; }) })),
    }, () => [['series', f.x, 'min', 'p25', 'p50', 'p75', 'max'], ...s.flatMap((x) => x.points.map((p) => [x.name, ...p]))]);
  } else if (f.kind === 'histogram') {
    chart(node, {
      title: { text: f.title, textStyle: { fontSize: 13 } },
      legend: { bottom: 0 },
      tooltip: { trigger: 'axis' },
      xAxis: axis('accuracy (%)'),
      yAxis: axis('trials'),
      series: s.map((x, i) => ({ name: x.name, type: 'bar', barGap: '-100%', itemStyle: { opacity: 0.55 }, color: COLORS[(i + 1) % COLORS.length], data: histogramSeries(x.points.map((p) => p[0])) })),
    }, () => [['series', 'accuracy'], ...s.flatMap((x) => x.points.map((p) => [x.name, p[0]]))]);
  } else if (f.kind === 'cdf') {
    chart(node, {
      title: { text: f.title, textStyle: { fontSize: 13 } },
      legend: { bottom: 0 },
      tooltip: { trigger: 'axis' },
      xAxis: axis('accuracy (%)'),
      yAxis: axis(f.y, { min: 0, max: 1, scale: false }),
      series: s.map((x, i) => ({ name: x.name, type: 'line', step: 'end', showSymbol: false, color: COLORS[(i + 1) % COLORS.length], data: x.points.map((p) => [100 * p[0], p[1]]) })),
    }, () => [['series', 'accuracy', 'p'], ...s.flatMap((x) => x.points.map((p) => [x.name, p[0], p[1]]))]);
  } else if (f.kind === 'heatmap') {
    const pts = s[0]?.points ?? [];
    const xs = [...new Set(pts.map((p) => p[0]))];
    const ys = [...new Set(pts.map((p) => p[1]))];
    chart(node, {
      title: { text: f.title, textStyle: { fontSize: 13 } },
      tooltip: { formatter: (p) => lines(`${f.x} ${fx(100 * xs[p.data[0]], 2)} %, ${f.y} ${fx(100 * ys[p.data[1]], 2)} %: ${fx(p.data[2], 2)} %`) },
      xAxis: { type: 'category', data: xs.map((v) => `${fx(100 * v, 1)} %`), name: f.x, nameLocation: 'middle', nameGap: 30 },
      yAxis: { type: 'category', data: ys.map((v) => `${fx(100 * v, 1)} %`), name: f.y, nameLocation: 'middle', nameGap: 50 },
      visualMap: { min: 0, max: 100, calculable: true, orient: 'vertical', right: 0, top: 'center', text: ['accuracy %', ''] },
      series: [{ type: 'heatmap', label: { show: true, formatter: (p) => fx(p.data[2], 1) }, data: pts.map((p) => [xs.indexOf(p[0]), ys.indexOf(p[1]), pct(p[2])]) }],
    }, () => [[f.x, f.y, 'accuracy'], ...pts.map((p) => [p[0], p[1], p[2]])]);
  }
}

export async function showStudy(name) {
  const box = $('#study-body');
  if (!name) { clear(box); return; }
  const s = await api(`/api/studies/${encodeURIComponent(name)}`);
  const checks = s.checks.length
    ? el('div', { class: 'card' }, el('h3', null, "The paper's claims, checked"),
      el('table', { class: 'study-table' }, row('th', ['claim', 'measured', 'holds']), s.checks.map((c) => row('td', [c.claim, c.measured, c.holds ? 'yes' : 'no'], { class: c.holds ? '' : 'warn' }))))
    : null;
  const opts = Object.entries(s.params).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
  const figs = s.figures.map((f) => [f, el('div', { id: `study-fig-${f.id}`, class: 'chart study-fig', style: { height: '340px' } })]);
  fill(box, el('p', { class: 'small', id: 'study-summary' }, `rram study ${s.study}: ${s.points} points, ${fx(s.elapsed_s, 0)} s; ${opts}`),
    el('div', { class: 'row' }, figs.map(([, node]) => el('div', { class: 'card grow', style: { minWidth: '420px' } }, node))),
    checks, s.tables.map(table));
  for (const [f, node] of figs) {
    node.dataset.run = name;
    drawFigure(node, f);
  }
}
