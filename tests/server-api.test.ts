/** Dashboard JSON API and live stream: every endpoint, bad input, tokens, catch-up after reconnect. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { startServer, waitFor } from './helpers/server.js';
import { parseListen, isLoopback } from '../src/cli/commands/serve.js';
import { request as httpRequest } from 'node:http';
import { scrubPaths } from '../src/server/security.js';
import { initTf, tf } from '../src/inference/tf-backend.js';
import { buildModel, parseArch } from '../src/inference/arch-spec.js';
import { saveModel } from '../src/inference/model-io.js';

const json = async (r: Response) => ({ status: r.status, body: (await r.json()) as Record<string, any> });
const post = (url: string, body: unknown, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** Reads an SSE stream until `stop` returns true; returns the parsed delta messages and the last id. */
async function readStream(url: string, stop: (deltas: any[]) => boolean, headers: Record<string, string> = {}): Promise<{ deltas: any[]; lastId: string | undefined }> {
  const ac = new AbortController();
  const r = await fetch(url, { headers, signal: ac.signal });
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  const dec = new TextDecoder();
  let buf = '';
  const deltas: any[] = [];
  let lastId: string | undefined;
  const reader = r.body!.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let k: number;
      while ((k = buf.indexOf('\n\n')) >= 0) {
        const msg = buf.slice(0, k);
        buf = buf.slice(k + 2);
        const id = /^id: (.*)$/m.exec(msg)?.[1];
        const data = /^data: (.*)$/m.exec(msg)?.[1];
        if (/^event: delta$/m.test(msg) && data) {
          deltas.push(JSON.parse(data));
          lastId = id;
        }
        if (/^event: end$/m.test(msg) || stop(deltas)) return { deltas, lastId };
      }
    }
  } finally {
    ac.abort();
  }
  return { deltas, lastId };
}

