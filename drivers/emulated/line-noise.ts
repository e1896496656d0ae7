/**
 * Seeded byte-level line noise, as a noisy UART or cable does it: with probability `rate` per
 * byte, the byte has a bit flipped, is dropped, is doubled, or is followed by a short burst of
 * garbage. Used by the in-process loopback and by `rram emulate --pty --noise` (the link model).
 */
import { Rng } from '../../lib/rng.js';

export interface LineNoiseStats {
  bytes: number;
  flipped: number;
  dropped: number;
  doubled: number;
  bursts: number;
}

export class LineNoise {
  private readonly rng: Rng;
  readonly stats: LineNoiseStats = { bytes: 0, flipped: 0, dropped: 0, doubled: 0, bursts: 0 };

  constructor(
    readonly rate: number,
    seed = 1,
  ) {
    if (!(rate >= 0 && rate < 0.5)) throw new RangeError(`line noise rate ${rate} must be in [0, 0.5)`);
    this.rng = new Rng(seed);
  }

  /** The bytes as they arrive at the other end. */
  apply(b: Buffer): Buffer {
    this.stats.bytes += b.length;
    if (this.rate === 0) return b;
    // Skip to the next damaged byte geometrically: one draw per error, not per byte.
    let next = this.gap();
    if (next >= b.length) return b;
    const out: number[] = [];
    for (let i = 0; i < b.length; i++) {
      if (i !== next) {
        out.push(b[i]);
        continue;
      }
      const u = this.rng.uniform();
      if (u < 0.4) {
        this.stats.flipped++;
        out.push(b[i] ^ (1 << this.rng.int(8)));
      } else if (u < 0.7) this.stats.dropped++;
      else if (u < 0.9) {
        this.stats.doubled++;
        out.push(b[i], b[i]);
      } else {
        this.stats.bursts++;
        out.push(b[i]);
        for (let k = 1 + this.rng.int(8); k > 0; k--) out.push(this.rng.int(256));
      }
      next = i + 1 + this.gap();
    }
    return Buffer.from(out);
  }

  private gap(): number {
    return Math.floor(Math.log(1 - this.rng.uniform()) / Math.log1p(-this.rate));
  }
}
