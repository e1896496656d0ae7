/**
 * How clean the line from the board is: the byte error rate estimated from the frames received
 * intact and those that failed their CRC, by size. With errors independent per byte at rate e, a
 * frame of n bytes arrives intact with probability (1 - e)^n; the maximum-likelihood e over what
 * was seen (plus a prior of one clean 10 kB frame) tells the host how large a reply the line
 * carries (docs/protocol.md, section 6: READ_ARRAY, READ_ROW or READ). The counts are halved
 * every 4 MB received, so the estimate follows a line whose quality changes.
 */
const PRIOR_BYTES = 1e4;
const HALVE_EVERY = 4 << 20;
const GRID = Array.from({ length: 81 }, (_, k) => 10 ** (-9 + k / 10)); // 1e-9 .. 1e-1

export class LineQuality {
  /** Frame size -> [intact, damaged]. */
  private readonly bySize = new Map<number, [number, number]>();
  private cached?: number;
  private bytes = 0;

  intact(bytes: number): void {
    this.count(bytes, 0);
  }

  damaged(bytes: number): void {
    this.count(bytes, 1);
  }

  private count(bytes: number, k: 0 | 1): void {
    const n = Math.max(1, Math.round(bytes));
    const c = this.bySize.get(n) ?? [0, 0];
    c[k]++;
    this.bySize.set(n, c);
    this.cached = undefined;
    this.bytes += n;
    if (this.bytes > HALVE_EVERY) {
      this.bytes /= 2;
      for (const v of this.bySize.values()) {
        v[0] /= 2;
        v[1] /= 2;
      }
    }
  }

  /** The maximum-likelihood byte error rate (grid search; a clean 10 kB frame as prior). */
  errorRate(): number {
    if (this.cached !== undefined) return this.cached;
    let best = GRID[0];
    let bestL = -Infinity;
    for (const e of GRID) {
      const l1 = Math.log1p(-e);
      let L = PRIOR_BYTES * l1;
      for (const [n, [ok, bad]] of this.bySize) {
        L += ok * n * l1;
        if (bad) L += bad * Math.log(Math.max(1e-300, -Math.expm1(n * l1)));
      }
      if (L > bestL) {
        bestL = L;
        best = e;
      }
    }
    this.cached = best;
    return best;
  }

  /** Probability that a frame of `bytes` arrives intact at the estimated rate. */
  intactProbability(bytes: number): number {
    return Math.exp(bytes * Math.log1p(-this.errorRate()));
  }
}
