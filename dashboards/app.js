// rram-hil dashboard: plain ES modules, no framework; charts by ECharts (vendor/echarts.min.js).
// app.js routes between views, starts and aborts jobs, and keeps every view on the newest run
// unless the user pinned one.
import { $, api, setSessionToken } from './lib/api.js';
import { el, fill as fillNode } from './lib/dom.js';
import { drawLive, follow, live } from './views/live.js';
import { drawMaps } from './views/map.js';
import { showCdf } from './views/cdf.js';
import { showFineTune, showInference } from './views/inference.js';
import { showFit, showTwin, showWvBench } from './views/calibration.js';
import { editMetadata, fillCompareSelects, renderHistory, saveMetadata, showCompare } from './views/history.js';
import { clearSelection, fillMapRuns, pickMapRun, selectedCells, selectionOutline, setOnSelection, shownMapRun } from './views/map.js';
import { fillStudies, showStudy } from './views/studies.js';
import { drawQueue } from './views/queue.js';
import { currentBoard, setBoards } from './lib/board.js';
import { followStations } from './views/stations.js';
import { formJobMetadata, metadataFieldset } from './lib/metadata.js';

let runs = [];
const view = () => (location.hash.slice(1) || 'live').split('/')[0];

async function refreshLists() {
  runs = (await api('/api/runs')).sort((a, b) => (a.started < b.started ? 1 : -1));
  renderHistory(runs, historyAction);
  fillMapRuns(runs, live);
  const fill = (sel, pred) => {
    const cur = sel.value;
    const opts = runs.filter(pred);
    fillNode(sel, opts.map((r) => el('option', { value: r.id }, `${r.id} (${r.kind}, ${r.started.slice(11, 19)})`)));
    // Follow the newest unless pinned (or the user's choice is still there and pinned).
    if (cur && $('#pin').checked && opts.some((r) => r.id === cur)) sel.value = cur;
  };
  fill($('#cdf-run'), (r) => r.results.includes('level-cdf'));
  fill($('#infer-run'), (r) => r.results.includes('infer') || r.results.includes('program-net'));
  fill($('#fit-run'), (r) => r.results.includes('calibration-fit'));
  fill($('#twin-run'), (r) => r.results.includes('twin'));
  fill($('#wvb-run'), (r) => r.results.includes('wv-bench'));
  fillCompareSelects(runs);
  return runs;
}

// ---- history: metadata, archive, delete ------------------------------------------------------
async function historyAction(name, r) {
  try {
    if (name === 'edit') return editMetadata(r);
    if (name === 'resume') {
      const a = await api(`/api/runs/${r.id}/resume`, { method: 'POST', body: '{}' });
      $('#hist-message').textContent = `run ${a.runId} queued to resume${a.ahead ? ` behind ${a.ahead} run(s)` : ''}`;
    }
    if (name === 'archive' || name === 'unarchive') await api(`/api/runs/${r.id}/archive`, { method: 'POST', body: JSON.stringify({ archived: name === 'archive' }) });
    if (name === 'delete') {
      if (!window.confirm(`Delete run ${r.id} (${r.kind}, ${r.status}) and all its files? This cannot be undone.`)) return;
      await api(`/api/runs/${r.id}`, { method: 'DELETE' });
    }
    await refreshLists();
  } catch (e) {
    if (name === 'resume') $('#hist-message').textContent = e.message;
    else {
      $('#meta-message').textContent = e.message;
      $('#meta-form').hidden = false;
    }
  }
}
$('#meta-form').addEventListener('submit', async (e) => { e.preventDefault(); if (await saveMetadata()) await refreshLists(); });
$('#meta-cancel').addEventListener('click', () => ($('#meta-form').hidden = true));
for (const id of ['#hist-search', '#hist-field', '#hist-tmin', '#hist-tmax', '#hist-archived']) $(id).addEventListener('input', () => renderHistory(runs, historyAction));
$('#map-run').addEventListener('change', (e) => pickMapRun(e.target.value, live).catch((x) => ($('#message').textContent = x.message)));

