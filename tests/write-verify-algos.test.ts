/**
 * The write-verify lab's algorithms (issue 15) against scripted cells: a deterministic cell whose
 * SET raises the conductance to a transfer value of the gate (a running maximum, like the device)
 * and whose RESET lowers it by a factor of the source-line voltage. Misprediction, overshoot,
 * polarity reversals and budgets are driven on purpose; properties hold for any transfer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CellPlan, Command } from '../src/plans/commands.js';
import { igvva, IGVVA_DEFAULTS, type IgvvaConfig } from '../src/plans/igvva.js';
import { igvvaPredict } from '../src/plans/igvva-predict.js';
import { igvvaAdaptive, ADAPTIVE_DEFAULTS } from '../src/plans/igvva-adaptive.js';
import { bidir, BIDIR_DEFAULTS, type BidirConfig } from '../src/plans/bidir.js';
import { RESET_DEFAULTS } from '../src/plans/reset-verify.js';
import { parseReverify, reverifyBand } from '../src/procedures/reverify.js';
import { duration } from '../src/cli/parse.js';
import { berAt, thresholds } from '../src/procedures/wv-bench.js';
import { defaultLevels } from '../src/analysis/levels.js';

const uA = 1e-6;

/** A scripted cell: read current = g * 0.2 V; SET: g = max(g, T(vg)); RESET: g *= f(vsl). */
class Cell {
  constructor(
    public i_A: number,
    readonly transfer: (vg: number) => number,
    readonly reset: (vsl: number, i: number) => number = (vsl, i) => (vsl >= 0.8 ? Math.min(i, 1 * uA) : i),
  ) {}
  apply(c: Command): number | undefined {
    if (c.op === 'read') return this.i_A;
    if (c.op === 'set') this.i_A = Math.max(this.i_A, this.transfer(c.vg_V));
    if (c.op === 'reset') this.i_A = this.reset(c.vsl_V, this.i_A);
    return undefined;
  }
}

function run(plan: CellPlan, cell: Cell) {
  const cmds: Command[] = [];
  let r = plan.next();
  while (!r.done) {
    cmds.push(r.value);
    r = plan.next(cell.apply(r.value));
  }
  return { cmds, out: r.value };
}

const cfg = (target_A: number, o: Partial<IgvvaConfig> = {}): IgvvaConfig => ({ ...IGVVA_DEFAULTS, vgStart_V: 0.5, target_A, reset: RESET_DEFAULTS, ...o });
/** A linear transfer: 0 below v0, then slope uA per volt. */
const linear = (v0: number, slope_uA_per_V: number) => (vg: number) => Math.max(0, (vg - v0) * slope_uA_per_V * uA);
const sets = (cmds: Command[]) => cmds.filter((c) => c.op === 'set') as { vg_V: number }[];

test('igvva-predict: starts at the predicted gate, climbs in IGVVA\'s fine steps, ends where IGVVA ends', () => {
  const T = linear(1.0, 30); // 20 uA at VG 1.6667
  const p = run(igvvaPredict(cfg(20 * uA), 1.6), new Cell(1 * uA, T));
  const full = run(igvva(cfg(20 * uA)), new Cell(1 * uA, T));
  assert.equal(sets(p.cmds)[0].vg_V, 1.6);
  assert.deepEqual(sets(p.cmds).map((s) => s.vg_V), [1.6, 1.61, 1.62, 1.63, 1.64, 1.65, 1.66, 1.67]);
  assert.equal(p.out.status, 'ok');
  assert.equal(p.out.finalStepped_V, full.out.finalStepped_V);
  assert.equal(p.out.final_A, full.out.final_A);
  assert.ok(p.out.pulses < full.out.pulses / 10, `${p.out.pulses} pulses vs IGVVA's ${full.out.pulses}`);
});

test('igvva-predict: a start above the crossing is caught (first pulse already at target): reset, full search from vg-start', () => {
  const T = linear(1.0, 30);
  const p = run(igvvaPredict(cfg(20 * uA), 2.0), new Cell(1 * uA, T));
  const s = sets(p.cmds);
  assert.equal(s[0].vg_V, 2.0);
  assert.equal(s[1].vg_V, 0.5, 'after the misprediction the climb starts over from vg-start');
  const firstReset = p.cmds.findIndex((c) => c.op === 'reset');
  assert.ok(firstReset > 0 && firstReset < p.cmds.indexOf(s[1] as Command), 'reset between the two');
  assert.equal(p.out.status, 'ok');
  assert.equal(p.out.finalStepped_V, 1.67);
  assert.match(p.out.note ?? '', /mispredicted/);
});

