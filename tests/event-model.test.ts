/**
 * Runs as Bluesky event-model documents (issue 29, interop): every document valid against the
 * event-model JSON schemas (vendor/event-model, v1.24.0), for any run the record can hold; the
 * documents link up (one RunStart first, each Event after its stream's descriptor, seq_num 1..n
 * per stream, one RunStop last counting every stream); the data equal the record's; a real run
 * exported by `rram export --format event-model`; the live endpoint following a run that another
 * process writes gives the same documents as the export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { repoRoot } from '../lib/repo-root.js';
import { EventModelComposer, EVENT_MODEL_STREAMS, type Doc } from '../src/store/event-model.js';
import type { RunEvent } from '../src/engine/events.js';
import { rram, events as recordEvents } from './helpers/record-check.js';
import { startServer } from './helpers/server.js';

const ajv = new Ajv2020({ strict: false, allErrors: true });
const schema = (n: string) => ajv.compile(JSON.parse(readFileSync(join(repoRoot(), 'vendor', 'event-model', `${n}.json`), 'utf8')));
const VALIDATE = { start: schema('run_start'), descriptor: schema('event_descriptor'), event: schema('event'), stop: schema('run_stop') };

/** Every document valid, and linked as the event model requires; returns the events per stream. */
function checkDocuments(docs: Doc[], ended: boolean): Map<string, Record<string, unknown>[]> {
  const uids = new Set<string>();
  const descriptors = new Map<string, string>();
  const perStream = new Map<string, Record<string, unknown>[]>();
  assert.equal(docs[0]?.[0], 'start', 'the RunStart comes first');
  const start = docs[0][1];
  for (const [i, [name, doc]] of docs.entries()) {
    const v = VALIDATE[name];
    assert.ok(v(doc), `${name} ${i}: ${ajv.errorsText(v.errors)} in ${JSON.stringify(doc).slice(0, 300)}`);
    assert.ok(!uids.has(doc.uid as string), `uid ${doc.uid} twice`);
    uids.add(doc.uid as string);
    if (name === 'start') assert.equal(i, 0, 'one RunStart');
    if (name === 'descriptor') {
      assert.equal(doc.run_start, start.uid);
      assert.ok(!descriptors.has(doc.name as string), `stream ${doc.name} described twice`);
      assert.ok(EVENT_MODEL_STREAMS.includes(doc.name as string));
      descriptors.set(doc.uid as string, doc.name as string);
    }
    if (name === 'event') {
      const stream = descriptors.get(doc.descriptor as string);
      assert.ok(stream, `event ${i} before its descriptor`);
      const list = perStream.get(stream) ?? [];
      list.push(doc);
      perStream.set(stream, list);
      assert.equal(doc.seq_num, list.length, `${stream}: seq_num 1..n without gaps`);
      const keys = Object.keys((docs.find((d) => d[1].uid === doc.descriptor)![1].data_keys as object) ?? {});
      assert.deepEqual(Object.keys(doc.data as object).sort(), keys.sort(), `${stream}: every event carries its descriptor's keys`);
    }
    if (name === 'stop') {
      assert.equal(i, docs.length - 1, 'the RunStop comes last');
      assert.equal(doc.run_start, start.uid);
      assert.deepEqual(doc.num_events, Object.fromEntries([...perStream].map(([k, v]) => [k, v.length])));
    }
  }
  assert.equal(docs.at(-1)![0] === 'stop', ended, ended ? 'an ended run has its RunStop' : 'a run not ended has no RunStop');
  return perStream;
}

const composeAll = (runId: string, evs: RunEvent[]): Doc[] => {
  const c = new EventModelComposer(runId, { sample: 'W12-D3', operator: 'ana', temperature_C: 25, tags: ['hfo2', 'new array'] });
  return [...evs.flatMap((e) => c.push(e)), ...c.finish()];
};

