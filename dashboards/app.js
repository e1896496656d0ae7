// rram-hil dashboard: plain ES module, no framework. One live state per followed run, fed by the
// server's compacted SSE deltas; every view draws from it or from stored results.
const $ = (s) => document.querySelector(s);
// Mutating requests carry a token: the user's (a server beyond loopback), else the per-server one
// /api/config gives this page (a cross-site page cannot read it).
let sessionToken = '';
const api = async (path, opts = {}) => {
  const token = $('#token').value || localStorage.getItem('rram-token') || sessionToken;
  const r = await fetch(path, { ...opts, headers: { 'content-type': 'application/json', ...(token ? { 'x-rram-token': token } : {}), ...(opts.headers || {}) } });
  const body = r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
};
// Numbers from JSON may be null (Infinity, NaN on the server side): show a dash, never throw.
const fx = (x, d) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–');
const uA = (a) => fx(a * 1e6, 2);
const COLORS = ['#444', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];

// ---- live state --------------------------------------------------------------------------
const live = { runId: null, kind: null, board: null, cells: new Map(), traces: new Map(), warnings: [], progress: null, end: null, es: null, lastSeq: -1, latencies: [], seqRate: [] , updates: 0 };
window.__rram = live;

function follow(runId) {
  if (live.runId === runId) return;
  live.es?.close();
  Object.assign(live, { runId, kind: null, cells: new Map(), traces: new Map(), warnings: [], progress: null, end: null, lastSeq: -1, updates: 0 });
  $('#run-id').textContent = runId;
  document.querySelectorAll('.map-run').forEach((e) => (e.textContent = runId));
  const es = new EventSource(`/api/runs/${runId}/stream`);
  live.es = es;
  es.addEventListener('delta', (m) => applyDelta(JSON.parse(m.data)));
  es.addEventListener('end', () => { es.close(); refreshLists(); });
}

function applyDelta(d) {
  if (d.runId !== live.runId) return;
  if (d.kind) { live.kind = d.kind; live.params = d.params; live.board = d.board; }
  for (const c of d.cells) live.cells.set(`${c[0]}:${c[1]}:${c[2]}`, c);
  for (const t of d.traces) live.traces.set(t.key, t);
  while (live.traces.size > 12) live.traces.delete(live.traces.keys().next().value);
  live.warnings.push(...d.warnings);
  if (d.progress) live.progress = d.progress;
  if (d.end) live.end = d.end;
  const now = performance.now();
  live.seqRate.push([now, d.seq]);
  while (live.seqRate.length > 2 && now - live.seqRate[0][0] > 3000) live.seqRate.shift();
  live.lastSeq = d.seq;
  requestAnimationFrame(() => {
    drawLive();
    live.updates++;
    // Event-to-pixel latency: engine time of the newest event in this delta vs now, after drawing.
    live.latencies.push(Date.now() - d.t);
    if (live.latencies.length > 500) live.latencies.shift();
  });
}

function drawLive() {
  const p = live.progress;
  const status = live.end ? live.end.status : live.kind ? 'running' : 'idle';
  $('#status').textContent = status;
  $('#status').className = `badge ${status}`;
  $('#run-kind').textContent = live.kind || '';
  if (p) {
    $('#progress-bar').style.width = `${(100 * p.done) / Math.max(1, p.total)}%`;
    $('#progress-text').textContent = `${p.phase}: ${p.done} / ${p.total} (${fx(p.rate_per_s, 1)}/s, ETA ${fx(p.eta_s, 0)} s)`;
  }
  if (live.end) $('#progress-text').textContent += ` — ${live.end.status}${live.end.error ? ': ' + live.end.error : ''}`;
  $('#abort').disabled = !!live.end || !live.kind;
  const s = [...live.latencies].sort((a, b) => a - b);
  if (s.length) $('#latency').textContent = `p50 ${s[Math.floor(s.length / 2)]} ms, p95 ${s[Math.floor(s.length * 0.95)]} ms`;
  const r = live.seqRate;
  if (r.length > 1) $('#evrate').textContent = Math.round(((r[r.length - 1][1] - r[0][1]) * 1000) / Math.max(1, r[r.length - 1][0] - r[0][0]));
  $('#warnings').innerHTML = live.warnings.slice(-30).map((w) => `<li>${escapeHtml(w.message)}</li>`).join('');
  drawTraces();
  drawMaps();
}

