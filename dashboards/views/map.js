// Array heat maps: one chart per array, rows down and columns across, a colour bar, and a tooltip
// per cell (level, target, read current, pulses, status). Colour by read current, target level,
// pulses or status; cells that failed stay visible in every mode (outlined) and own a colour in
// the status mode. The run shown is the live one, or one picked from the store (its cells' final
// state fetched in one answer, /api/runs/<id>/map: no replay); after a reload with nothing running
// the newest run with cells is shown.
import { $, api, fx, levelColor } from '../lib/api.js';
import { chart, instance } from '../lib/charts.js';
import { colorOf, gridOf, heatLayer } from '../lib/heat-canvas.js';
import { clear, el, fill, lines } from '../lib/dom.js';
import { showCellHistory } from './cell-history.js';

/** The stored run picked in the selector, or null: the live run. */
let picked = null;
let autoPicked = false;

/** Runs with cells in the selector; after a reload with no live run the newest of them is shown at once. */
export function fillMapRuns(runs, live) {
  const sel = $('#map-run');
  const cur = sel.value;
  const withCells = runs.filter((r) => r.arrays?.length);
  fill(sel, el('option', { value: '' }, 'the live run'), withCells.map((r) => el('option', { value: r.id }, `${r.id} (${r.kind}${r.params?.levels ? `, ${r.params.levels} levels` : ''}${r.status !== 'completed' ? `, ${r.status}` : ''})`)));
  if (cur && withCells.some((r) => r.id === cur)) sel.value = cur;
  if (!autoPicked && !live.runId && !picked && withCells.length) {
    autoPicked = true;
    sel.value = withCells[0].id;
    pickMapRun(withCells[0].id, live, false).catch((e) => ($('#message').textContent = e.message));
  }
}

/** The run the map shows: the one picked in the selector, else the live run (null: none). */
export const shownMapRun = (live) => picked?.runId ?? live.runId ?? null;

/** Show a stored run's final map ('' = follow the live run again). */
export async function pickMapRun(id, live, userPick = true) {
  autoPicked = true;
  if (!id) picked = null;
  else {
    const d = await api(`/api/runs/${id}/map`);
    picked = { auto: !userPick, runId: id, kind: d.kind, params: d.params, board: d.board, cells: new Map(d.cells.map((c) => [`${c[0]}:${c[1]}:${c[2]}`, c])), updates: 0 };
  }
  clear($('#maps'));
  drawMaps(live);
}

const STATUS = ['in flight', 'ok', 'unformable', 'stuck', 'failed', 'budget', 'limit', 'unknown'];
const STATUS_COLORS = ['#c9d3e3', '#2ca02c', '#7f7f7f', '#9467bd', '#d62728', '#ff7f0e', '#e377c2', '#000'];

// Cell tuple from the server: [array, row, col, current_A, level, status|null, pulses, target_A|null]
const tipLines = (c) => lines(`array ${c[0]} · row ${c[1]}, col ${c[2]}`, `level ${c[4]}${c[7] !== null ? ` (target ${fx(c[7] * 1e6, 2)} µA)` : ''}`, `read current ${c[3] === null ? 'not read yet' : `${fx(c[3] * 1e6, 3)} µA`}`, `pulses ${c[6]}`, `status ${c[5] ?? 'in flight'}`);

/** 1, 2 or 5 times a power of ten at or above x: a colour bar whose top moves seldom (each move redraws every cell). */
const nice = (x) => {
  const p = 10 ** Math.floor(Math.log10(Math.max(1, x)));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= x);
};

