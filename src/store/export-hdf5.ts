/**
 * `rram export --format hdf5`: one array of a run in the ArC TWO data-store layout (arc2control's
 * H5DataStore, format 0.1), so a lab's ArC TWO scripts and viewers read our runs:
 *   /            attrs H5DS_VERSION_MAJOR/MINOR, PYTABLES_FORMAT_VERSION, CLASS, TITLE, words, bits
 *   /crossbar    attrs words, bits; datasets current, voltage (words x bits): each cell's last read
 *   /crosspoints/WxxByy/timeseries  one row per pulse or read of that cell, in order:
 *                current, voltage, pulse_width, read_voltage (float32), op_type (uint32: 1 read,
 *                2 pulse), then our additions gate_voltage (float32), t_ms (float64), seq (uint32);
 *                attrs NROWS, TITLE, CLASS=TABLE
 *   /synthetics  (empty: no multi-crosspoint tests)
 * word = row, bit = column. A pulse's voltage is its top-electrode voltage (SET, FORM) or minus its
 * source-line voltage (RESET); values that do not apply are NaN (a pulse's current, a read's width 0).
 * The run's identity, kind and parameters are root attributes prefixed rram_.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { RunEvent } from '../engine/events.js';
import { exportableRun } from './export.js';
import type { EmbeddedStore } from './embedded-store.js';
import type { Group } from 'h5wasm/node';

type HasAttrs = Pick<Group, 'create_attribute'>;

export const OP_READ = 1;
export const OP_PULSE = 2;

interface Column {
  current: number[];
  voltage: number[];
  pulse_width: number[];
  read_voltage: number[];
  op_type: number[];
  gate_voltage: number[];
  t_ms: number[];
  seq: number[];
}

const newColumn = (): Column => ({ current: [], voltage: [], pulse_width: [], read_voltage: [], op_type: [], gate_voltage: [], t_ms: [], seq: [] });
const name = (word: number, bit: number) => `W${String(word).padStart(2, '0')}B${String(bit).padStart(2, '0')}`;

export interface Hdf5Export {
  file: string;
  array: number;
  crosspoints: number;
  rows: number;
}

type Row = [number, number, number, number, number, number];
type CellEvent = RunEvent & { cell: { array: number; row: number; col: number } };

/** One pass over the run: the rows of every cell of every array (a run on several arrays can name them). */
async function collectColumns(store: EmbeddedStore, runId: string, bits: number): Promise<Map<number, Map<number, Column>>> {
  const perArray = new Map<number, Map<number, Column>>();
  const push = (e: CellEvent, row: Row) => {
    let cells = perArray.get(e.cell.array);
    if (!cells) perArray.set(e.cell.array, (cells = new Map()));
    const k = e.cell.row * bits + e.cell.col;
    let c = cells.get(k);
    if (!c) cells.set(k, (c = newColumn()));
    c.current.push(row[0]);
    c.voltage.push(row[1]);
    c.pulse_width.push(row[2]);
    c.read_voltage.push(row[3]);
    c.op_type.push(row[4]);
    c.gate_voltage.push(row[5]);
    c.t_ms.push(e.t);
    c.seq.push(e.seq);
  };
  for await (const batch of store.eventBatches(runId)) {
    for (const e of batch) {
      if (e.type === 'pulse' && e.kind === 'write-verify') {
        // An on-board job as the pulses it applied (gates start + k x step) and its last read; one of unknown outcome has no known pulse.
        const j = e.onboard;
        if (e.outcome !== undefined || !j?.pulses) continue;
        for (let k = 0; k < j.pulses; k++) push(e, [NaN, e.vte_V, e.width_s, NaN, OP_PULSE, +(j.vgStart_V + k * j.vgStep_V).toFixed(6)]);
        push(e, [j.final_A ?? NaN, j.vread_V, 0, j.vread_V, OP_READ, NaN]);
      } else if (e.type === 'pulse') push(e, [NaN, e.kind === 'reset' ? -e.vsl_V : e.vte_V, e.width_s, NaN, OP_PULSE, e.vg_V]);
      else if (e.type === 'read') push(e, [e.current_A ?? NaN, e.vread_V, 0, e.vread_V, OP_READ, NaN]);
    }
  }
  return perArray;
}

/** The array to write: the one asked for, or the run's only one (an ArC TWO file holds one crossbar). */
function pickArray(perArray: Map<number, Map<number, Column>>, runId: string, asked?: number): number {
  const arrays = [...perArray.keys()].sort((a, b) => a - b);
  if (asked === undefined) {
    if (arrays.length > 1) throw new InvalidArgumentError('--array', 'missing', `run ${runId} touched arrays ${arrays.join(', ')}; an ArC TWO file holds one crossbar: choose one with --array`);
    return arrays[0] ?? 0;
  }
  if (!perArray.has(asked)) throw new InvalidArgumentError('--array', asked, `run ${runId} has no pulse or read on that array (it touched ${arrays.length ? arrays.join(', ') : 'none'})`);
  return asked;
}