const escapeHtml = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function axes(ctx, w, h, x0, x1, y0, y1, xl, yl) {
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#889'; ctx.fillStyle = '#334'; ctx.font = '11px sans-serif';
  ctx.strokeRect(40, 10, w - 50, h - 40);
  for (let k = 0; k <= 4; k++) {
    const xv = x0 + ((x1 - x0) * k) / 4, yv = y0 + ((y1 - y0) * k) / 4;
    ctx.fillText(xv.toPrecision(3), 40 + ((w - 50) * k) / 4 - 10, h - 15);
    ctx.fillText(yv.toPrecision(3), 2, h - 30 - ((h - 40) * k) / 4 + 4);
  }
  ctx.fillText(xl, w / 2 - 30, h - 2);
  ctx.fillText(yl, 44, 22);
  return { X: (x) => 40 + ((x - x0) / (x1 - x0 || 1)) * (w - 50), Y: (y) => h - 30 - ((y - y0) / (y1 - y0 || 1)) * (h - 40) };
}

function drawTraces() {
  const cv = $('#traces'); const ctx = cv.getContext('2d');
  const tr = [...live.traces.values()];
  const pts = tr.flatMap((t) => t.points);
  if (!pts.length) { ctx.clearRect(0, 0, cv.width, cv.height); return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1] * 1e6);
  const { X, Y } = axes(ctx, cv.width, cv.height, Math.min(...xs), Math.max(...xs) + 1e-3, 0, Math.max(50, ...ys), 'stepped V', 'µA');
  for (const t of tr) {
    ctx.strokeStyle = COLORS[t.level % COLORS.length]; ctx.beginPath();
    t.points.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1] * 1e6)) : ctx.moveTo(X(p[0]), Y(p[1] * 1e6))));
    ctx.stroke();
    if (t.target_A) { ctx.setLineDash([4, 4]); ctx.beginPath(); ctx.moveTo(40, Y(t.target_A * 1e6)); ctx.lineTo(cv.width - 10, Y(t.target_A * 1e6)); ctx.stroke(); ctx.setLineDash([]); }
  }
}

function heat(v) {
  // Perceptual-ish blue -> yellow ramp.
  const t = Math.max(0, Math.min(1, v));
  return [Math.round(68 + 185 * t), Math.round(1 + 230 * t), Math.round(84 + 60 * (1 - t) * t * 4 - 50 * t)];
}

function drawMaps() {
  const b = live.board || { arrays: 2, rows: 64, cols: 64 };
  const box = $('#maps');
  while (box.children.length < b.arrays) {
    const c = document.createElement('canvas'); c.width = b.cols; c.height = b.rows; c.dataset.array = box.children.length; c.title = `array ${box.children.length}`;
    box.appendChild(c);
  }
  const mode = $('#map-mode').value;
  const maxLevel = Math.max(1, Number(live.params?.levels ?? 8) - 1);
  for (const c of box.children) {
    const a = Number(c.dataset.array);
    const ctx = c.getContext('2d'); const img = ctx.createImageData(b.cols, b.rows);
    for (let i = 0; i < img.data.length; i += 4) { img.data[i] = img.data[i + 1] = img.data[i + 2] = 200; img.data[i + 3] = 255; }
    for (const cell of live.cells.values()) {
      if (cell[0] !== a) continue;
      const [r, g, bl] = heat(mode === 'level' ? cell[4] / maxLevel : cell[3] / 50e-6);
      const o = (cell[1] * b.cols + cell[2]) * 4;
      img.data[o] = r; img.data[o + 1] = g; img.data[o + 2] = bl;
    }
    ctx.putImageData(img, 0, 0);
    c.dataset.cells = String([...live.cells.values()].filter((x) => x[0] === a).length);
  }
  box.dataset.updates = String(live.updates);
}

