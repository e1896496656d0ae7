// The board's queue (docs/server.md "Station and queues"): the running run and the queued ones
// with who added them, move up / remove per item, pause, resume, halt; the board's line state.
// A locked queue takes the lock's key from the key box (sent as X-Rram-Lock). A board that is down
// says why and when it was last tried again; Reconnect tries it now (POST .../reconnect).
import { $, api } from '../lib/api.js';
import { el, fill } from '../lib/dom.js';
import { currentBoard } from '../lib/board.js';

const lockHeader = () => ($('#queue-key').value ? { 'x-rram-lock': $('#queue-key').value } : {});

async function act(path, opts = {}) {
  try {
    await api(`/api/boards/${currentBoard()}/${path}`, { method: 'POST', body: '{}', ...opts, headers: lockHeader() });
    $('#queue-message').textContent = '';
  } catch (e) {
    $('#queue-message').textContent = e.message;
  }
  await drawQueue();
}

function itemRow(item, k, running) {
  const up = el('button', { class: 'small', disabled: k === 0 || running }, 'up');
  const rm = el('button', { class: 'small', disabled: running }, 'remove');
  up.addEventListener('click', () => act(`queue/${item.id}/move`, { body: JSON.stringify({ position: k - 1 }) }));
  rm.addEventListener('click', () => act(`queue/${item.id}`, { method: 'DELETE', body: undefined }));
  const state = running ? (item.pausedAt ? 'held at a checkpoint' : 'running') : `#${k + 1}`;
  return el('tr', { dataset: { id: item.id } }, el('td', {}, state), el('td', {}, item.id), el('td', {}, item.kind), el('td', {}, item.submitter ?? ''), el('td', {}, up, ' ', rm));
}

/** Every board's queue in one line each (a station with several boards); the card below details the selected one. */
function drawAllBoards(all) {
  const line = (b) => {
    const q = b.queue;
    const state = q.halted ? 'halted' : q.paused ? 'paused' : q.running ? `running ${q.running}` : 'idle';
    return el('li', { dataset: { board: b.id, lines: b.lines.state } }, `${b.id} (${b.info.id}): ${state}, ${q.queued.length} queued${q.queued.length ? ` (${q.queued.join(', ')})` : ''}${q.locked ? ', locked' : ''}; lines ${b.lines.state}${b.link && b.link.state !== 'up' ? `; board ${b.link.state}` : ''}`);
  };
  fill($('#queue-boards'), all.length > 1 ? all.map(line) : []);
}

const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');

/** The board's link: up, or down with why, the last attempt to take it back and the next re-probe. */
function linkText(k) {
  if (!k || k.state === 'up') return '';
  const last = k.lastAttempt ? `; last tried ${clock(k.lastAttempt.at)} (${k.lastAttempt.by}${k.lastAttempt.ok ? ', back' : `: ${k.lastAttempt.error}`})` : '';
  const next = k.nextReprobeAt ? `; next re-probe ${clock(k.nextReprobeAt)}` : k.reprobe_s === null ? '; no re-probe by itself' : '';
  if (k.state === 'reconnecting') return 'board: being reconnected';
  return k.state === 'ungrounded' ? `board answers again, lines not grounded (the queue waits): ${k.down}${last}${next}` : `board down: ${k.down}${last}${next}`;
}

export async function drawQueue() {
  let q;
  try {
    const board = currentBoard();
    const [all, one] = await Promise.all([api('/api/boards'), api(`/api/boards/${board}/queue`)]);
    drawAllBoards(all);
    $('#queue-board').textContent = all.length > 1 ? board : '';
    q = one;
  } catch {
    return; // server restarting
  }
  const rows = [...(q.running ? [itemRow(q.running, 0, true)] : []), ...q.queued.map((i, k) => itemRow(i, k, false))];
  fill($('#queue-items'), rows.length ? rows : el('tr', {}, el('td', { colspan: 5 }, 'empty')));
  const state = q.halted ? 'halted' : q.paused ? 'paused' : 'running its queue';
  const l = q.lines;
  const lines = l.state === 'grounded' ? `every line grounded (acknowledged ${l.groundedAt}, ${l.groundedBy})` : l.state === 'driven' ? `${l.inFlight} operation(s) in flight` : l.state === 'unknown' ? `unknown: ${l.down ? `the board is down (${l.down})` : l.why}` : `idle (last ${l.lastOp ?? 'none'})`;
  fill($('#queue-state'), `${state}${q.lock.locked ? `, locked${q.lock.note ? ` (${q.lock.note})` : ''}` : ''}; lines: ${lines}`);
  $('#queue-state').dataset.lines = l.state;
  $('#queue-link').textContent = linkText(q.link);
  $('#queue-link').dataset.link = q.link?.state ?? 'up';
  $('#queue-reconnect').hidden = !q.link || q.link.state === 'up';
}

$('#queue-pause').addEventListener('click', () => act('queue/pause'));
$('#queue-resume').addEventListener('click', () => act('queue/resume'));
$('#queue-reconnect').addEventListener('click', () => act('reconnect'));
$('#queue-halt').addEventListener('click', () => {
  if (confirm('Halt: abort the running run and ground every line of the board?')) act('queue/halt');
});
// Polled only while the card is shown (it is on the live view): ten open pages on another view
// asked for two queue documents a second each, for nothing. route() draws it when the view opens.
setInterval(() => { if ($('#queue-items').offsetParent) drawQueue().catch(() => {}); }, 1000);
