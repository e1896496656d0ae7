// Studies (`rram study ... --out DIR`): the paper-vs-ours tables, the paper's claims checked, and
// each figure as a chart (lines, boxplots, histograms, CDFs, scatter, heat map) with its data as CSV.
import { $, api, escapeHtml, fx, COLORS } from '../lib/api.js';
import { axis, chart } from '../lib/charts.js';

export async function fillStudies() {
  const sel = $('#study-pick');
  const keep = sel.value;
  const list = await api('/api/studies');
  sel.innerHTML = list.map((s) => `<option value="${escapeHtml(s.name)}">${escapeHtml(s.name)} (${escapeHtml(s.study)}, ${s.points} points)</option>`).join('');
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  $('#study-empty').hidden = list.length > 0;
  return list;
}

const pct = (x) => (typeof x === 'number' ? 100 * x : x);

function table(t) {
  const head = `<tr>${t.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const rows = t.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c ?? '')}</td>`).join('')}</tr>`).join('');
  const notes = t.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('');
  return `<div class="card"><h3>${escapeHtml(t.title)}</h3><table class="study-table">${head}${rows}</table>${notes ? `<ul class="small">${notes}</ul>` : ''}</div>`;
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
      tooltip: { trigger: f.kind === 'line' ? 'axis' : 'item', formatter: f.kind === 'scatter' ? (p) => `${escapeHtml(p.seriesName)}<br>${escapeHtml(p.data[2] ?? '')}<br>${f.x} ${p.data[0]}: ${fx(p.data[1], 2)} %` : undefined },
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
      tooltip: { formatter: (p) => `${f.x} ${fx(100 * xs[p.data[0]], 2)} %, ${f.y} ${fx(100 * ys[p.data[1]], 2)} %: ${fx(p.data[2], 2)} %` },
      xAxis: { type: 'category', data: xs.map((v) => `${fx(100 * v, 1)} %`), name: f.x, nameLocation: 'middle', nameGap: 30 },
      yAxis: { type: 'category', data: ys.map((v) => `${fx(100 * v, 1)} %`), name: f.y, nameLocation: 'middle', nameGap: 50 },
      visualMap: { min: 0, max: 100, calculable: true, orient: 'vertical', right: 0, top: 'center', text: ['accuracy %', ''] },
      series: [{ type: 'heatmap', label: { show: true, formatter: (p) => fx(p.data[2], 1) }, data: pts.map((p) => [xs.indexOf(p[0]), ys.indexOf(p[1]), pct(p[2])]) }],
    }, () => [[f.x, f.y, 'accuracy'], ...pts.map((p) => [p[0], p[1], p[2]])]);
  }
}

export async function showStudy(name) {
  const box = $('#study-body');
  if (!name) { box.innerHTML = ''; return; }
  const s = await api(`/api/studies/${encodeURIComponent(name)}`);
  const checks = s.checks.length
    ? `<div class="card"><h3>The paper's claims, checked</h3><table class="study-table"><tr><th>claim</th><th>measured</th><th>holds</th></tr>${s.checks.map((c) => `<tr class="${c.holds ? '' : 'warn'}"><td>${escapeHtml(c.claim)}</td><td>${escapeHtml(c.measured)}</td><td>${c.holds ? 'yes' : 'no'}</td></tr>`).join('')}</table></div>`
    : '';
  const opts = Object.entries(s.params).filter(([, v]) => v !== undefined).map(([k, v]) => `${escapeHtml(k)}=${escapeHtml(JSON.stringify(v))}`).join(', ');
  box.innerHTML = `<p class="small" id="study-summary">rram study ${escapeHtml(s.study)}: ${s.points} points, ${fx(s.elapsed_s, 0)} s; ${opts}</p>`
    + `<div class="row">${s.figures.map((f) => `<div class="card grow" style="min-width:420px"><div id="study-fig-${escapeHtml(f.id)}" class="chart study-fig" style="height:340px"></div></div>`).join('')}</div>`
    + checks + s.tables.map(table).join('');
  for (const f of s.figures) drawFigure(document.getElementById(`study-fig-${f.id}`), f);
}