// ---- level CDFs ---------------------------------------------------------------------------
async function showCdf(runId) {
  if (!runId) return;
  const d = await api(`/api/runs/${runId}/results/level-cdf`);
  const cv = $('#cdf-plot'); const ctx = cv.getContext('2d');
  const all = d.levels.flatMap((l) => l.samples_A.map((x) => x * 1e6));
  const { X, Y } = axes(ctx, cv.width, cv.height, 0, Math.max(50, ...all), 0, 1, 'read current (µA) at ' + d.vread_V + ' V', 'cumulative probability');
  d.levels.forEach((l, k) => {
    const col = COLORS[k % COLORS.length];
    ctx.fillStyle = col + '22';
    ctx.fillRect(X(l.spec.band_A[0] * 1e6), 10, X(l.spec.band_A[1] * 1e6) - X(l.spec.band_A[0] * 1e6), cv.height - 40);
    ctx.strokeStyle = col; ctx.setLineDash([4, 4]); ctx.beginPath(); ctx.moveTo(X(l.spec.target_A * 1e6), 10); ctx.lineTo(X(l.spec.target_A * 1e6), cv.height - 30); ctx.stroke(); ctx.setLineDash([]);
    const s = l.samples_A.map((x) => x * 1e6).sort((a, b) => a - b);
    ctx.beginPath();
    s.forEach((x, i) => (i ? ctx.lineTo(X(x), Y((i + 1) / s.length)) : ctx.moveTo(X(x), Y(1 / s.length))));
    ctx.stroke();
  });
  cv.dataset.levels = String(d.levels.length);
  // Statistics are over programmed cells; cells that failed are counted apart, by reason.
  const fails = (f) => Object.entries(f ?? {}).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ') || '–';
  const sm = d.summary;
  $('#cdf-table').innerHTML = (sm ? `<tr><th colspan="9" class="${sm.belowThreshold ? 'bad' : ''}">${sm.ok} of ${sm.cells} cells programmed (${fx(100 * sm.successRate, 1)} %${sm.belowThreshold ? `, below the required ${fx(100 * sm.minSuccess, 0)} %` : ''}); failures: ${fails(sm.failures)}</th></tr>` : '') +
    '<tr><th>level</th><th>target µA</th><th>n</th><th>ok</th><th>failures</th><th>median µA</th><th>σ robust µA</th><th>pulses</th><th>success</th></tr>' +
    d.levels.map((l) => `<tr><td>${l.spec.level}</td><td>${uA(l.spec.target_A)}</td><td>${l.stats.n}</td><td>${l.stats.nOk ?? l.stats.n}</td><td>${fails(l.stats.failures)}</td><td>${uA(l.stats.median_A)}</td><td>${uA(l.stats.sigmaRobust_A)}</td><td>${fx(l.stats.pulsesMean, 1)}</td><td>${fx(100 * l.stats.successRate, 1)}%</td></tr>`).join('') +
    '<tr><th colspan="9">adjacent-level overlap of programmed cells (empirical BER / Gaussian)</th></tr>' + d.overlaps.map((o) => `<tr><td>${o.lower}-${o.upper}</td><td colspan="4">threshold ${uA(o.threshold_A)} µA</td><td colspan="4">${o.empiricalBer?.toExponential(2) ?? '–'} / ${o.gaussianBer?.toExponential(2) ?? '–'}</td></tr>`).join('');
}