// Random runs as the record can hold them: cells, pulses of every outcome, unusable reads, warnings
// with and without a cell, marks, resumes after an interrupted end, and a run that never ended.
const cell = fc.record({ array: fc.nat(3), row: fc.nat(63), col: fc.nat(63) });
const volt = fc.double({ min: -5, max: 5, noNaN: true });
const body = fc.oneof(
  fc.record({ type: fc.constant('pulse'), cell, kind: fc.constantFrom('form', 'set', 'reset'), vte_V: volt, vsl_V: volt, vg_V: volt, width_s: fc.double({ min: 1e-8, max: 1e-3, noNaN: true }), level: fc.nat(7), outcome: fc.option(fc.constantFrom('unknown', 'refused'), { nil: undefined }), step: fc.option(fc.constantFrom('tile 0', 'reverify 1'), { nil: undefined }) }),
  fc.record({ type: fc.constant('intent'), pulses: fc.constant([]) }),
  fc.record({ type: fc.constant('read'), cell, vread_V: fc.constant(0.2), current_A: fc.option(fc.double({ min: 0, max: 1e-4, noNaN: true }), { nil: null }), phase: fc.constantFrom('verify', 'readback', 'relax'), level: fc.nat(7), relax_s: fc.option(fc.constant(60), { nil: undefined }) }),
  fc.record({ type: fc.constant('cell-done'), cell, level: fc.nat(7), target_A: fc.double({ min: 1e-6, max: 5e-5, noNaN: true }), outcome: fc.record({ status: fc.constantFrom('ok', 'failed', 'stuck', 'leaky'), pulses: fc.nat(300), reads: fc.nat(300), final_A: fc.double({ min: 0, max: 1e-4, noNaN: true }), finalStepped_V: volt }) }),
  fc.record({ type: fc.constant('progress'), done: fc.nat(100), total: fc.constant(100), rate_per_s: fc.double({ min: 0, max: 1e4, noNaN: true }), eta_s: fc.option(fc.double({ min: 0, max: 1e4, noNaN: true }), { nil: null }), phase: fc.constant('program') }),
  fc.record({ type: fc.constant('warning'), code: fc.constantFrom('limit', 'link-lost'), message: fc.string(), cell: fc.option(cell, { nil: undefined }) }),
  fc.record({ type: fc.constant('mark'), name: fc.constant('origin'), value: fc.dictionary(fc.string(), fc.integer()) }),
);
const segment = fc.array(body, { maxLength: 25 });
const runArb = fc.record({ segments: fc.array(segment, { minLength: 1, maxLength: 3 }), ended: fc.boolean(), status: fc.constantFrom('completed', 'aborted', 'failed') });

function buildRun(r: { segments: Record<string, unknown>[][]; ended: boolean; status: string }): RunEvent[] {
  const out: Record<string, unknown>[] = [];
  const put = (e: Record<string, unknown>) => out.push({ ...e, runId: 'r1', seq: out.length, t: 1.7e12 + 10 * out.length });
  put({ type: 'run-start', kind: 'characterize', params: { levels: 4, 'a.b': { 'c/d': 1 } } });
  for (const [i, seg] of r.segments.entries()) {
    if (i > 0) {
      put({ type: 'run-end', status: 'aborted', error: 'killed' });
      put({ type: 'run-resume', kind: 'characterize', resumedAfterSeq: out.length - 1, params: {}, board: {} });
    }
    for (const e of seg) put(JSON.parse(JSON.stringify(e)) as Record<string, unknown>);
  }
  if (r.ended) put({ type: 'run-end', status: r.status, ...(r.status === 'completed' ? {} : { error: 'board gone' }) });
  return out as unknown as RunEvent[];
}

test('any run the record can hold becomes valid, linked event-model documents carrying the record\'s values', () => {
  fc.assert(
    fc.property(runArb, (r) => {
      const evs = buildRun(r);
      const docs = composeAll('r1', evs);
      const streams = checkDocuments(docs, r.ended);
      const of = (t: string) => evs.filter((e) => e.type === t);
      // One Event per record event of each mapped type, in order, with its values; intents make none.
      assert.equal(streams.get('pulses')?.length ?? 0, of('pulse').length);
      assert.equal(streams.get('reads')?.length ?? 0, of('read').length);
      assert.equal(streams.get('cells')?.length ?? 0, of('cell-done').length);
      assert.equal(streams.get('resumes')?.length ?? 0, r.segments.length - 1);
      assert.equal(streams.get('interruptions')?.length ?? 0, r.segments.length - 1);
      for (const [i, p] of (of('pulse') as Extract<RunEvent, { type: 'pulse' }>[]).entries()) {
        const d = streams.get('pulses')![i].data as Record<string, unknown>;
        assert.deepEqual([d.array, d.row, d.col, d.kind, d.vg_V, d.vte_V, d.outcome, d.step], [p.cell.array, p.cell.row, p.cell.col, p.kind, p.vg_V, p.vte_V, p.outcome ?? 'confirmed', p.step ?? 'program']);
      }
      for (const [i, x] of (of('read') as Extract<RunEvent, { type: 'read' }>[]).entries()) assert.equal((streams.get('reads')![i].data as { current_A: unknown }).current_A, x.current_A);
      const stop = docs.at(-1)![1];
      if (r.ended) assert.equal(stop.exit_status, { completed: 'success', aborted: 'abort', failed: 'fail' }[r.status]);
      // The same events give the same documents (uids included): export and live stream agree.
      assert.deepEqual(composeAll('r1', evs), docs);
    }),
    { numRuns: 200 },
  );
});

