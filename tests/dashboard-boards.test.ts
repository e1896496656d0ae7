/**
 * The dashboard on a station with several boards (issue 29), in real Chromium. Invariants: the
 * header's board selector lists every board served; a job started from the page joins the queue
 * of the board selected (its run.json names that board), never another's; the queue card shows
 * the selected board's queue in full and one line for every board (state and queued ids).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { needTool } from './helpers/env.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { startServer, waitFor } from './helpers/server.js';

test('dashboard with two boards: the selector picks the board a started job queues on; every board\'s queue shown', { timeout: 120000 }, async (t) => {
  if (!needTool(t, 'chromium', 'chromium')) return;
  const s = await startServer({ boards: 2 });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${s.url}/#live`);
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await page.isVisible('#board-select'), true, 'the selector shows with two boards');
    assert.deepEqual(await page.$$eval('#board-select option', (o) => o.map((x) => (x as HTMLOptionElement).value)), ['board0', 'board1']);
    // board0 paused with one item waiting: its line says so; board1 idle.
    assert.equal((await s.post(`${s.url}/api/boards/board0/queue/pause`, {})).status, 200);
    const waiting = (await (await s.post(`${s.url}/api/jobs`, { kind: 'read', board: 'board0', cell: { row: 1, col: 1 } })).json()) as { runId: string };
    await page.waitForFunction((id) => /paused, 1 queued/.test(document.querySelector('#queue-boards li[data-board=board0]')?.textContent ?? '') && (document.querySelector('#queue-boards li[data-board=board0]')?.textContent ?? '').includes(id), waiting.runId, { timeout: 10000 });
    assert.match((await page.textContent('#queue-boards li[data-board=board1]')) ?? '', /board1 \(emu-4\): idle, 0 queued/);
    // Every item of every board's queue: queued, running and finished.
    const everyItem = () => s.boards.stations.flatMap((x) => { const v = x.queue.view(); return [...v.queued.map((i) => i.id), ...(v.running ? [v.running.id] : []), ...x.queue.history().map((i) => i.id)]; });
    // Jobs from the page go to the board selected, each time.
    for (const [board, emu] of [['board1', 'emu-4'], ['board0', 'emu-3'], ['board1', 'emu-4']] as const) {
      await page.selectOption('#board-select', board);
      await page.waitForFunction((b) => document.querySelector('#queue-board')?.textContent === b, board, { timeout: 10000 });
      assert.match((await page.textContent('#board-info')) ?? '', new RegExp(`^${board}: ${emu} `));
      await page.fill('#form-characterize input[name=levels]', '2');
      await page.fill('#form-characterize input[name=cellsPerLevel]', '2');
      const before = new Set(everyItem());
      await page.click('#start-characterize');
      const id = await waitFor(() => everyItem().find((x) => !before.has(x)), 20000, 'the job to reach a queue');
      const on = s.boards.stations.find((x) => x.queue.item(id));
      assert.equal(on?.boardId, board, `run ${id} queued on ${board}`);
      if (board === 'board1') {
        await waitFor(() => s.jobs.store.listRuns().find((r) => r.id === id)?.status === 'completed' || undefined, 30000, 'the board1 run to end');
        assert.equal((s.jobs.store.getRun(id).board as { id: string }).id, emu);
      } else {
        // board0 is paused: the run waits there, listed in its full queue once board0 is selected.
        await page.waitForSelector(`#queue-items tr[data-id="${id}"]`, { timeout: 10000 });
      }
    }
    assert.deepEqual(s.boards.get('board0').queue.view().queued.length, 2, 'board0 holds its two, board1 ran its own');
  } finally {
    await browser.close();
    await s.close();
  }
});