// ---- calibration: the fitted transfer over the measured staircases, board vs twin CDFs ----------
async function showFit(runId) {
  if (!runId) return;
  const d = await api(`/api/runs/${runId}/results/calibration-fit`);
  const cv = $('#transfer-plot'); const ctx = cv.getContext('2d');
  const t = d.transfer;
  if (!t) { ctx.clearRect(0, 0, cv.width, cv.height); ctx.fillText('this fit has no sweep (no transfer)', 60, 60); }
  else {
    const vs = t.points.map((p) => p.vg).concat(t.curve.map((p) => p.vg));
    const gs = t.points.map((p) => p.g * 1e6).concat(t.curve.map((p) => p.g * 1e6));
    const { X, Y } = axes(ctx, cv.width, cv.height, Math.min(...vs), Math.max(...vs), 0, Math.max(...gs), 'gate voltage VG (V)', 'G (µS)');
    ctx.fillStyle = '#1f77b455';
    for (const p of t.points) ctx.fillRect(X(p.vg) - 1, Y(p.g * 1e6) - 1, 2, 2);
    ctx.strokeStyle = '#d62728'; ctx.lineWidth = 2; ctx.beginPath();
    t.curve.forEach((p, i) => (i ? ctx.lineTo(X(p.vg), Y(p.g * 1e6)) : ctx.moveTo(X(p.vg), Y(p.g * 1e6))));
    ctx.stroke(); ctx.lineWidth = 1;
  }
  cv.dataset.points = String(t?.points.length ?? 0);
  const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x.toPrecision(4) : '–');
  $('#fit-table').innerHTML = '<tr><th>parameter</th><th>value</th><th>unit</th><th>±</th><th>status</th></tr>' +
    Object.entries(d.params).map(([k, p]) => `<tr><td>${k}</td><td>${num(p.value)}</td><td>${p.unit}</td><td>${num(p.uncertainty)}</td><td title="${(p.method || '').replace(/"/g, '&quot;')}">${p.status}</td></tr>`).join('');
}

async function showTwin(runId) {
  if (!runId) return;
  const d = await api(`/api/runs/${runId}/results/twin`);
  $('#twin-summary').innerHTML = `run ${d.against} with calibration ${d.calibration}: worst KS <b>${fx(d.worstKs, 3)}</b> (noise floor ${fx(d.ksNoise, 3)}), <span class="${d.pass ? '' : 'error'}">${d.pass ? 'PASS' : 'FAIL'} at max KS ${d.maxKs}</span>`;
  const cv = $('#twin-plot'); const ctx = cv.getContext('2d');
  const all = d.samples.flatMap((l) => l.board_A.concat(l.twin_A)).map((x) => x * 1e6);
  const { X, Y } = axes(ctx, cv.width, cv.height, 0, Math.max(...all), 0, 1, 'read current (µA)', 'cumulative probability');
  d.samples.forEach((l, k) => {
    ctx.strokeStyle = COLORS[k % COLORS.length];
    for (const [xs, dash] of [[l.board_A, []], [l.twin_A, [5, 4]]]) {
      const s = xs.map((x) => x * 1e6).sort((a, b) => a - b);
      ctx.setLineDash(dash); ctx.beginPath();
      s.forEach((x, i) => (i ? ctx.lineTo(X(x), Y((i + 1) / s.length)) : ctx.moveTo(X(x), Y(1 / s.length))));
      ctx.stroke();
    }
    ctx.setLineDash([]);
  });
  cv.dataset.levels = String(d.samples.length);
  $('#twin-table').innerHTML = '<tr><th>level</th><th>quantity</th><th>n board</th><th>n twin</th><th>KS</th><th>median twin/board</th><th>σ twin/board</th></tr>' +
    d.rows.map((r) => `<tr><td>${r.level}</td><td>${r.quantity}</td><td>${r.nBoard}</td><td>${r.nTwin}</td><td class="${r.pass ? '' : 'bad'}">${fx(r.ks, 3)}</td><td>${fx(r.medianRatio, 3)}</td><td>${fx(r.sigmaRatio, 2)}</td></tr>`).join('');
}

