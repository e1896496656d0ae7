// The Stations page (rram serve --stations FILE, docs/server.md "Several stations, one view"):
// each station of the stations file with its reachability, its boards and queues, and its runs as
// the shared InfluxDB holds them beside what the station's own store says (a gap shows as
// "missing"). The server polls the stations and InfluxDB and pushes a snapshot after every poll.
import { $ } from '../lib/api.js';
import { el, fill, row } from '../lib/dom.js';

const time = (iso) => (iso ? iso.slice(11, 19) : '–');
const count = (x) => (x === null || x === undefined ? '–' : String(x));

function stateText(s) {
  if (s.state === 'up') return `up (answered ${time(s.lastUp)})`;
  if (s.state === 'unreachable') return `unreachable since ${time(s.since)}${s.error ? ` (${s.error})` : ''}${s.lastUp ? `, last answered ${time(s.lastUp)}` : ', never answered'}`;
  return 'not polled yet';
}

function boardLine(b) {
  const q = b.queue;
  const what = q.halted ? 'halted' : q.paused ? 'paused' : q.running ? `running ${q.running.kind} ${q.running.id}` : 'idle';
  return el('li', { dataset: { board: b.id } }, `${b.id}${b.kind ? ` (${b.kind})` : ''}: ${what}, ${q.queued.length} queued${q.queued.length ? ` (${q.queued.map((i) => `${i.kind} ${i.id}`).join(', ')})` : ''}${q.locked ? ', locked' : ''}; lines ${b.lines ?? '–'}`);
}

function runRow(r, influxOk, station) {
  const i = r.influx;
  const status = i?.status ?? (i?.progress ? `running (${i.progress.done} / ${i.progress.total})` : i ? 'running' : '–');
  const missing = r.missing === null ? 'unknown' : String(r.missing);
  const tr = row('td', [r.id, r.kind ?? '–', status, count(i ? i.points : influxOk ? 0 : null), count(r.store?.points), missing, ...(station === undefined ? [] : [station || '(no station tag)'])], {
    dataset: { run: r.id, influx: i ? String(i.points) : influxOk ? '0' : '', store: r.store ? String(r.store.points) : '', missing: r.missing === null ? '' : String(r.missing) },
  });
  if (r.missing) tr.classList.add('bad');
  return tr;
}

const HEAD = ['run', 'kind', 'status (InfluxDB)', 'points in InfluxDB', 'points in its store', 'missing'];

function stationCard(s, influxOk) {
  const runs = s.runs.length ? s.runs.map((r) => runRow(r, influxOk)) : [el('tr', {}, el('td', { colspan: HEAD.length }, 'no runs in the window'))];
  return el(
    'div',
    { class: 'card grow', dataset: { station: s.name, state: s.state } },
    el('h3', {}, s.name, ' ', el('span', { class: `badge ${s.state === 'up' ? 'completed' : 'failed'}`, dataset: { role: 'state' } }, stateText(s))),
    el('p', { class: 'small' }, s.url),
    s.boards ? el('ul', { class: 'small' }, s.boards.map(boardLine)) : el('p', { class: 'small' }, 'boards and queues: unknown while the station does not answer'),
    el('table', {}, el('thead', {}, row('th', HEAD)), el('tbody', {}, runs)),
  );
}

export function drawStations(snap) {
  const inf = snap.influx;
  fill($('#stations-influx'), `InfluxDB ${inf.ok ? `answering (since ${time(inf.since)})` : `not answering since ${time(inf.since)}${inf.error ? ` (${inf.error})` : ''}: its counts are unknown`}; runs of the last ${snap.window_h} h; polled ${time(snap.checked)}`);
  $('#stations-influx').dataset.ok = inf.ok ? '1' : '0';
  fill($('#stations-list'), snap.stations.map((s) => stationCard(s, inf.ok)));
  const others = snap.others.map((r) => runRow(r, inf.ok, r.station));
  $('#stations-others').hidden = !others.length;
  fill($('#stations-others-rows'), others);
  $('#view-stations').dataset.checked = snap.checked;
}

/** Opens the pushed snapshots (EventSource reconnects by itself after a server restart). */
export function followStations() {
  const es = new EventSource('/api/stations/stream');
  es.addEventListener('stations', (m) => drawStations(JSON.parse(m.data)));
  return es;
}