// ---- acting on the cells selected on the map -------------------------------------------------
setOnSelection((sel) => {
  $('#sel-count').textContent = sel.cells.length ? `${sel.cells.length} cells selected on array ${sel.array}` : `no cells selected: ${$('#sel-mode').value === 'lasso' ? 'draw a lasso round cells' : 'drag a box'} on an array's map`;
  $('#sel-count').dataset.count = String(sel.cells.length);
  // The lasso's outline in cell units, as the selection was computed from it.
  const outline = selectionOutline();
  if (outline) $('#sel-count').dataset.outline = JSON.stringify(outline);
  else delete $('#sel-count').dataset.outline;
});
/** Re-verify against the run the map shows: its targets are what the cells are checked against. */
function reverifyBody(sel) {
  const run = shownMapRun(live);
  if (!run) throw new Error('selection: the map shows no run - pick the run whose targets to re-verify against in the map\'s run selector');
  return { kind: 'reverify', run, band: $('#sel-band').value, cells: sel.cells.map(([row, col]) => ({ array: sel.array, row, col })) };
}
async function actOnSelection(kind) {
  const msg = $('#sel-message');
  msg.classList.remove('error');
  msg.textContent = '';
  try {
    const sel = selectedCells();
    if (!sel.cells.length) throw new Error('selection: no cells selected (drag a box or draw a lasso over an array\'s map first)');
    const levels = Number($('#sel-levels').value);
    if (kind === 'characterize' && sel.cells.length % levels) throw new Error(`selection: ${sel.cells.length} cells do not split into ${levels} levels of equal size (select a multiple of ${levels} cells)`);
    const body = kind === 'read' ? { kind: 'read', array: sel.array, cells: sel.cells }
      : kind === 'program' ? { kind: 'program', array: sel.array, cells: sel.cells, map: $('#sel-map').value, levels }
      : kind === 'reverify' ? reverifyBody(sel)
      : kind === 'iv' ? { kind: 'iv', array: sel.array, cells: sel.cells.map(([row, col]) => ({ array: sel.array, row, col })), cycles: Number($('#sel-iv-cycles').value) }
      : { kind: 'characterize', array: sel.array, cells: sel.cells, levels, cellsPerLevel: sel.cells.length / levels };
    const r = await api('/api/jobs', { method: 'POST', body: JSON.stringify({ ...body, board: currentBoard() }) });
    msg.textContent = `run ${r.runId} queued on ${r.board}: ${kind} ${sel.cells.length} cells of array ${sel.array}${r.ahead ? ` behind ${r.ahead} run(s)` : ''}`;
    msg.dataset.run = r.runId;
    // Followed live (unless pinned): the map draws it as it goes, and its end refreshes the run lists (the map's selector).
    if (!$('#pin').checked) follow(r.runId);
  } catch (e) {
    msg.classList.add('error');
    msg.textContent = e.message;
  }
}
$('#sel-read').addEventListener('click', () => actOnSelection('read'));
$('#sel-program').addEventListener('click', () => actOnSelection('program'));
$('#sel-characterize').addEventListener('click', () => actOnSelection('characterize'));
$('#sel-iv').addEventListener('click', () => actOnSelection('iv'));
$('#sel-reverify').addEventListener('click', () => actOnSelection('reverify'));
$('#sel-clear').addEventListener('click', clearSelection);
$('#sel-mode').addEventListener('change', clearSelection);

// ---- jobs ------------------------------------------------------------------------------------
function formBody(form, kind) {
  // The board's queue it joins (the header's selector); an inference runs beside every queue.
  const body = kind === 'infer' ? { kind } : { kind, board: currentBoard() };
  for (const el of form.elements) {
    if (!el.name) continue;
    if (kind === 'infer' && el.name === 'algo') continue; // the Monte Carlo programs nothing
    body[el.name] = el.type === 'number' ? Number(el.value) : el.value;
  }
  // The run's metadata, kept in its run.json (the Monte Carlo too: CLI infer runs carry it alike).
  const metadata = formJobMetadata(form);
  if (metadata) body.metadata = metadata;
  if (kind === 'program-net' && $('#ft-on').checked) {
    body.fineTune = { ...($('#ft-images').value.trim() ? { images: Number($('#ft-images').value) } : {}), epochs: Number($('#ft-epochs').value), lr: Number($('#ft-lr').value), batchSize: Number($('#ft-batch').value), outputs: $('#ft-outputs').value };
    if ($('#ft-baseline').value.trim()) body.fineTune.baseline = $('#ft-baseline').value.trim();
  }
  // The same settings `rram program-net` takes as --keep, --refresh-after and --min-success (docs/server.md).
  if (kind === 'program-net') {
    if ($('#pn-keep').checked) body.keep = true;
    if ($('#pn-refresh').value.trim()) body.refreshAfter_s = Number($('#pn-refresh').value);
    body.minSuccess = Number($('#pn-min-success').value);
  }
  return body;
}