// ---- write-verify bench: cost against precision, per algorithm and level --------------------------
async function showWvBench(runId) {
  if (!runId) return;
  const d = await api(`/api/runs/${runId}/results/wv-bench`);
  const cv = $('#wvb-plot'); const ctx = cv.getContext('2d');
  const lrs = d.rows.filter((r) => r.kind === 'lrs');
  const xs = lrs.map((r) => r.pulsesMean), ys = lrs.map((r) => r.sigmaRobust_A[0] * 1e6);
  const { X, Y } = axes(ctx, cv.width, cv.height, 0, Math.max(...xs) * 1.05, 0, Math.max(...ys) * 1.1, 'pulses per cell (mean)', 'robust sigma (µA)');
  const names = d.algos.map((a) => a.algo);
  lrs.forEach((r) => {
    ctx.fillStyle = COLORS[(names.indexOf(r.algo) + 1) % COLORS.length];
    ctx.beginPath(); ctx.arc(X(r.pulsesMean), Y(r.sigmaRobust_A[0] * 1e6), 4, 0, 2 * Math.PI); ctx.fill();
  });
  names.forEach((n, k) => { ctx.fillStyle = COLORS[(k + 1) % COLORS.length]; ctx.fillRect(cv.width - 200, 20 + 16 * k, 10, 10); ctx.fillStyle = '#334'; ctx.fillText(n, cv.width - 185, 29 + 16 * k); });
  cv.dataset.points = String(lrs.length);
  $('#wvb-table').innerHTML = `<tr><th>algorithm</th><th>run</th><th>LRS pulses/cell</th><th>p99</th><th>success</th><th>σ robust µA</th><th>vs igvva</th><th>energy pJ</th>${d.times_s.map((t) => `<th>BER @ ${t} s</th>`).join('')}</tr>` +
    d.algos.map((a) => `<tr><td>${a.algo}</td><td><a href="#cdf/${a.runId}">${a.runId}</a></td><td>${fx(a.lrsPulsesMean, 1)}</td><td>${fx(a.lrsPulsesP99, 0)}</td><td>${fx(100 * a.success, 2)} %</td><td>${fx(a.lrsSigmaRobustMean_A * 1e6, 3)}</td><td>${fx(a.sigmaVsIgvva, 2)}</td><td>${fx(a.energyMean_J * 1e12, 1)}</td>${a.ber.map((b) => `<td>${b.empirical.toExponential(1)}</td>`).join('')}</tr>`).join('');
}

// ---- inference ----------------------------------------------------------------------------
/** An inference result, or a program-net result shaped like one (plus the read-back accuracy). */
async function accuracyResult(runId) {
  const run = await api(`/api/runs/${runId}`);
  if (!run.results.includes('program-net')) return api(`/api/runs/${runId}/results/infer`);
  const p = await api(`/api/runs/${runId}/results/program-net`);
  const mc = p.monteCarlo;
  const one = { mean: p.quantizedAccuracy, std: 0, min: p.quantizedAccuracy, max: p.quantizedAccuracy, p5: p.quantizedAccuracy };
  return {
    ...p, hardware: p.readbackAccuracy, device: { text: p.device }, trials: mc?.trials ?? 0, engine: mc?.engine ?? 'none',
    summary: mc?.summary ?? one, histogram: mc?.histogram ?? [], cdf: mc?.cdf ?? [], confusion: p.readbackConfusion,
  };
}