function visualMap(mode, max, levels) {
  // The legend only: the cells are drawn by heat-canvas.js, so no handle or toggle that would filter nothing.
  const common = { dimension: 2, orient: 'vertical', right: 0, top: 'middle', calculable: false, itemHeight: 220 };
  // Piecewise legends: itemHeight is per entry there (220 px each put 6 of 8 outside the card).
  const pieces = { dimension: 2, orient: 'vertical', right: 0, top: 'middle', type: 'piecewise', selectedMode: false, itemWidth: 14, itemHeight: 12, itemGap: 6, textGap: 6, textStyle: { fontSize: 11 } };
  if (mode === 'level') return { ...pieces, pieces: Array.from({ length: levels }, (_, k) => ({ value: k, label: `level ${k}`, color: levelColor(k) })) };
  if (mode === 'status') return { ...pieces, pieces: STATUS.map((s, k) => ({ value: k, label: s, color: STATUS_COLORS[k] })) };
  return { ...common, type: 'continuous', min: 0, max: nice(mode === 'pulses' ? Math.max(1, max) : Math.max(50, max)), text: [mode === 'pulses' ? 'pulses' : 'µA', ''], inRange: { color: ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'] } };
}

// A cell not read yet has no current: '-' leaves it empty instead of drawing 0 uA.
const valueOf = (mode, c) => (mode === 'level' ? c[4] : mode === 'status' ? Math.max(0, STATUS.indexOf(c[5] ?? 'in flight')) : mode === 'pulses' ? c[6] : c[3] === null ? '-' : c[3] * 1e6);

/** Per array: how many cells, how many failed, the largest current (uA) and pulse count. */
function tally(cells, arrays) {
  const t = Array.from({ length: arrays }, () => ({ n: 0, failed: 0, maxUa: 0, maxPulses: 0 }));
  for (const c of cells.values()) {
    const x = t[c[0]];
    if (!x) continue;
    x.n++;
    if (c[5] && c[5] !== 'ok') x.failed++;
    if (c[3] !== null && c[3] * 1e6 > x.maxUa) x.maxUa = c[3] * 1e6;
    if (c[6] > x.maxPulses) x.maxPulses = c[6];
  }
  return t;
}

/** The live run drawMaps last drew from (a zoom or a resize draws again from it). */
let lastFollowed = null;
let redrawPending = 0;
function redrawSoon() {
  if (!redrawPending && lastFollowed) redrawPending = requestAnimationFrame(() => { redrawPending = 0; drawMaps(lastFollowed); });
}
window.addEventListener('resize', redrawSoon);

export function drawMaps(followed) {
  lastFollowed = followed;
  // A run shown because nothing was live gives way to the first run followed live; one the user picked stays.
  if (picked?.auto && followed.runId) {
    picked = null;
    $('#map-run').value = '';
  }
  const live = picked ?? followed;
  document.querySelectorAll('.map-run').forEach((e) => (e.textContent = live.runId ?? '–'));
  const b = live.board || { arrays: 2, rows: 64, cols: 64 };
  const box = $('#maps');
  const mode = $('#map-mode').value;
  if (box.dataset.mode !== mode || box.dataset.board !== `${b.arrays}x${b.rows}x${b.cols}` || box.dataset.run !== (live.runId ?? '')) {
    clear(box);
    box.dataset.mode = mode;
    box.dataset.board = `${b.arrays}x${b.rows}x${b.cols}`;
    box.dataset.run = live.runId ?? '';
  }
  while (box.children.length < b.arrays) {
    const d = document.createElement('div');
    d.className = 'chart map';
    d.id = `map-a${box.children.length}`;
    d.dataset.array = String(box.children.length);
    box.appendChild(d);
  }
  if (!box.offsetParent) return; // hidden view: drawn when shown (the changed cells wait in live.dirty)
  // The cells changed since the last draw (the live run's), or null: draw them all.
  const dirty = live === followed && live.dirty ? live.dirty : null;
  if (dirty) live.dirty = new Set();
  const levels = Number(live.params?.levels ?? 8);
  const counts = tally(live.cells, b.arrays);
  for (const node of box.children) drawArray(node, live, b, mode, levels, counts[Number(node.dataset.array)], dirty, box);
  box.dataset.updates = String(live.updates);
}

function drawArray(node, live, b, mode, levels, count, dirty, box) {
  const a = Number(node.dataset.array);
  const mine = () => [...live.cells.values()].filter((c) => c[0] === a);
  // The array's cells on demand (tooltips, exports, tests): never rebuilt per frame.
  Object.defineProperty(node, '__cells', { configurable: true, get: mine });
  const csv = () => [['array', 'row', 'col', 'level', 'target_A', 'current_A', 'pulses', 'status'], ...mine().map((c) => [c[0], c[1], c[2], c[4], c[7], c[3], c[6], c[5] ?? 'in flight'])];
  // An export draws the cells into the chart itself (PNG and SVG from the chart's own renderer).
  node.__exportOption = (opt) => ({ ...opt, series: [{ ...opt.series[0], data: mine().map((c) => ({ value: [c[2], c[1], valueOf(mode, c)], ...(c[5] && c[5] !== 'ok' ? { itemStyle: { borderColor: '#d62728', borderWidth: 1.5 } } : {}) })) }] });
  node.dataset.cells = String(count.n);
  node.dataset.failed = String(count.failed);
  const vm = visualMap(mode, mode === 'pulses' ? count.maxPulses : count.maxUa, levels);
  const vmKey = `${mode}|${vm.type}|${vm.max ?? ''}|${vm.pieces?.length ?? ''}`;
  let inst;
  if (!node.dataset.drawn) {
    node.dataset.run = live.runId ?? "";
    inst = chart(node, {
      title: { text: `array ${a}`, left: 'center', textStyle: { fontSize: 13 } },
      grid: { left: 60, right: 110, top: 40, bottom: 50 },
      xAxis: { type: 'category', name: 'column', nameLocation: 'middle', nameGap: 28, data: Array.from({ length: b.cols }, (_, k) => k), splitArea: { show: false } },
      yAxis: { type: 'category', name: 'row', nameLocation: 'middle', nameGap: 36, inverse: true, data: Array.from({ length: b.rows }, (_, k) => k) },
      visualMap: vm,
      series: [{ type: 'heatmap', data: [] }],
    }, csv);
    node.__vmKey = vmKey;
    // Drag a box or a lasso: select its cells (below); hover: the cell's values; a click without a drag: its history.
    attachBoxSelection(node, inst, a, b);
    attachCellPointer(node, inst, live, a, box);
    // Box zoom and its undo move the cells: drawn again (whole: the layer sees the scale change).
    inst.on('datazoom', redrawSoon);
    inst.on('restore', redrawSoon);
    drawSelection(node, inst, a);
  } else {
    inst = instance(node);
    node.__csv = csv;
    if (node.__vmKey !== vmKey) {
      node.__vmKey = vmKey;
      inst.setOption({ visualMap: vm });
    }
  }
  const color = colorOf(vm);
  heatLayer(node, inst).draw(live.cells, (v) => color(v), `${vmKey}|${a}`, (c) => (c[0] === a ? valueOf(mode, c) : undefined), dirty);
}

/** Hover a cell: its values in a tooltip; click it (not at the end of a drag): its whole history on this board. */
function attachCellPointer(node, inst, live, a, box) {
  const zr = inst.getZr();
  const tipBox = el('div', { class: 'map-tip' });
  tipBox.hidden = true;
  node.appendChild(tipBox);
  const cellAtPixel = (x, y) => {
    const { rect } = gridOf(inst);
    if (x < rect.x || y < rect.y || x > rect.x + rect.width || y > rect.y + rect.height) return undefined;
    const [col, row] = scaleOf(inst).toCell(x, y).map(Math.round);
    return live.cells.get(`${a}:${row}:${col}`);
  };
  zr.on('mousemove', (e) => {
    const c = node.__dragged ? undefined : cellAtPixel(e.offsetX, e.offsetY);
    if (!c) return void (tipBox.hidden = true);
    fill(tipBox, tipLines(c));
    tipBox.hidden = false;
    tipBox.style.left = `${Math.min(e.offsetX + 14, node.clientWidth - tipBox.offsetWidth - 4)}px`;
    tipBox.style.top = `${Math.max(0, e.offsetY - tipBox.offsetHeight - 10)}px`;
  });
  zr.on('globalout', () => (tipBox.hidden = true));
  zr.on('click', (e) => {
    if (node.__dragged) return;
    const c = cellAtPixel(e.offsetX, e.offsetY);
    const run = box.dataset.run;
    if (c && run) showCellHistory(run, c[0], c[1], c[2]).catch((x) => ($('#message').textContent = x.message));
  });
}

// ---- selecting cells: drag a box, or draw a lasso, on an array's map ------------------------
// The selection is every cell of the box, or every cell whose centre lies inside the lasso
// (even-odd rule; touched by the shown run or not), on one array; the map card's buttons queue a
// job on exactly those cells, in the `--cells` JSON format [[row, col], ...] (docs/formats.md).

/** The selection: {array, kind: 'box', r0, r1, c0, c1} (inclusive) or {array, kind: 'lasso', points: [[col, row], ...]} (cell units), or null. */
let selection = null;
/** Called whenever the selection changes (the count and the buttons on the map card). */
export let onSelection = () => {};
export const setOnSelection = (f) => (onSelection = f);

/** Whether (x, y) lies inside the polygon (even-odd rule: a ray to the right crosses its edges an odd number of times). */
export function insidePolygon(points, x, y) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The selected cells, [[row, col], ...] row by row, with their array; [] when nothing is selected. */
export function selectedCells() {
  if (!selection) return { array: null, cells: [] };
  const cells = [];
  if (selection.kind === 'lasso') {
    const b = selection.board;
    const xs = selection.points.map((p) => p[0]);
    const ys = selection.points.map((p) => p[1]);
    const r0 = Math.max(0, Math.ceil(Math.min(...ys)));
    const r1 = Math.min(b.rows - 1, Math.floor(Math.max(...ys)));
    const c0 = Math.max(0, Math.ceil(Math.min(...xs)));
    const c1 = Math.min(b.cols - 1, Math.floor(Math.max(...xs)));
    for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) if (insidePolygon(selection.points, c, r)) cells.push([r, c]);
  } else for (let r = selection.r0; r <= selection.r1; r++) for (let c = selection.c0; c <= selection.c1; c++) cells.push([r, c]);
  return { array: selection.array, cells };
}

/** The lasso's outline in cell units (what the selection was computed from), or null. */
export const selectionOutline = () => (selection?.kind === 'lasso' ? selection.points.map((p) => p.slice()) : null);

export function clearSelection() {
  selection = null;
  redrawSelections();
  onSelection(selectedCells());
}

function redrawSelections() {
  for (const node of document.querySelectorAll('#maps .chart.map')) {
    const inst = window.echarts.getInstanceByDom(node);
    if (inst) drawSelection(node, inst, Number(node.dataset.array));
  }
}

/** Pixel <-> cell units (column, row; a cell's centre at whole numbers): the axes are evenly spaced categories. */
function scaleOf(inst) {
  const { x0, y0, sx, sy } = gridOf(inst);
  return { toCell: (x, y) => [(x - x0) / sx, (y - y0) / sy], toPixel: (c, r) => [x0 + c * sx, y0 + r * sy], w: Math.abs(sx), h: Math.abs(sy) };
}

/** The cell [col, row] under a pixel of the chart, held inside the array. */
function cellAt(inst, b, x, y) {
  const [col, row] = scaleOf(inst).toCell(x, y);
  const clamp = (v, n) => Math.min(n - 1, Math.max(0, Math.round(v)));
  return [clamp(col, b.cols), clamp(row, b.rows)];
}

/** The box or lasso outline over the chart (an ECharts graphic element, never markup). */
function drawSelection(node, inst, a) {
  const sel = selection?.array === a ? selection : null;
  if (!sel) {
    if (node.__selDrawn) inst.setOption({ graphic: [{ id: 'selection', $action: 'remove' }] });
    node.__selDrawn = false;
    return;
  }
  const sc = scaleOf(inst);
  const style = { fill: 'rgba(58,142,230,0.18)', stroke: '#1f5fa8', lineWidth: 2 };
  // Replaced whole: a box and a lasso are different shapes under the same id.
  if (node.__selDrawn) inst.setOption({ graphic: [{ id: 'selection', $action: 'remove' }] });
  node.__selDrawn = true;
  if (sel.kind === 'lasso') {
    inst.setOption({ graphic: [{ id: 'selection', type: 'polygon', silent: true, z: 100, shape: { points: sel.points.map(([c, r]) => sc.toPixel(c, r)) }, style }] });
    return;
  }
  const p0 = sc.toPixel(sel.c0, sel.r0);
  const p1 = sc.toPixel(sel.c1, sel.r1);
  inst.setOption({ graphic: [{ id: 'selection', type: 'rect', silent: true, z: 100, shape: { x: Math.min(p0[0], p1[0]) - sc.w / 2, y: Math.min(p0[1], p1[1]) - sc.h / 2, width: Math.abs(p1[0] - p0[0]) + sc.w, height: Math.abs(p1[1] - p0[1]) + sc.h }, style }] });
}

/** Box or lasso, as the map card's "select by" says. */
const selectMode = () => (document.querySelector('#sel-mode')?.value === 'lasso' ? 'lasso' : 'box');

function attachBoxSelection(node, inst, a, b) {
  const zr = inst.getZr();
  let start = null;
  let lasso = null;
  const boxFrom = (e) => {
    const [c0, r0] = cellAt(inst, b, start[0], start[1]);
    const [c1, r1] = cellAt(inst, b, e.offsetX, e.offsetY);
    return { array: a, kind: 'box', r0: Math.min(r0, r1), r1: Math.max(r0, r1), c0: Math.min(c0, c1), c1: Math.max(c0, c1) };
  };
  zr.on('mousedown', (e) => {
    // Only inside the plot (not on the legend or the toolbox).
    if (!inst.containPixel({ gridIndex: 0 }, [e.offsetX, e.offsetY])) return;
    start = [e.offsetX, e.offsetY];
    lasso = selectMode() === 'lasso' ? [scaleOf(inst).toCell(e.offsetX, e.offsetY)] : null;
    node.__dragged = false;
  });
  zr.on('mousemove', (e) => {
    if (!start) return;
    if (!node.__dragged && Math.hypot(e.offsetX - start[0], e.offsetY - start[1]) < 4) return;
    node.__dragged = true;
    if (lasso) {
      lasso.push(scaleOf(inst).toCell(e.offsetX, e.offsetY));
      // A lasso of fewer than three points encloses nothing yet.
      selection = lasso.length >= 3 ? { array: a, kind: 'lasso', board: b, points: lasso.slice() } : null;
    } else selection = boxFrom(e);
    redrawSelections();
    onSelection(selectedCells());
  });
  zr.on('mouseup', () => {
    start = null;
    lasso = null;
    // The click that follows a drag's mouseup is not a cell click.
    setTimeout(() => (node.__dragged = false), 0);
  });
}