async function startJob(form, kind, messageEl) {
  messageEl.textContent = '';
  try {
    const r = await api('/api/jobs', { method: 'POST', body: JSON.stringify(formBody(form, kind)) });
    follow(r.runId);
    // A board job waits its turn in the board's queue (docs/server.md).
    if (r.state === 'queued' && r.ahead) messageEl.textContent = `run ${r.runId} queued: ${r.ahead} run(s) ahead`;
    if (kind !== 'infer' && kind !== 'program-net') location.hash = '#live';
    return r.runId;
  } catch (e) {
    messageEl.textContent = e.message;
  }
}

// Each job form takes the run's metadata, before its Start button.
for (const id of ['#form-characterize', '#form-program', '#form-infer']) $(id).querySelector('button').before(metadataFieldset());
$('#form-characterize').addEventListener('submit', (e) => { e.preventDefault(); startJob(e.target, 'characterize', $('#message')); });
$('#form-program').addEventListener('submit', (e) => { e.preventDefault(); startJob(e.target, 'program', $('#message')); });

// Inference and program-net jobs: progress and abort on the inference page, the result when done.
let netJob = null;
async function startNetJob(kind) {
  const id = await startJob($('#form-infer'), kind, $('#infer-message'));
  if (!id) return;
  netJob = id;
  $('#infer-abort').disabled = false;
  $('#infer-progress-text').textContent = `${kind} ${id}: starting`;
}
$('#form-infer').addEventListener('submit', (e) => { e.preventDefault(); startNetJob('infer'); });
$('#start-program-net').addEventListener('click', () => startNetJob('program-net'));
$('#infer-abort').addEventListener('click', async () => {
  try { await api(`/api/jobs/${netJob}/abort`, { method: 'POST' }); } catch (e) { $('#infer-message').textContent = e.message; }
});
$('#abort').addEventListener('click', async () => {
  try { await api(`/api/jobs/${live.runId}/abort`, { method: 'POST' }); } catch (e) { $('#message').textContent = e.message; }
});

// The inference page's progress comes from the same live stream as the run page's.
const drawLiveBase = drawLive;
function drawNetProgress() {
  if (!netJob || live.runId !== netJob) return;
  const p = live.progress;
  const pct = p ? (100 * p.done) / Math.max(1, p.total) : 0;
  $('#infer-progress-bar').style.width = `${pct}%`;
  const rate = p && p.done > 0 && Number.isFinite(p.eta_s) ? `, ETA ${Math.round(p.eta_s)} s` : '';
  $('#infer-progress-text').textContent = live.end ? `${live.kind ?? ''} ${netJob}: ${live.end.status}${live.end.error ? ': ' + live.end.error : ''}` : p ? `${p.phase}: ${p.done} / ${p.total}${rate}` : `${netJob}: starting`;
  $('#infer-progress-text').classList.toggle('error', !!live.end && live.end.status !== 'completed');
}
setInterval(drawNetProgress, 250);
// A fine-tuning run's per-layer progress, from its fine-tune.json while it runs.
setInterval(() => { if (netJob && !live.end && view() === 'inference') showFineTune(netJob).catch(() => {}); }, 1000);

live.onEnd = async (runId) => {
  await refreshLists();
  if (runId === netJob) {
    $('#infer-abort').disabled = true;
    drawNetProgress();
    const r = runs.find((x) => x.id === runId);
    // An aborted inference keeps the trials it ran: shown, marked as such.
    if (r?.status === 'completed' || (r?.status === 'aborted' && r.results?.includes('infer'))) {
      $('#infer-run').value = runId;
      await showInference(runId).catch((x) => ($('#infer-summary').textContent = x.message));
    } else $('#infer-summary').textContent = `run ${runId} ${r?.status ?? 'ended'}: ${r?.error ?? ''}`;
  } else if (view() !== 'live' && view() !== 'map' && view() !== 'history') await route();
};