test('API: boards, jobs with validation, runs, events paging, results, export, 404s', async () => {
  const s = await startServer();
  try {
    const b = await json(await fetch(`${s.url}/api/boards`));
    assert.equal(b.body[0].info.arrays, 2);
    const bad: [unknown, RegExp, string][] = [
      [{ kind: 'characterize', levels: 9 }, /levels=9/, 'levels'],
      [{ kind: 'characterize', cellsPerLevel: 'many' }, /cellsPerLevel="many"/, 'cellsPerLevel'],
      [{ kind: 'program', map: '/etc/passwd' }, /map="\/etc\/passwd".*must be one of random/, 'map'],
      [{ kind: 'infer', model: '../../etc' }, /model="..\/..\/etc"/, 'model'],
      [{ kind: 'infer', model: 'm', device: '/tmp/x.json' }, /file paths are not accepted/, 'device'],
      [{ kind: 'program-net', model: 'm', levels: 9 }, /levels=9.*2\.\.8/, 'levels'],
      [{ kind: 'program-net', model: 'm', algo: 'annealing' }, /algo="annealing"/, 'algo'],
      [{ kind: 'program-net', model: 'm', step_V: 5 }, /step_V=5/, 'step_V'],
      [{ kind: 'infer', model: 'm', clip: 2 }, /clip=2/, 'clip'],
      [{ kind: 'launch' }, /kind="launch"/, 'kind'],
      [{ kind: 'characterize', vte: 9 }, /vte=9: is not a characterize parameter/, 'vte'],
      [[1, 2], /body=/, 'body'],
    ];
    for (const [body, re, field] of bad) {
      const r = await json(await s.post(`${s.url}/api/jobs`, body));
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error, re);
      assert.equal(r.body.field, field);
    }
    const malformed = await json(await s.post(`${s.url}/api/jobs`, '{"kind":'));
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.error, /not valid JSON/);
    const noModel = await json(await s.post(`${s.url}/api/jobs`, { kind: 'infer', model: 'absent', device: 'gaussian:5%' }));
    assert.equal(noModel.status, 404);
    assert.equal((await s.post(`${s.url}/api/jobs`, { kind: 'program-net', model: 'absent', device: 'gaussian:5%' })).status, 404);

    assert.match((await json(await s.post(`${s.url}/api/jobs`, { kind: 'characterize', algo: 'fastest' }))).body.error, /algo="fastest".*igvva, ispva, igvva-predict, igvva-adaptive, bidir/);
    // Long enough (256 cells) that the second job is still queued when it is aborted, however fast the engine.
    const started = await json(await s.post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 4, cellsPerLevel: 64, algo: 'igvva-predict' }));
    assert.equal(started.status, 202);
    const id = started.body.runId as string;
    // One board job at a time: the second joins the board's queue behind the running one (the characterize above takes seconds).
    const queued = await json(await s.post(`${s.url}/api/jobs`, { kind: 'program', map: 'random' }));
    assert.equal(queued.status, 202, `second board job: ${queued.status}`);
    assert.equal(queued.body.state, 'queued');
    assert.equal(queued.body.position, 0);
    assert.equal(s.station.queue.view().running?.id, id);
    // Aborting a job that has not started takes it out of the queue.
    assert.equal((await json(await s.post(`${s.url}/api/jobs/${queued.body.runId}/abort`, {}))).body.removed, true);
    await waitFor(async () => (await json(await fetch(`${s.url}/api/runs/${id}`))).body.status === 'completed', 60000, 'run to complete');
    await s.jobs.idle();
    const runs = await json(await fetch(`${s.url}/api/runs`));
    assert.ok(runs.body.some((r: { id: string }) => r.id === id));
    const detail = await json(await fetch(`${s.url}/api/runs/${id}`));
    const total = detail.body.events as number;
    const p1 = await json(await fetch(`${s.url}/api/runs/${id}/events?offset=0&limit=100`));
    const p2 = await json(await fetch(`${s.url}/api/runs/${id}/events?offset=100&limit=100`));
    assert.equal(p1.body.events.length, 100);
    assert.equal(p2.body.events[0].seq, 100);
    assert.equal(p1.body.next, 100);
    const reads = await json(await fetch(`${s.url}/api/runs/${id}/events?type=read&limit=5`));
    assert.equal(reads.body.events.length, 5, 'the type filter finds reads');
    assert.ok(reads.body.events.every((e: { type: string }) => e.type === 'read'));
    assert.equal((await fetch(`${s.url}/api/runs/${id}/events?limit=-3`)).status, 400);
    const cdf = await json(await fetch(`${s.url}/api/runs/${id}/results/level-cdf`));
    assert.equal(cdf.body.levels.length, 4);
    const csv = await fetch(`${s.url}/api/runs/${id}/export?format=csv`);
    assert.equal(csv.status, 200);
    assert.equal((await csv.text()).trim().split('\n').length, total + 1);
    assert.equal((await fetch(`${s.url}/api/runs/${id}/export?format=xml`)).status, 400);
    assert.equal((await fetch(`${s.url}/api/runs/20990101-000000-0000`)).status, 404);
    assert.equal((await fetch(`${s.url}/api/runs/${id}/results/secrets`)).status, 404);
    assert.equal((await s.post(`${s.url}/api/jobs/20990101-000000-0000/abort`, {})).status, 404);
    assert.equal((await fetch(`${s.url}/api/nothing`)).status, 404);
    assert.equal((await fetch(`${s.url}/api/runs/..%2F..%2Fetc/events`)).status, 400);
  } finally {
    await s.close();
  }
});