test('property: for any transfer and any start, igvva-predict ends at IGVVA\'s gate and current (the spread is IGVVA\'s)', () => {
  fc.assert(
    fc.property(fc.double({ min: 0.6, max: 1.8, noNaN: true }), fc.double({ min: 5, max: 60, noNaN: true }), fc.double({ min: 5, max: 40, noNaN: true }), fc.double({ min: 0.5, max: 3.2, noNaN: true }), (v0, slope, target, start) => {
      const T = linear(v0, slope);
      const a = run(igvvaPredict(cfg(target * uA), Math.round(start * 100) / 100), new Cell(0.5 * uA, T));
      const b = run(igvva(cfg(target * uA)), new Cell(0.5 * uA, T));
      assert.equal(a.out.status, b.out.status);
      if (b.out.status === 'ok') {
        assert.equal(a.out.finalStepped_V, b.out.finalStepped_V);
        assert.equal(a.out.final_A, b.out.final_A);
      }
      assert.ok(a.out.pulses <= IGVVA_DEFAULTS.maxPulses + RESET_DEFAULTS.maxPulses + 1);
    }),
    { numRuns: 300 },
  );
});

test('property: igvva-adaptive never ends more than one fine step past the crossing, and uses fewer pulses far below it', () => {
  fc.assert(
    fc.property(fc.double({ min: 0.6, max: 1.5, noNaN: true }), fc.double({ min: 5, max: 40, noNaN: true }), fc.double({ min: 8, max: 40, noNaN: true }), (v0, slope, target) => {
      const T = linear(v0, slope);
      const a = run(igvvaAdaptive(cfg(target * uA), ADAPTIVE_DEFAULTS), new Cell(0.5 * uA, T));
      const b = run(igvva(cfg(target * uA)), new Cell(0.5 * uA, T));
      assert.equal(a.out.status, b.out.status);
      if (a.out.status !== 'ok') return;
      const crossing = v0 + target / slope;
      assert.ok(a.out.finalStepped_V >= crossing - 1e-9 && a.out.finalStepped_V < crossing + IGVVA_DEFAULTS.vgStep_V + 1e-9, `final ${a.out.finalStepped_V}, crossing ${crossing}`);
      assert.ok(a.out.pulses <= b.out.pulses);
      if (crossing - 0.5 > 0.4) assert.ok(a.out.pulses < b.out.pulses / 2, `${a.out.pulses} vs ${b.out.pulses}`);
    }),
    { numRuns: 300 },
  );
});

test('igvva-adaptive: a steep jump that overshoots above a two-sided band resets and climbs again', () => {
  // Nothing until 1.2 V, then 35 uA at once: above the 20..22 uA band.
  const T = (vg: number) => (vg >= 1.2 ? 35 * uA : 0.5 * uA);
  const r = run(igvvaAdaptive(cfg(20 * uA, { tolerance_A: 2 * uA, maxRetries: 1 }), ADAPTIVE_DEFAULTS), new Cell(0.5 * uA, T));
  assert.ok(r.cmds.some((c) => c.op === 'reset'));
  assert.equal(r.out.status, 'failed');
  assert.match(r.out.note ?? '', /overshoot, retries exhausted/);
});

const bcfg = (o: Partial<BidirConfig> = {}): BidirConfig => ({ ...BIDIR_DEFAULTS, vslStop_V: 2.0, resetVg_V: 2.7, ...o });

test('bidir: an overshoot is brought back into [target, target + tolerance] by gentle RESETs', () => {
  // SET overshoots by 3 uA at the crossing; each RESET at VSL >= 0.7 removes 1 uA.
  const T = (vg: number) => (vg >= 1.5 ? 24 * uA : vg >= 1.0 ? (vg - 1.0) * 30 * uA : 0);
  const cell = new Cell(0.5 * uA, T, (vsl, i) => (vsl >= 0.7 ? i - 1 * uA : i));
  const r = run(bidir(cfg(20 * uA), bcfg()), cell);
  assert.equal(r.out.status, 'ok');
  assert.ok(r.out.final_A >= 20 * uA && r.out.final_A <= 21.5 * uA, `final ${r.out.final_A}`);
  const resets = r.cmds.filter((c) => c.op === 'reset') as { vsl_V: number }[];
  assert.ok(resets.length >= 2);
  assert.equal(resets[0].vsl_V, BIDIR_DEFAULTS.vslStart_V, 'gentle first');
});

test('bidir: polarity reversals are capped (a cell that always overshoots and over-resets fails, saying why)', () => {
  const cell = new Cell(0.5 * uA, (vg) => (vg >= 1.0 ? 30 * uA : 0), (vsl, i) => (vsl >= 0.6 ? 1 * uA : i));
  const r = run(bidir(cfg(20 * uA), bcfg({ maxReversals: 3 })), cell);
  assert.equal(r.out.status, 'failed');
  assert.match(r.out.note ?? '', /more than 3 polarity reversals/);
  let flips = 0;
  const ops = r.cmds.filter((c) => c.op !== 'read').map((c) => c.op);
  for (let k = 1; k < ops.length; k++) if (ops[k] !== ops[k - 1]) flips++;
  assert.equal(flips, 3, 'three reversals made, the fourth refused before its pulse');
});