// Follow whatever starts next (another tab, the CLI through the same store) unless pinned.
setInterval(async () => {
  if ($('#pin').checked) return;
  try {
    const act = await api('/api/active');
    const j = act.jobs[act.jobs.length - 1];
    if (j && j.runId !== live.runId) { follow(j.runId); await refreshLists(); }
  } catch { /* server restarting */ }
}, 1500);

// ---- routing ---------------------------------------------------------------------------------
async function route() {
  const [v, id] = (location.hash.slice(1) || 'live').split('/');
  document.querySelectorAll('.view').forEach((x) => x.classList.toggle('active', x.id === `view-${v}`));
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === v));
  await refreshLists();
  const pick = (sel) => { if (id && [...sel.options].some((o) => o.value === id)) { sel.value = id; $('#pin').checked = true; } return sel.value; };
  if (v === 'live' && id) {
    const r = runs.find((x) => x.id === id);
    $('#pin').checked = true;
    follow(id);
    if (r && !r.active) $('#progress-text').textContent = `replaying ${r.events} stored events…`;
  }
  if (v === 'map') drawMaps(live);
  // The traces are not drawn while hidden: shown again, they catch up at once.
  if (v === 'live') { drawLive(); drawQueue().catch(() => {}); }
  if (v === 'cdf') await showCdf(pick($('#cdf-run')), runs);
  if (v === 'inference') await showInference(pick($('#infer-run')));
  if (v === 'wvbench') await showWvBench(pick($('#wvb-run')));
  if (v === 'calibration') { await showFit(pick($('#fit-run'))); await showTwin(pick($('#twin-run'))); }
  if (v === 'compare') { fillCompareSelects(runs, id); await showCompare(); }
  if (v === 'studies') {
    await fillStudies();
    if (id && [...$('#study-pick').options].some((o) => o.value === id)) $('#study-pick').value = id;
    await showStudy($('#study-pick').value);
  }
  document.querySelectorAll(`#view-${v} .chart`).forEach((n) => window.echarts.getInstanceByDom(n)?.resize());
}
window.addEventListener('hashchange', () => route().catch((e) => ($('#message').textContent = e.message)));

$('#token').addEventListener('change', (e) => localStorage.setItem('rram-token', e.target.value));
$('#map-mode').addEventListener('change', () => drawMaps(live));
$('#cdf-run').addEventListener('change', (e) => { $('#pin').checked = true; showCdf(e.target.value, runs); });
$('#study-pick').addEventListener('change', (e) => showStudy(e.target.value).catch((x) => ($('#study-body').textContent = x.message)));
$('#cdf-scale').addEventListener('change', () => showCdf($('#cdf-run').value));
$('#cdf-compare').addEventListener('change', () => showCdf($('#cdf-run').value));
$('#infer-run').addEventListener('change', (e) => { $('#pin').checked = true; showInference(e.target.value); });
$('#fit-run').addEventListener('change', (e) => showFit(e.target.value));
$('#twin-run').addEventListener('change', (e) => showTwin(e.target.value));
$('#wvb-run').addEventListener('change', (e) => showWvBench(e.target.value));
$('#cmp-a').addEventListener('change', showCompare);
$('#cmp-b').addEventListener('change', showCompare);

(async () => {
  const cfg = await api('/api/config');
  $('#token-box').hidden = !cfg.tokenRequired;
  setSessionToken(cfg.sessionToken);
  $('#token').value = localStorage.getItem('rram-token') || '';
  $('#form-infer input[name=trials]').max = String(cfg.maxTrials);
  $('#trial-cap').textContent = String(cfg.maxTrials);
  // A hub (rram serve --stations): the Stations page, fed by the server's pushed snapshots.
  if (cfg.hub) { $('#nav-stations').hidden = false; followStations(); }
  setBoards(await api('/api/boards'), () => drawQueue());
  const act = await api('/api/active');
  const running = act.jobs.find((j) => j.kind !== 'infer'); // board jobs, program-net included
  if (running) follow(running.runId);
  await route();
  await drawQueue();
  drawLiveBase();
  document.body.dataset.ready = '1';
})().catch((e) => ($('#message').textContent = e.message));