async function showInference(runId) {
  if (!runId) return;
  const r = await accuracyResult(runId);
  const hw = r.hardware;
  $('#infer-summary').textContent = (hw !== undefined ? `programmed on the board (${r.programming.cells} cells, ${r.programming.tiles} tiles, ${r.programming.pulses} pulses): read-back accuracy ${(100 * hw).toFixed(2)} %` + (r.monteCarlo ? ` at the ${(100 * r.monteCarlo.readbackPercentile).toFixed(0)}th percentile of the prediction; ` : '; ') : '') +
    `${r.model} on ${r.dataset}, ${r.levels} levels, ${r.mapping.scheme}, device ${r.device.text}: mean ${(100 * r.summary.mean).toFixed(2)} % ± ${(100 * r.summary.std).toFixed(2)} (min ${(100 * r.summary.min).toFixed(2)}, p5 ${(100 * r.summary.p5).toFixed(2)}), noise-free ${(100 * r.quantizedAccuracy).toFixed(2)} %, float ${(100 * r.floatAccuracy).toFixed(2)} %, ${r.trials} trials, ${r.engine}`;
  $('#confusion-title').textContent = hw !== undefined ? 'Confusion matrix (from the read-back)' : 'Confusion matrix (all trials)';
  // Read-back accuracy as a vertical marker on the prediction's plots.
  const marker = (ctx, ax, top) => {
    if (hw === undefined) return;
    ctx.strokeStyle = '#2ca02c'; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(ax.X(hw * 100), ax.Y(0)); ctx.lineTo(ax.X(hw * 100), ax.Y(top)); ctx.stroke(); ctx.lineWidth = 1;
  };
  const lo = Math.min(r.histogram[0]?.lo ?? r.summary.min, hw ?? 1) * 100;
  const hi = Math.max(r.histogram[r.histogram.length - 1]?.hi ?? r.summary.max, hw ?? 0) * 100 + 1e-3;
  let cv = $('#acc-hist'); let ctx = cv.getContext('2d');
  const maxC = Math.max(1, ...r.histogram.map((h) => h.count));
  let ax = axes(ctx, cv.width, cv.height, lo, hi, 0, maxC, 'accuracy %', 'trials');
  ctx.fillStyle = '#3a8ee6';
  for (const h of r.histogram) ctx.fillRect(ax.X(h.lo * 100), ax.Y(h.count), Math.max(1, ax.X(h.hi * 100) - ax.X(h.lo * 100) - 1), ax.Y(0) - ax.Y(h.count));
  marker(ctx, ax, maxC);
  cv = $('#acc-cdf'); ctx = cv.getContext('2d');
  ax = axes(ctx, cv.width, cv.height, lo, hi, 0, 1, 'accuracy %', 'CDF');
  ctx.strokeStyle = '#d62728'; ctx.beginPath();
  r.cdf.forEach((c, i) => (i ? ctx.lineTo(ax.X(c.accuracy * 100), ax.Y(c.p)) : ctx.moveTo(ax.X(c.accuracy * 100), ax.Y(c.p))));
  ctx.stroke();
  marker(ctx, ax, 1);
  const rowMax = r.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  $('#confusion').innerHTML = '<tr><th>true \\ pred</th>' + r.confusion.map((_, k) => `<th>${k}</th>`).join('') + '</tr>' +
    r.confusion.map((row, k) => `<tr><th>${k}</th>${row.map((v) => `<td style="background: rgba(58,142,230,${(v / Math.max(1, rowMax[k])).toFixed(2)})">${(100 * v / Math.max(1, rowMax[k])).toFixed(1)}</td>`).join('')}</tr>`).join('');
  $('#confusion').dataset.run = runId;
  // Accuracy vs levels over every stored inference run with the same model, dataset and mapping.
  const runs = (await api('/api/runs')).filter((x) => x.kind === 'infer' && x.status === 'completed');
  const pts = [];
  for (const x of runs) {
    try { const o = await api(`/api/runs/${x.id}/results/infer`); if (o.model === r.model && o.dataset === r.dataset && o.mapping.scheme === r.mapping.scheme && (o.mapping.clip ?? 1) === (r.mapping.clip ?? 1)) pts.push([o.levels, o.summary.mean * 100, o.summary.p5 * 100]); } catch { /* still running */ }
  }
  pts.sort((a, b) => a[0] - b[0]);
  cv = $('#acc-levels'); ctx = cv.getContext('2d');
  ax = axes(ctx, cv.width, cv.height, 2, Math.max(8, ...pts.map((p) => p[0])), Math.min(...pts.map((p) => p[2]), 90) - 1, 100, 'levels', 'accuracy % (mean, p5)');
  for (const [i, col] of [[1, '#2ca02c'], [2, '#ff7f0e']]) {
    ctx.strokeStyle = col; ctx.beginPath();
    pts.forEach((p, k) => (k ? ctx.lineTo(ax.X(p[0]), ax.Y(p[i])) : ctx.moveTo(ax.X(p[0]), ax.Y(p[i]))));
    ctx.stroke();
    ctx.fillStyle = col; pts.forEach((p) => ctx.fillRect(ax.X(p[0]) - 2, ax.Y(p[i]) - 2, 4, 4));
  }
}

