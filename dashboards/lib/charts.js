// Every plot is an ECharts chart (served locally from the npm package): axes with units, legend,
// hover tooltips, box zoom, PNG and SVG export and "download data (CSV)" come from one toolbox.
// A chart's CSV comes from a function the view registers with it: the numbers plotted, not pixels.
const E = () => window.echarts;
const ICON_CSV = 'path://M3,3 L21,3 L21,21 L3,21 Z M3,9 L21,9 M3,15 L21,15 M9,3 L9,21';
const ICON_SVG = 'path://M4,20 L12,4 L20,20 Z M8,14 L16,14';
const ICON_PNG = 'path://M3,5 L21,5 L21,19 L3,19 Z M3,15 L9,10 L14,15 L17,12 L21,16';

export function download(name, blob) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 2000);
}

export function toCsv(rows) {
  const v = (x) => (x === null || x === undefined ? '' : typeof x === 'number' ? (Number.isFinite(x) ? String(x) : '') : /[",\n]/.test(String(x)) ? `"${String(x).replace(/"/g, '""')}"` : String(x));
  return rows.map((r) => r.map(v).join(',')).join('\n') + '\n';
}

/** Exported files carry what they show: the run (or study) id set on the chart's node, then the chart. */
export function exportName(node) {
  const what = node.dataset.run;
  return what ? `${what}-${node.id}`.replace(/[^A-Za-z0-9_.-]+/g, '_') : node.id;
}

function saveCsv(node) {
  download(`${exportName(node)}.csv`, new Blob([toCsv(node.__csv ? node.__csv() : [])], { type: 'text/csv' }));
}

/** The chart drawn again off screen for an export (a heat map puts its cells into the chart there: node.__exportOption). */
function offscreen(node, renderer) {
  const src = E().getInstanceByDom(node);
  const div = document.createElement('div');
  const c = E().init(div, null, { renderer, width: node.clientWidth || 800, height: node.clientHeight || 400 });
  let opt = src.getOption();
  opt.toolbox = [];
  opt.animation = false;
  if (node.__exportOption) opt = node.__exportOption(opt);
  c.setOption(opt);
  return c;
}

function saveSvg(node) {
  const c = offscreen(node, 'svg');
  const svg = c.renderToSVGString();
  c.dispose();
  download(`${exportName(node)}.svg`, new Blob([svg], { type: 'image/svg+xml' }));
}

function savePng(node) {
  const c = offscreen(node, 'canvas');
  const url = c.getDataURL({ type: 'png', pixelRatio: 2, backgroundColor: '#fff' });
  c.dispose();
  // Decoded here: the page's CSP lets fetch reach only the server (no data: URLs).
  const bin = atob(url.slice(url.indexOf(',') + 1));
  download(`${exportName(node)}.png`, new Blob([Uint8Array.from(bin, (ch) => ch.charCodeAt(0))], { type: 'image/png' }));
}

const toolbox = (node) => ({
  right: 8,
  top: 0,
  feature: {
    dataZoom: { title: { zoom: 'box zoom', back: 'undo zoom' } },
    restore: { title: 'reset' },
    // A heat map's cells are on a canvas of their own: its PNG is drawn off screen with them.
    ...(node.classList.contains('map') ? { myPng: { show: true, title: 'PNG', icon: ICON_PNG, onclick: () => savePng(node) } } : { saveAsImage: { title: 'PNG', name: exportName(node), type: 'png', pixelRatio: 2, backgroundColor: '#fff' } }),
    mySvg: { show: true, title: 'SVG', icon: ICON_SVG, onclick: () => saveSvg(node) },
    myCsv: { show: true, title: 'download data (CSV)', icon: ICON_CSV, onclick: () => saveCsv(node) },
  },
});

/** Draw (or redraw from scratch) a chart into the element with this id. */
export function chart(id, option, csv) {
  const node = typeof id === 'string' ? document.getElementById(id) : id;
  const c = E().getInstanceByDom(node) ?? E().init(node, null, { renderer: 'canvas' });
  node.__csv = csv;
  c.setOption({ animation: false, toolbox: toolbox(node), grid: { left: 70, right: 40, top: 50, bottom: 70 }, ...option }, { notMerge: true });
  node.dataset.drawn = String(Number(node.dataset.drawn ?? 0) + 1);
  return c;
}

/** Merge new data into a drawn chart (live views: no rebuild per frame). */
export function update(id, partial, csv) {
  const node = typeof id === 'string' ? document.getElementById(id) : id;
  const c = E().getInstanceByDom(node);
  if (!c) return undefined;
  if (csv) node.__csv = csv;
  c.setOption(partial, { lazyUpdate: false });
  return c;
}

export const instance = (id) => E().getInstanceByDom(typeof id === 'string' ? document.getElementById(id) : id);

/** A value axis with its quantity and unit in the name. */
export const axis = (name, extra = {}) => ({ type: 'value', name, nameLocation: 'middle', nameGap: 40, scale: true, ...extra });

window.addEventListener('resize', () => document.querySelectorAll('.chart').forEach((n) => E().getInstanceByDom(n)?.resize()));