test('live stream: throttled compacted deltas; a reconnecting client catches up from its last id; abort', async () => {
  const s = await startServer();
  try {
    const id = (await json(await s.post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 8, cellsPerLevel: 256 }))).body.runId as string;
    const first = await readStream(`${s.url}/api/runs/${id}/stream`, (d) => d.length >= 2);
    assert.equal(first.deltas[0].kind, 'characterize');
    assert.ok(Number(first.lastId) > 0);
    // Reconnect with Last-Event-ID: only what changed after it, up to the end of the run.
    const rest = await readStream(`${s.url}/api/runs/${id}/stream`, () => false, { 'last-event-id': first.lastId! });
    assert.ok(rest.deltas.length >= 1);
    assert.ok(rest.deltas[0].seq > Number(first.lastId));
    assert.equal(rest.deltas[0].kind, undefined, 'run-start is not resent after catch-up');
    const cells = new Map<string, number>();
    for (const d of [...first.deltas, ...rest.deltas]) for (const c of d.cells) cells.set(`${c[0]}:${c[1]}:${c[2]}`, c[3]);
    assert.equal(cells.size, 2048, 'every programmed cell reached the client across the reconnect');
    // ... with its value: each cell's current on the client is the last read the record holds for it
    // (of the run's own reads: the MVM probe's whole-array reads after it are not the map's).
    await s.jobs.idle();
    const lastRead = new Map<string, number>();
    for await (const e of s.jobs.store.events(id, { type: 'read' })) if (e.type === 'read' && e.current_A !== null && e.phase !== 'probe') lastRead.set(`${e.cell.array}:${e.cell.row}:${e.cell.col}`, e.current_A);
    let differing = 0;
    for (const [k, v] of cells) if (Math.abs(v - lastRead.get(k)!) > 1e-12 * Math.max(1, Math.abs(v))) differing++;
    assert.equal(differing, 0, `${differing} cells show another value than their last read`);
    assert.equal(rest.deltas.at(-1).end?.status, 'completed');
    const msgs = first.deltas.length + rest.deltas.length;
    const events = (await json(await fetch(`${s.url}/api/runs/${id}`))).body.events;
    assert.ok(msgs < events / 50, `${msgs} messages for ${events} events: the stream is batched`);

    const id2 = (await json(await s.post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 8, cellsPerLevel: 256 }))).body.runId as string;
    await readStream(`${s.url}/api/runs/${id2}/stream`, (d) => d.some((x) => x.progress));
    assert.equal((await s.post(`${s.url}/api/jobs/${id2}/abort`, {})).status, 200);
    await s.jobs.idle();
    assert.equal((await json(await fetch(`${s.url}/api/runs/${id2}`))).body.status, 'aborted');
  } finally {
    await s.close();
  }
});

test('token: required for jobs and aborts when set; reads stay open; --listen parsing', async () => {
  const s = await startServer({ token: 'sekret' });
  try {
    assert.equal((await post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 2, cellsPerLevel: 1 })).status, 401);
    assert.equal((await post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 2, cellsPerLevel: 1 }, { 'x-rram-token': 'wrong!' })).status, 401);
    const ok = await post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 2, cellsPerLevel: 1 }, { authorization: 'Bearer sekret' });
    assert.equal(ok.status, 202);
    assert.equal((await post(`${s.url}/api/jobs/20990101-000000-0000/abort`, {})).status, 401);
    assert.equal((await fetch(`${s.url}/api/runs`)).status, 200);
    await s.jobs.idle();
  } finally {
    await s.close();
  }
  assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  assert.throws(() => parseListen('localhost'), /--listen="localhost"/);
  assert.ok(isLoopback('127.0.0.1') && !isLoopback('0.0.0.0'));
  const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'serve', '--listen', 'nope'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--listen="nope"/);
});

/** A raw HTTP request with any Host header (fetch would send the URL's). */
function rawRequest(url: string, o: { method?: string; host: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname: u.hostname, port: u.port, path: u.pathname, method: o.method ?? 'GET', headers: { host: o.host, ...(o.headers ?? {}) } }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on('error', reject);
    if (o.body) req.write(o.body);
    req.end();
  });
}