// ---- history and lists --------------------------------------------------------------------
async function refreshLists() {
  const runs = (await api('/api/runs')).sort((a, b) => (a.started < b.started ? 1 : -1));
  $('#runs').innerHTML = '<tr><th>run</th><th>kind</th><th>status</th><th>started</th><th>events</th><th>view</th><th>export</th></tr>' +
    runs.map((r) => `<tr><td>${r.id}</td><td>${r.kind}</td><td>${r.status}${r.active ? ' (active)' : ''}</td><td>${r.started}</td><td>${r.events}</td>` +
      `<td><a href="#live/${r.id}">live</a>${r.results.includes('level-cdf') ? ` <a href="#cdf/${r.id}">CDF</a>` : ''}${r.results.includes('infer') || r.results.includes('program-net') ? ` <a href="#inference/${r.id}">accuracy</a>` : ''}${r.results.includes('calibration-fit') ? ` <a href="#calibration/${r.id}">fit</a>` : ''}${r.results.includes('twin') ? ` <a href="#calibration/${r.id}">twin</a>` : ''}${r.results.includes('wv-bench') ? ` <a href="#wvbench/${r.id}">bench</a>` : ''}</td>` +
      `<td><a href="/api/runs/${r.id}/export?format=csv">csv</a> <a href="/api/runs/${r.id}/export?format=json">json</a></td></tr>`).join('');
  const fill = (sel, kind, result, alsoResult) => {
    const cur = sel.value;
    const opts = runs.filter((r) => (r.kind === kind && r.results.includes(result)) || (alsoResult && r.results.includes(alsoResult)));
    sel.innerHTML = opts.map((r) => `<option value="${r.id}">${r.id} (${r.started.slice(11, 19)})</option>`).join('');
    if (cur && opts.some((r) => r.id === cur)) sel.value = cur;
  };
  fill($('#cdf-run'), 'characterize', 'level-cdf');
  fill($('#infer-run'), 'infer', 'infer', 'program-net');
  fill($('#fit-run'), 'calibrate', 'calibration-fit');
  fill($('#twin-run'), 'twin', 'twin');
  fill($('#wvb-run'), 'wv-bench', 'wv-bench');
  return runs;
}