// Scalar int64 attributes, as h5py writes Python ints (ArC TWO's reader compares them as integers).
const i64 = (g: HasAttrs, n: string, v: number) => g.create_attribute(n, BigInt64Array.of(BigInt(v)), [], '<q');

/** The root's attributes: the layout's own, and the run's identity, parameters and metadata prefixed rram_. */
function writeRootAttributes(f: Group, run: ReturnType<typeof exportableRun>, runId: string, array: number, words: number, bits: number): void {
  f.create_attribute('CLASS', 'GROUP');
  f.create_attribute('PYTABLES_FORMAT_VERSION', '2.1');
  i64(f, 'H5DS_VERSION_MAJOR', 0);
  i64(f, 'H5DS_VERSION_MINOR', 1);
  f.create_attribute('TITLE', `rram-hil run ${runId} array ${array}`);
  i64(f, 'words', words);
  i64(f, 'bits', bits);
  f.create_attribute('rram_format', 'rram-hil/arc2-h5 v1');
  f.create_attribute('rram_run', runId);
  f.create_attribute('rram_kind', run.kind);
  f.create_attribute('rram_status', run.status);
  f.create_attribute('rram_started', run.started);
  i64(f, 'rram_array', array);
  f.create_attribute('rram_params', JSON.stringify(run.params));
  // Run metadata (docs/formats.md "Run metadata"): one attribute per field, the whole set as JSON too.
  if (run.metadata) {
    f.create_attribute('rram_metadata', JSON.stringify(run.metadata));
    for (const [k, v] of Object.entries(run.metadata)) {
      if (typeof v === 'number') f.create_attribute(`rram_${k}`, Float64Array.of(v), [], '<d');
      else f.create_attribute(`rram_${k}`, Array.isArray(v) ? v.join(',') : String(v));
    }
  }
}

/** /crosspoints/WxxByy/timeseries per cell, and /crossbar's last read per cell; returns the rows written. */
function writeCells(f: Group, cells: Map<number, Column>, words: number, bits: number): number {
  const group = (path: string) => f.get(path) as Group;
  let rows = 0;
  const current = new Float32Array(words * bits);
  const voltage = new Float32Array(words * bits);
  const xp = group('crosspoints');
  for (const [k, c] of [...cells.entries()].sort((a, b) => a[0] - b[0])) {
    const n = c.op_type.length;
    rows += n;
    for (let i = n - 1; i >= 0; i--)
      if (c.op_type[i] === OP_READ) {
        current[k] = c.current[i];
        voltage[k] = c.read_voltage[i];
        break;
      }
    const g = name(Math.floor(k / bits), k % bits);
    xp.create_group(g);
    const data = new Map<string, Float32Array | Uint32Array | Float64Array>([
      ['current', Float32Array.from(c.current)],
      ['voltage', Float32Array.from(c.voltage)],
      ['pulse_width', Float32Array.from(c.pulse_width)],
      ['read_voltage', Float32Array.from(c.read_voltage)],
      ['op_type', Uint32Array.from(c.op_type)],
      ['gate_voltage', Float32Array.from(c.gate_voltage)],
      ['t_ms', Float64Array.from(c.t_ms)],
      ['seq', Uint32Array.from(c.seq)],
    ]);
    const d = (xp.get(g) as Group).create_dataset({ name: 'timeseries', data });
    i64(d, 'NROWS', n);
    i64(d, 'BASE_SIZE', n);
    d.create_attribute('TITLE', g);
    d.create_attribute('CLASS', 'TABLE');
  }
  const cb = group('crossbar');
  i64(cb, 'words', words);
  i64(cb, 'bits', bits);
  cb.create_dataset({ name: 'current', data: current, shape: [words, bits] });
  cb.create_dataset({ name: 'voltage', data: voltage, shape: [words, bits] });
  return rows;
}

export async function exportHdf5(store: EmbeddedStore, runId: string, file: string, o: { array?: number } = {}): Promise<Hdf5Export> {
  const run = exportableRun(store, runId);
  const board = run.board as { rows?: number; cols?: number; arrays?: number } | undefined;
  const words = board?.rows ?? 64;
  const bits = board?.cols ?? 64;
  const perArray = await collectColumns(store, runId, bits);
  const array = pickArray(perArray, runId, o.array);
  const cells = perArray.get(array) ?? new Map<number, Column>();
  const h5wasm = await import('h5wasm/node');
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'w');
  let rows = 0;
  try {
    writeRootAttributes(f, run, runId, array, words, bits);
    for (const g of ['crossbar', 'crosspoints', 'synthetics']) {
      f.create_group(g);
      (f.get(g) as Group).create_attribute('CLASS', 'GROUP');
    }
    rows = writeCells(f, cells, words, bits);
  } finally {
    f.close();
  }
  return { file, array, crosspoints: cells.size, rows };
}