test('security: foreign Host refused (DNS rebinding), a token on every mutation even on loopback, cross-site refused, one inference at a time, no server paths in errors', { timeout: 120000 }, async () => {
  const s = await startServer();
  try {
    const port = new URL(s.url).port;
    // DNS rebinding: the attacker's name in Host, on the API and the page alike.
    for (const path of ['/api/runs', '/', '/api/config']) {
      const r = await rawRequest(`${s.url}${path}`, { host: `attacker.example:${port}` });
      assert.equal(r.status, 421, path);
      assert.match(JSON.parse(r.body).error, /host "attacker\.example:\d+" is not this server's/);
    }
    const posted = await rawRequest(`${s.url}/api/jobs`, { method: 'POST', host: 'attacker.example', headers: { 'content-type': 'application/json', 'x-rram-token': s.token }, body: '{"kind":"characterize","levels":2,"cellsPerLevel":1}' });
    assert.equal(posted.status, 421, 'a rebinding page cannot start a job even with the token');
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) assert.equal((await rawRequest(`${s.url}/api/runs`, { host })).status, 200, host);
    // Loopback without --token: mutations still need the per-server token, which only the page can read.
    const cfg = await json(await fetch(`${s.url}/api/config`));
    assert.equal(cfg.body.tokenRequired, false);
    assert.equal(cfg.body.sessionToken, s.token);
    assert.ok(s.token.length >= 20);
    // A cross-site form can only send a simple request: text/plain, no custom header.
    const form = await rawRequest(`${s.url}/api/jobs`, { method: 'POST', host: `127.0.0.1:${port}`, headers: { 'content-type': 'text/plain' }, body: '{"kind":"characterize"}' });
    assert.equal(form.status, 401);
    assert.equal((await post(`${s.url}/api/jobs/20990101-000000-0000/abort`, {})).status, 401, 'an abort without the token');
    assert.equal((await s.post(`${s.url}/api/jobs`, { kind: 'characterize', levels: 2, cellsPerLevel: 1 }, { 'sec-fetch-site': 'cross-site' })).status, 403, 'cross-site, token or not');
    assert.equal((await s.post(`${s.url}/api/jobs`, { kind: 'infer', model: 'm', trials: 100001 })).status, 400, 'trial cap');
    // Errors name what is wrong, never where the server keeps it.
    const missing = await json(await s.post(`${s.url}/api/jobs`, { kind: 'infer', model: 'absent', device: 'gaussian:5%' }));
    assert.equal(missing.status, 404);
    assert.ok(!JSON.stringify(missing.body).includes(s.storeDir) && !/\/tmp\//.test(JSON.stringify(missing.body)), JSON.stringify(missing.body));
    assert.match(missing.body.error, /absent/);
    // One inference at a time.
    await initTf();
    await saveModel(tf, buildModel(tf, parseArch('dense:8'), 4), join(s.storeDir, 'models', 'd8'));
    const first = await json(await s.post(`${s.url}/api/jobs`, { kind: 'infer', model: 'd8', device: 'gaussian:5%', trials: 5000, images: 2000 }));
    assert.equal(first.status, 202);
    const second = await json(await s.post(`${s.url}/api/jobs`, { kind: 'infer', model: 'd8', device: 'gaussian:5%', trials: 10 }));
    assert.equal(second.status, 409);
    assert.equal(second.body.runId, first.body.runId);
    assert.equal((await s.post(`${s.url}/api/jobs/${first.body.runId}/abort`, {})).status, 200);
    await s.jobs.idle();
    // An aborted inference is an aborted run with what it measured, not a silent stop.
    assert.equal(s.jobs.store.getRun(first.body.runId).status, 'aborted');
    assert.ok((s.jobs.store.getRun(first.body.runId).counts['run-start'] ?? 0) === 1);
  } finally {
    await s.close();
  }
  assert.equal(scrubPaths('cannot read /home/lab/rram-data/models/x/model.json: ENOENT', ['/home/lab']), 'cannot read .../model.json: ENOENT');
  assert.equal(scrubPaths('level-CDF file not found: "/srv/store/runs/b.json" (store /srv/store)', ['/srv/store']), 'level-CDF file not found: ".../b.json" (store .../store)');
  assert.equal(scrubPaths('map="/etc/passwd": must be one of random', ['/srv/store']), 'map="/etc/passwd": must be one of random', 'a path the client sent is echoed as sent');
});
