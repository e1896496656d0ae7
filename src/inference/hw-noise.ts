/**
 * Hardware noise on a layer's weights, as training sees it (issue 27): each weight goes to the
 * levels it will be mapped to (quantization-aware: the same mapLayer the programming uses, alpha
 * from the layer's current weights), then every cell is drawn from the device model exactly as
 * a Monte Carlo trial draws it (device-models.ts: the measured level distributions bootstrapped,
 * the share of cells that end not programmed - stuck, unformable - from its Beta posterior, read
 * noise), and the cells are combined back into effective weights. Training adds
 * (effective - weight) to the weights in the forward pass and takes the gradient as if it were 0
 * (straight-through).
 */
import type { WeightOp } from './crossbar-net.js';
import { CellSampler, type DeviceModel } from './device-models.js';
import { effective, mapLayer, type Scheme } from './mapping.js';

export interface HwNoiseSpec {
  device: DeviceModel;
  scheme: Scheme;
  /** Quantile of each layer's weights its levels span (as `--clip`); default 1. */
  clip?: number;
}

type LayerLike = Pick<WeightOp, 'name' | 'fanIn' | 'units' | 'W' | 'op'>;

export class NoiseInjector {
  private readonly sampler: CellSampler;
  private draws = 0;

  constructor(
    readonly spec: HwNoiseSpec,
    seed: number,
  ) {
    this.sampler = new CellSampler(spec.device, seed);
  }

  /** Starts a new draw (a batch): every cell of every layer drawn afresh, the trial-level shares too. */
  next(): void {
    this.sampler.beginTrial(this.draws++);
  }

  /**
   * The layer's effective weights in this draw ((fanIn + 1) x units, bias row last): the weights
   * quantized to their levels, each cell drawn from the device model. Also returns what the
   * mapping decided (the cells' target levels), for tests and reports.
   */
  effective(op: LayerLike, out = new Float32Array(op.W.length)): { eff: Float32Array; pos: Uint8Array; neg?: Uint8Array; alpha: number; ref?: number } {
    const m = mapLayer({ ...op, act: 'linear' } as WeightOp, this.spec.device.nominal, this.spec.scheme, this.spec.clip ?? 1);
    const gp = this.sampler.sample(m.pos, new Float32Array(m.pos.length));
    const gn = m.neg ? this.sampler.sample(m.neg, new Float32Array(m.neg.length)) : undefined;
    return { eff: effective(m, gp, gn, out), pos: m.pos, neg: m.neg, alpha: m.alpha, ref: m.ref };
  }

  /** The noise-free quantized weights minus W: what the layer loses to its levels alone. */
  quantizedDelta(op: LayerLike): Float32Array {
    const m = mapLayer({ ...op, act: 'linear' } as WeightOp, this.spec.device.nominal, this.spec.scheme, this.spec.clip ?? 1);
    const d = m.quantized;
    for (let i = 0; i < d.length; i++) d[i] -= op.W[i];
    return d;
  }

  /** effective(op) - W: what the forward pass adds to the layer's weights. */
  delta(op: LayerLike): Float32Array {
    const { eff } = this.effective(op);
    for (let i = 0; i < eff.length; i++) eff[i] -= op.W[i];
    return eff;
  }
}
