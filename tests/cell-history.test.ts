/**
 * A cell's history on its board (issue 29: click a cell on the map): the API gives exactly the
 * pulses, reads and verdicts every run of that board's store holds for the cell (counted from the
 * records themselves), oldest run first, nothing from another board; bad addresses are refused
 * naming the field; in Chromium a click on the map shows the history's plot and its runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { rram, events as recordEvents } from './helpers/record-check.js';
import { startServer, waitFor } from './helpers/server.js';
import { CHROMIUM_ARGS } from './helpers/browser.js';
import { needTool } from './helpers/env.js';
import type { RunEvent } from '../src/engine/events.js';

interface History {
  board: string;
  runs: { id: string; kind: string; pulses: number; reads: number }[];
  points: { run: string; seq: number; type: string; what: string; current_A?: number | null }[];
  truncated: boolean;
}

const runIds = (store: string) => readdirSync(join(store, 'runs')).sort((a, b) => (JSON.parse(readFileSync(join(store, 'runs', a, 'run.json'), 'utf8')).started < JSON.parse(readFileSync(join(store, 'runs', b, 'run.json'), 'utf8')).started ? -1 : 1));
const ofCell = (evs: RunEvent[], c: { array: number; row: number; col: number }) => evs.filter((e) => (e.type === 'pulse' || e.type === 'read' || e.type === 'cell-done') && e.cell.array === c.array && e.cell.row === c.row && e.cell.col === c.col);

test('a cell\'s history holds exactly what every run of its board recorded for it, and a click on the map shows it', { timeout: 240000 }, async (t) => {
  const s = await startServer();
  try {
    const S = s.storeDir;
    const ok = (r: { status: number | null; stderr: string }) => assert.equal(r.status, 0, r.stderr);
    ok(await rram(['characterize', '--levels', '2', '--cells-per-level', '6', '--store', S, '--seed', '1']));
    const [charId] = runIds(S);
    const done = recordEvents(S, charId).find((e) => e.type === 'cell-done') as Extract<RunEvent, { type: 'cell-done' }>;
    const cell = done.cell;
    // The same cell again on the same board: a single pulse, then a read-only run.
    ok(await rram(['pulse', 'reset', '--cell', `${cell.row},${cell.col}`, '--array', String(cell.array), '--vsl', '1.2', '--vg', '2.5', '--store', S, '--seed', '1', '--verify']));
    ok(await rram(['read', '--cell', `${cell.row},${cell.col}`, '--array', String(cell.array), '--store', S, '--seed', '1']));
    // Another board (pristine, another generation): the same address is another device.
    ok(await rram(['characterize', '--levels', '2', '--cells-per-level', '6', '--store', S, '--seed', '1', '--new-board']));
    const ids = runIds(S);
    assert.equal(ids.length, 4);
    const sameBoard = ids.slice(0, 3);
    const api = async (id: string, a: number | string, r: number | string, c: number | string) => fetch(`${s.url}/api/runs/${id}/cells/${a}/${r}/${c}/history`);
    const h = (await (await api(charId, cell.array, cell.row, cell.col)).json()) as History;
    // Exactly the records' events of this cell, run by run, oldest first, in seq order.
    const expected = sameBoard.flatMap((id) => ofCell(recordEvents(S, id), cell).map((e) => ({ run: id, seq: e.seq, type: e.type })));
    assert.deepEqual(h.points.map((p) => ({ run: p.run, seq: p.seq, type: p.type })), expected);
    assert.deepEqual(h.runs.map((r) => r.id), sameBoard, 'the three runs on this board, not the new board\'s');
    assert.equal(h.runs[1].pulses, 1);
    assert.equal(h.runs[2].pulses, 0);
    assert.ok(h.runs[2].reads >= 1, 'a read-only run is in the history');
    assert.ok(h.points.some((p) => p.type === 'read' && typeof p.current_A === 'number'));
    assert.equal(h.truncated, false);
    // A cell the characterize only read (its whole-array MVM probe), never pulsed by any run: its
    // history holds those reads, from that run alone.
    const charEvents = recordEvents(S, charId);
    const pulsed = new Set(sameBoard.flatMap((id) => recordEvents(S, id)).filter((e) => e.type === 'pulse').map((e) => (e as Extract<RunEvent, { type: 'pulse' }>).cell).map((c) => `${c.array}:${c.row}:${c.col}`));
    const probed = charEvents.find((e) => e.type === 'read' && e.phase === 'probe' && !pulsed.has(`${e.cell.array}:${e.cell.row}:${e.cell.col}`)) as Extract<RunEvent, { type: 'read' }> | undefined;
    assert.ok(probed, 'the emulated board offers the MVM: characterize probes whole arrays');
    const hp = (await (await api(charId, probed.cell.array, probed.cell.row, probed.cell.col)).json()) as History;
    assert.deepEqual(hp.points.map((p) => ({ run: p.run, seq: p.seq, type: p.type })), ofCell(charEvents, probed.cell).map((e) => ({ run: charId, seq: e.seq, type: e.type })));
    assert.ok(hp.points.length > 0 && hp.points.every((p) => p.type === 'read' && p.what === 'probe'));
    assert.deepEqual(hp.runs.map((r) => [r.id, r.pulses]), [[charId, 0]]);
    // From the other board's run: only its own events.
    const other = (await (await api(ids[3], cell.array, cell.row, cell.col)).json()) as History;
    assert.ok(other.runs.every((r) => r.id === ids[3]));
    assert.notEqual(other.board, h.board);
    // Addresses that make no sense are refused, naming the field.
    for (const [a, r, c, field] of [[cell.array, '', cell.col, 'row'], [cell.array, 'x1', cell.col, 'row'], [cell.array, cell.row, '-1', 'col'], [cell.array, 64, cell.col, 'row'], [9, cell.row, cell.col, 'array'], [cell.array, cell.row, '1e1', 'col']] as const) {
      const res = await api(charId, a, r, c);
      // An empty segment does not match the route at all (404); every other bad value is a 400 naming its field.
      if (r === '') assert.equal(res.status, 404);
      else {
        assert.equal(res.status, 400, `${a}/${r}/${c}`);
        assert.match(JSON.stringify(await res.json()), new RegExp(field));
      }
    }

    if (!needTool(t, 'chromium', '/usr/bin/chromium')) return;
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${s.url}/#map`);
      await page.waitForSelector('body[data-ready="1"]');
      await waitFor(async () => (await page.$$eval('#map-run option', (os) => os.map((o) => (o as HTMLOptionElement).value))).includes(charId), 10000, 'the run in the selector');
      await page.selectOption('#map-run', charId);
      await page.waitForFunction((id) => (document.querySelector('#maps') as HTMLElement).dataset.run === id, charId);
      const sel = `#map-a${cell.array}`;
      await page.waitForFunction((q) => Number((document.querySelector(q) as HTMLElement | null)?.dataset.cells ?? 0) > 0, sel);
      await page.waitForTimeout(300);
      const at = await page.evaluate(({ q, row, col }) => {
        const w = window as unknown as { echarts: { getInstanceByDom(e: Element): { convertToPixel(f: unknown, v: unknown): number[] } } };
        return w.echarts.getInstanceByDom(document.querySelector(q)!)!.convertToPixel({ seriesIndex: 0 }, [col, row]);
      }, { q: sel, row: cell.row, col: cell.col });
      const box = (await page.locator(sel).boundingBox())!;
      await page.mouse.click(box.x + at[0], box.y + at[1]);
      await page.waitForFunction(() => !(document.querySelector('#cell-history-card') as HTMLElement).hidden && Number((document.querySelector('#cell-history') as HTMLElement).dataset.points ?? 0) > 0);
      assert.equal(Number(await page.getAttribute('#cell-history', 'data-points')), h.points.length);
      assert.equal(await page.locator('#cell-history-runs tbody tr').count(), 3);
      assert.match((await page.textContent('#cell-history-title'))!, new RegExp(`row ${cell.row}, col ${cell.col}`));
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  } finally {
    await s.close();
  }
});
