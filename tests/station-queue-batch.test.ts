/**
 * A wv-bench batch (POST /api/boards/:board/queue/batch) runs back to back (docs/server.md "Adding
 * several items at once"). Invariant, over random queues of single items and batches under random
 * adds, moves, removes, pauses and finished runs: in the order items started followed by the queue's
 * order, each batch's entries are contiguous and in entry order. A move of a batch entry moves the
 * whole batch (the entry named at `position` where the block fits); a move or add is refused,
 * naming the batch, exactly when the place asked for would come between a batch's entries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BoardQueue, QueueError, type QueueItem } from '../src/station/board-queue.js';
import { wvBenchBatch } from '../src/station/station.js';

type Req = { kind: string; wvBench?: { label: string; entry: number; of: number; first?: string } };
type Op =
  | { op: 'add'; position: number }
  | { op: 'batch'; n: number }
  | { op: 'move'; pick: number; position: number }
  | { op: 'remove'; pick: number }
  | { op: 'finish' }
  | { op: 'pause' }
  | { op: 'resume' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('add' as const), position: fc.nat(8) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('batch' as const), n: fc.integer({ min: 2, max: 4 }) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('move' as const), pick: fc.nat(20), position: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.constant({ op: 'finish' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'pause' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'resume' as const }) },
);

/** The batches whose entries are not contiguous and in entry order in `seq` (items named by id). */
function broken(seq: QueueItem<Req>[]): string[] {
  const bad = new Set<string>();
  seq.forEach((it, n) => {
    const b = wvBenchBatch(it);
    if (b === undefined) return;
    const prev = seq.slice(0, n).map((x) => wvBenchBatch(x)).lastIndexOf(b);
    if (prev >= 0 && (prev !== n - 1 || seq[prev].request.wvBench!.entry >= it.request.wvBench!.entry)) bad.add(b);
  });
  return [...bad];
}

test('wv-bench batches stay contiguous and in order under random adds and moves; a place inside a batch is refused naming it', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
      const finishers: (() => void)[] = [];
      const started: QueueItem<Req>[] = [];
      const q = new BoardQueue<Req>(
        'b',
        (item) => {
          started.push(item);
          return new Promise((r) => finishers.push(() => r({ status: 'completed' })));
        },
        wvBenchBatch,
      );
      let n = 0;
      const id = () => `20260101-000000-${(n++).toString(16).padStart(4, '0')}`;
      const settle = () => new Promise((r) => setImmediate(r));
      for (const o of ops) {
        const queued = q.view().queued;
        const before = queued.map((i) => i.id);
        // The order the move or add would give, as the spec says; refused exactly when it splits a batch.
        let expected: string[] | undefined;
        let asked: () => unknown = () => undefined;
        if (o.op === 'add') {
          const at = Math.min(o.position, queued.length);
          const nid = id();
          expected = [...before.slice(0, at), nid, ...before.slice(at)];
          asked = () => q.add({ id: nid, kind: 'read', request: { kind: 'read' }, position: at });
        } else if (o.op === 'move' && queued.length) {
          const item = queued[o.pick % queued.length];
          const to = o.position % queued.length;
          const b = wvBenchBatch(item);
          const block = queued.filter((i) => b !== undefined && wvBenchBatch(i) === b).map((i) => i.id);
          const moved = block.length ? block : [item.id];
          const rest = before.filter((x) => !moved.includes(x));
          const at = Math.max(0, Math.min(rest.length, to - moved.indexOf(item.id)));
          expected = [...rest.slice(0, at), ...moved, ...rest.slice(at)];
          asked = () => q.move(item.id, to);
        } else if (o.op === 'batch') {
          // As the batch route adds them: each entry right behind the one before (position 0 when that one runs).
          const ids: string[] = [];
          for (let k = 0; k < o.n; k++) {
            const at = k ? q.item(ids[k - 1])?.position : undefined;
            ids.push(id());
            q.add({ id: ids[k], kind: 'characterize', request: { kind: 'characterize', wvBench: { label: `a${k}`, entry: k, of: o.n, ...(k ? { first: ids[0] } : {}) } }, position: at === undefined ? (k ? 0 : undefined) : at + 1 });
          }
        } else if (o.op === 'remove' && queued.length) q.remove(queued[o.pick % queued.length].id);
        else if (o.op === 'finish') finishers.shift()?.();
        else if (o.op === 'pause') q.pause();
        else if (o.op === 'resume') q.resume();
        if (expected) {
          const byId = new Map([...queued, ...(q.view().running ? [q.view().running!] : [])].map((i) => [i.id, i]));
          const wouldSplit = broken([...started, ...expected.map((x) => byId.get(x) ?? ({ id: x, request: { kind: 'read' } } as QueueItem<Req>))]).length > 0;
          try {
            asked();
            assert.ok(!wouldSplit, `${JSON.stringify(o)} accepted though it splits a batch`);
            if (o.op === 'move') assert.deepEqual(q.view().queued.map((i) => i.id), expected, `${JSON.stringify(o)}: the order the move asks for`);
          } catch (e) {
            if (!(e instanceof QueueError)) throw e;
            assert.ok(wouldSplit, `${JSON.stringify(o)} refused though it splits no batch: ${e.message}`);
            assert.match(e.message, /between the entries of batch 2026/);
            assert.deepEqual(q.view().queued.map((i) => i.id), before, 'a refusal changes nothing');
          }
        }
        await settle();
        const seq = [...started, ...q.view().queued];
        assert.deepEqual(broken(seq), [], `after ${JSON.stringify(o)}: started ${started.map((i) => i.id).join(',')} queued ${q.view().queued.map((i) => i.id).join(',')}`);
      }
    }),
    { numRuns: 300 },
  );
});
