// The board this page acts on (a station may serve several: docs/server.md "Several boards"):
// the header's board selector; every job this page starts and the queue card use it.
import { $ } from './api.js';
import { el, fill } from './dom.js';

let boards = [];

export const currentBoard = () => $('#board-select').value || (boards[0] && boards[0].id);
export const boardsServed = () => boards;

const describe = (b) => `${b.info.id} — ${b.info.kind}, ${b.info.arrays} × ${b.info.rows}×${b.info.cols}`;

function showInfo() {
  const b = boards.find((x) => x.id === currentBoard());
  if (b) $('#board-info').textContent = boards.length > 1 ? `${b.id}: ${describe(b)}` : describe(b);
}

/** Fills the selector from GET /api/boards (shown only when there is a choice); `onChange` redraws what depends on it. */
export function setBoards(list, onChange) {
  const keep = currentBoard();
  boards = list;
  fill($('#board-select'), list.map((b) => el('option', { value: b.id }, `${b.id} (${b.info.id})`)));
  if (list.some((b) => b.id === keep)) $('#board-select').value = keep;
  $('#board-box').hidden = list.length < 2;
  showInfo();
  $('#board-select').onchange = () => {
    showInfo();
    onChange?.();
  };
}