test('property: every algorithm respects its pulse budget and ends in a known status', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0.6, max: 3, noNaN: true }), fc.double({ min: 1, max: 50, noNaN: true }), fc.integer({ min: 0, max: 3 }), (maxPulses, v0, slope, which) => {
      const c = cfg(25 * uA, { maxPulses });
      const T = linear(v0, slope);
      const plan = [igvva(c), igvvaPredict(c, 1.2), igvvaAdaptive(c, ADAPTIVE_DEFAULTS), bidir(c, bcfg())][which];
      const r = run(plan, new Cell(0.5 * uA, T));
      const setPulses = r.cmds.filter((x) => x.op === 'set').length;
      assert.ok(setPulses <= maxPulses, `${setPulses} SET pulses > ${maxPulses}`);
      assert.ok(['ok', 'failed', 'stuck'].includes(r.out.status));
      if (r.out.status === 'ok') assert.ok(r.out.final_A >= 25 * uA);
      // A voltage reported is a voltage applied (issue 24: a failed cell reported one step past its last pulse, past the board's limit).
      const sets = r.cmds.filter((x): x is Extract<typeof x, { op: 'set' }> => x.op === 'set');
      if (sets.length) assert.equal(r.out.finalStepped_V, sets[sets.length - 1].vg_V, `${r.out.status}: reported ${r.out.finalStepped_V}, last SET at ${sets[sets.length - 1].vg_V}`);
      else assert.ok(Number.isNaN(r.out.finalStepped_V), 'no SET applied: no stepped voltage to report');
      assert.ok(!(r.out.finalStepped_V > c.vgStop_V), 'never past the gate limit');
    }),
    { numRuns: 400 },
  );
});

test('--reverify T[xN] parses times and passes; the re-verify band is the inner half of the decision band', () => {
  const d = duration('--reverify');
  assert.deepEqual(parseReverify('--reverify', '60s', d), { after_s: 60, passes: 1 });
  assert.deepEqual(parseReverify('--reverify', '1mx3', d), { after_s: 60, passes: 3 });
  assert.deepEqual(parseReverify('--reverify', '2dx2', d), { after_s: 172800, passes: 2 });
  assert.throws(() => parseReverify('--reverify', '60sx0', d), /--reverify.*passes must be 1\.\.10/);
  assert.throws(() => parseReverify('--reverify', 'soon', d), /--reverify.*soon/);
  const specs = defaultLevels(8);
  const [lo, hi] = reverifyBand(specs[3]);
  assert.ok(Math.abs(specs[3].target_A - lo - (specs[3].target_A - specs[3].band_A[0]) / 2) < 1e-12);
  assert.ok(Math.abs(hi - specs[3].target_A - (specs[3].band_A[1] - specs[3].target_A) / 2) < 1e-12);
  assert.equal(reverifyBand(specs[0])[0], 0);
});

test('BER at fixed thresholds: counted misreads and a Gaussian estimate', () => {
  const specs = defaultLevels(3, 10 * uA, 30 * uA, 2 * uA);
  const thr = thresholds(specs);
  assert.equal(thr.length, 2);
  assert.ok(thr[0] > specs[0].target_A && thr[0] < specs[1].target_A);
  const b = berAt(5 * uA, [1, 2, 6].map((x) => x * uA), [4, 8, 9].map((x) => x * uA));
  assert.equal(b.errors, 2);
  assert.equal(b.n, 6);
  assert.ok(b.gaussian > 0 && b.gaussian < 1);
});

test('decision bands of every level set meet at the thresholds between adjacent targets: no overlap, no gap, each target inside its band (issue 25)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 8 }), fc.double({ min: 0.1, max: 8, noNaN: true }), fc.double({ min: 0.5, max: 40, noNaN: true }), fc.double({ min: 0.2, max: 60, noNaN: true }), (n, hrs, gap, span) => {
      const lo = (hrs + gap) * uA;
      const specs = defaultLevels(n, lo, lo + span * uA, hrs * uA);
      const thr = thresholds(specs);
      assert.equal(specs[0].band_A[0], 0);
      for (let k = 0; k < specs.length; k++) {
        const [a, b] = specs[k].band_A;
        assert.ok(a < b, `level ${k}: band ${a}..${b}`);
        assert.ok(specs[k].target_A >= a && specs[k].target_A <= b, `level ${k}: target inside its band`);
        if (k > 0) {
          assert.equal(a, specs[k - 1].band_A[1], `levels ${k - 1}/${k}: bands meet`);
          assert.ok(Math.abs(thr[k - 1] - (specs[k - 1].target_A + specs[k].target_A) / 2) < 1e-15, 'threshold halfway between the targets');
        }
      }
    }),
    { seed: 25, numRuns: 300 },
  );
  assert.throws(() => defaultLevels(3, 10 * uA, 10 * uA, 2 * uA), /LRS min < LRS max/);
  // The case seen: 4 levels, HRS ceiling 2 uA, LRS 10..45 uA: level 1 started at 1.25 uA, inside the HRS band.
  const s4 = defaultLevels(4, 10 * uA, 45 * uA, 2 * uA);
  assert.ok(Math.abs(s4[1].band_A[0] - 6 * uA) < 1e-15 && Math.abs(s4[0].band_A[1] - 6 * uA) < 1e-15);
});