// ---- forms --------------------------------------------------------------------------------
function formBody(form, kind) {
  const body = { kind };
  for (const el of form.elements) {
    if (!el.name) continue;
    body[el.name] = el.type === 'number' ? Number(el.value) : el.value;
  }
  return body;
}
async function startJob(form, kind) {
  $('#message').textContent = '';
  try {
    const r = await api('/api/jobs', { method: 'POST', body: JSON.stringify(formBody(form, kind)) });
    follow(r.runId);
    if (kind !== 'infer' && kind !== 'program-net') location.hash = '#live';
    return r.runId;
  } catch (e) {
    $('#message').textContent = e.message;
    if (kind === 'infer' || kind === 'program-net') $('#infer-summary').textContent = e.message;
  }
}
$('#form-characterize').addEventListener('submit', (e) => { e.preventDefault(); startJob(e.target, 'characterize'); });
$('#form-program').addEventListener('submit', (e) => { e.preventDefault(); startJob(e.target, 'program'); });
async function startNetJob(form, kind) {
  const id = await startJob(form, kind);
  if (!id) return;
  $('#infer-summary').textContent = `running ${id} ...`;
  const poll = setInterval(async () => {
    const r = await api(`/api/runs/${id}`).catch(() => undefined);
    if (!r) {
      // No run record yet: still loading, unless the job is gone (it failed before it started).
      const act = await api('/api/active');
      if (!act.jobs.some((j) => j.runId === id)) { clearInterval(poll); $('#infer-summary').textContent = `job ${id} failed before it started (see the server log)`; }
      return;
    }
    if (r.status === 'running') return;
    clearInterval(poll);
    await refreshLists();
    $('#infer-run').value = id;
    if (r.status !== 'completed') { $('#infer-summary').textContent = `run ${id} ${r.status}: ${r.error ?? ''}`; return; }
    showInference(id).catch((x) => ($('#infer-summary').textContent = x.message));
  }, 500);
}
$('#form-infer').addEventListener('submit', (e) => { e.preventDefault(); startNetJob(e.target, 'infer'); });
$('#start-program-net').addEventListener('click', () => startNetJob($('#form-infer'), 'program-net'));
$('#abort').addEventListener('click', async () => {
  try { await api(`/api/jobs/${live.runId}/abort`, { method: 'POST' }); } catch (e) { $('#message').textContent = e.message; }
});
$('#token').addEventListener('change', (e) => localStorage.setItem('rram-token', e.target.value));
$('#map-mode').addEventListener('change', drawMaps);
$('#cdf-run').addEventListener('change', (e) => showCdf(e.target.value));
$('#infer-run').addEventListener('change', (e) => showInference(e.target.value));
$('#fit-run').addEventListener('change', (e) => showFit(e.target.value));
$('#twin-run').addEventListener('change', (e) => showTwin(e.target.value));
$('#wvb-run').addEventListener('change', (e) => showWvBench(e.target.value));

// ---- routing ------------------------------------------------------------------------------
async function route() {
  const [view, id] = (location.hash.slice(1) || 'live').split('/');
  document.querySelectorAll('.view').forEach((v) => v.classList.toggle('active', v.id === `view-${view}`));
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === view));
  await refreshLists();
  if (view === 'live' && id) follow(id);
  if (view === 'map') drawMaps();
  if (view === 'cdf') { if (id) $('#cdf-run').value = id; await showCdf($('#cdf-run').value); }
  if (view === 'inference') { if (id) $('#infer-run').value = id; await showInference($('#infer-run').value); }
  if (view === 'wvbench') { if (id) $('#wvb-run').value = id; await showWvBench($('#wvb-run').value); }
  if (view === 'calibration') {
    if (id && [...$('#fit-run').options].some((o) => o.value === id)) $('#fit-run').value = id;
    if (id && [...$('#twin-run').options].some((o) => o.value === id)) $('#twin-run').value = id;
    await showFit($('#fit-run').value);
    await showTwin($('#twin-run').value);
  }
}
window.addEventListener('hashchange', () => route().catch((e) => ($('#message').textContent = e.message)));

(async () => {
  const cfg = await api('/api/config');
  $('#token-box').hidden = !cfg.tokenRequired;
  sessionToken = cfg.sessionToken || '';
  $('#token').value = localStorage.getItem('rram-token') || '';
  const [b] = await api('/api/boards');
  $('#board-info').textContent = `${b.info.id} — ${b.info.kind}, ${b.info.arrays} × ${b.info.rows}×${b.info.cols}`;
  const act = await api('/api/active');
  const running = act.jobs.find((j) => j.kind !== 'infer');  // board jobs, program-net included
  if (running) follow(running.runId);
  await route();
  document.body.dataset.ready = '1';
})().catch((e) => ($('#message').textContent = e.message));