test('a characterize run exported as event-model documents: valid, one Event per pulse, read and cell of the record, ended with success; --type is refused', { timeout: 120000 }, async () => {
  const store = mkdtempSync(join(tmpdir(), 'em-'));
  const c = await rram(['characterize', '--levels', '3', '--cells-per-level', '8', '--new-board', '--seed', '2', '--store', store, '--sample', 'W1', '--operator', 'ana']);
  assert.equal(c.status, 0, c.stderr);
  const id = readdirSync(join(store, 'runs'))[0];
  const out = join(store, 'run.jsonl');
  const x = await rram(['export', '--run', id, '--format', 'event-model', '--store', store, '--out', out]);
  assert.equal(x.status, 0, x.stderr);
  const docs = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Doc);
  const streams = checkDocuments(docs, true);
  const rec = recordEvents(store, id);
  for (const [t, s] of [['pulse', 'pulses'], ['read', 'reads'], ['cell-done', 'cells']] as const) assert.equal(streams.get(s)?.length, rec.filter((e) => e.type === t).length, s);
  assert.ok((streams.get('pulses')?.length ?? 0) > 0);
  assert.equal(docs.at(-1)![1].exit_status, 'success');
  assert.equal(docs[0][1].sample, 'W1');
  assert.equal(docs[0][1].owner, 'ana');
  assert.equal(docs[0][1].plan_name, 'characterize');
  const bad = await rram(['export', '--run', id, '--format', 'event-model', '--type', 'pulse', '--store', store]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--type/);
});

test('the live event-model endpoint follows a run another process writes, and gives what the export gives once it ended', { timeout: 180000 }, async () => {
  const srv = await startServer();
  try {
    let exited = 0;
    const t0 = Date.now();
    const cli = rram(['characterize', '--levels', '4', '--cells-per-level', '64', '--new-board', '--seed', '4', '--store', srv.storeDir]).then((r) => ((exited = Date.now()), r));
    const runs = join(srv.storeDir, 'runs');
    let id = '';
    for (let i = 0; i < 600 && !id; i++) {
      id = existsSync(runs) ? (readdirSync(runs).find((d) => existsSync(join(runs, d, 'run.json'))) ?? '') : '';
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(id, 'the CLI run appeared in the store');
    const seenAt = Date.now();
    const res = await fetch(`${srv.url}/api/runs/${id}/event-model`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /ndjson/);
    let text = '';
    let firstAt = 0;
    const dec = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (!firstAt) firstAt = Date.now();
      text += dec.decode(chunk, { stream: true });
    }
    const r = await cli;
    assert.equal(r.status, 0, r.stderr);
    assert.ok(firstAt > 0 && firstAt < exited, `documents arrived while the run was still going (first ${firstAt - t0} ms after the CLI started, its exit at ${exited - t0} ms, the run seen at ${seenAt - t0} ms)`);
    const live = text.trim().split('\n').map((l) => JSON.parse(l) as Doc);
    checkDocuments(live, true);
    const exported = await (await fetch(`${srv.url}/api/runs/${id}/export?format=event-model`)).text();
    assert.deepEqual(live, exported.trim().split('\n').map((l) => JSON.parse(l) as Doc));
    assert.equal((await fetch(`${srv.url}/api/runs/no-such-run/event-model`)).status, 404);
  } finally {
    await srv.close();
  }
});
