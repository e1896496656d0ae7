/**
 * HDF5 export in the ArC TWO layout, read back by h5py (Debian's python3-h5py): the layout a lab's
 * ArC TWO tools expect, and every pulse and read of every cell in order with its values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { EmbeddedStore } from '../src/store/embedded-store.js';
import { runJob } from '../src/jobs/run-job.js';
import { characterize } from '../src/procedures/characterize.js';
import { exportHdf5, OP_PULSE, OP_READ } from '../src/store/export-hdf5.js';
import { needPresent } from './helpers/env.js';

const PY = '/usr/bin/python3';
const hasH5py = () => {
  try {
    execFileSync(PY, ['-c', 'import h5py'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const READER = `
import h5py, json, sys
f = h5py.File(sys.argv[1], 'r')
out = {k: (v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, 'item') else v)) for k, v in f.attrs.items() if k != 'rram_params'}
out['groups'] = sorted(f.keys())
out['crossbar_shape'] = list(f['crossbar/current'].shape)
out['crossbar_attrs'] = {k: int(f['crossbar'].attrs[k]) for k in ('words', 'bits')}
xp = f['crosspoints']
out['crosspoints'] = len(xp)
cell = sys.argv[2]
ts = xp[cell]['timeseries']
out['dtype'] = [n for n in ts.dtype.names]
out['nrows'] = int(ts.attrs['NROWS'])
out['class'] = ts.attrs['CLASS'].decode() if isinstance(ts.attrs['CLASS'], bytes) else ts.attrs['CLASS']
rows = ts[:]
out['rows'] = [[None if r[k] != r[k] else float(r[k]) for k in ('current', 'voltage', 'pulse_width', 'read_voltage', 'gate_voltage')] + [int(r['op_type']), int(r['seq'])] for r in rows]
out['crossbar_current'] = float(f['crossbar/current'][int(cell[1:3]), int(cell[4:6])])
print(json.dumps(out))
`;

test('export --format hdf5: ArC TWO layout read by h5py, every pulse and read of a cell in order', { timeout: 120000 }, async (t) => {
  if (!needPresent(t, existsSync(PY) && hasH5py(), 'python3-h5py', '.ci/run must install python3-h5py (apt-get install python3-h5py)')) return;
  const dir = mkdtempSync(join(tmpdir(), 'h5-'));
  const store = new EmbeddedStore(dir);
  const out = await runJob({ store }, (ctx) => characterize(new EmulatedBoard({ seed: 4 }), ctx, { algo: 'igvva', levels: 2, cellsPerLevel: 8, reads: 2, relax_s: [], seed: 4, array: 1 }), { resultName: 'level-cdf' });
  assert.equal(out.status, 'completed');
  // The cell with the most events, and its events as the store has them.
  const per = new Map<string, { type: string; seq: number; current_A?: number; vread_V?: number; vte_V?: number; vsl_V?: number; vg_V?: number; width_s?: number; kind?: string }[]>();
  for await (const e of store.events(out.runId)) {
    if (e.type !== 'pulse' && e.type !== 'read') continue;
    assert.equal(e.cell.array, 1);
    const k = `W${String(e.cell.row).padStart(2, '0')}B${String(e.cell.col).padStart(2, '0')}`;
    per.set(k, [...(per.get(k) ?? []), e as never]);
  }
  const [cell, evs] = [...per.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  const file = join(dir, 'run.h5');
  const r = await exportHdf5(store, out.runId, file);
  assert.equal(r.array, 1);
  assert.equal(r.crosspoints, per.size);
  const h = JSON.parse(execFileSync(PY, ['-c', READER, file, cell], { encoding: 'utf8' }));
  assert.equal(h.H5DS_VERSION_MAJOR, 0);
  assert.equal(h.H5DS_VERSION_MINOR, 1);
  assert.equal(h.PYTABLES_FORMAT_VERSION, '2.1');
  assert.equal(h.words, 64);
  assert.equal(h.bits, 64);
  assert.equal(h.rram_run, out.runId);
  assert.equal(h.rram_array, 1);
  assert.deepEqual(h.groups, ['crossbar', 'crosspoints', 'synthetics']);
  assert.deepEqual(h.crossbar_shape, [64, 64]);
  assert.deepEqual(h.crossbar_attrs, { words: 64, bits: 64 });
  assert.equal(h.crosspoints, per.size);
  assert.deepEqual(h.dtype.slice(0, 5), ['current', 'voltage', 'pulse_width', 'read_voltage', 'op_type']);
  assert.equal(h.class, 'TABLE');
  assert.equal(h.nrows, evs.length);
  const f32 = (x: number) => Math.fround(x);
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i];
    const [cur, v, w, vr, vg, op, seq] = h.rows[i];
    assert.equal(seq, e.seq);
    if (e.type === 'read') {
      assert.deepEqual([op, cur, v, w, vr, vg], [OP_READ, f32(e.current_A!), f32(e.vread_V!), 0, f32(e.vread_V!), null]);
    } else {
      assert.deepEqual([op, cur, v, w, vr, vg], [OP_PULSE, null, f32(e.kind === 'reset' ? -e.vsl_V! : e.vte_V!), f32(e.width_s!), null, f32(e.vg_V!)]);
    }
  }
  const lastRead = [...evs].reverse().find((e) => e.type === 'read')!;
  assert.equal(h.crossbar_current, f32(lastRead.current_A!));
  // A run on one array cannot be exported as another; bad arrays are named.
  await assert.rejects(exportHdf5(store, out.runId, join(dir, 'x.h5'), { array: 0 }), /--array.*no pulse or read on that array/);
});
