/**
 * Seeded PRNG streams. Each emulated cell owns one xoshiro128** stream so a cell's fate depends
 * only on its own sequence of operations: interleaving cells (engine concurrency, serial
 * pipelining) never changes results for a given seed.
 */

export function splitmix32(a: number): () => number {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t = t ^ (t >>> 15);
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

/** A bank of independent streams stored flat (4 words each) for cache-friendly per-cell state. */
export class StreamBank {
  private readonly s: Uint32Array;

  constructor(seed: number, count: number, salt = 0) {
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`seed ${seed} must be a non-negative safe integer`);
    this.s = new Uint32Array(count * 4);
    for (let i = 0; i < count; i++) {
      // Exact arithmetic modulo 2^32 (Math.imul): a float product of a large seed lost its low bits,
      // and seeds 1000000 and 1005311 gave the same board (issue 25). s -> s * odd mod 2^32 is a
      // bijection, so every seed below 2^32 starts its own streams.
      const sm = splitmix32(Math.imul(seed % 4294967296, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35) ^ Math.imul(salt + 7, 0x27d4eb2f));
      for (let k = 0; k < 4; k++) this.s[i * 4 + k] = sm();
      if ((this.s[i * 4] | this.s[i * 4 + 1] | this.s[i * 4 + 2] | this.s[i * 4 + 3]) === 0) this.s[i * 4] = 1;
    }
  }

  /** Uniform in [0, 1). */
  uniform(i: number): number {
    const s = this.s;
    const o = i * 4;
    const result = Math.imul(rotl(Math.imul(s[o + 1], 5), 7), 9) >>> 0;
    const t = s[o + 1] << 9;
    s[o + 2] ^= s[o];
    s[o + 3] ^= s[o + 1];
    s[o + 1] ^= s[o + 2];
    s[o] ^= s[o + 3];
    s[o + 2] ^= t;
    s[o + 3] = rotl(s[o + 3], 11);
    return result / 4294967296;
  }

  /** Stream i's state (4 words), for saving a board. */
  getState(i: number, out: Uint32Array, at: number): void {
    out.set(this.s.subarray(i * 4, i * 4 + 4), at);
  }
  setState(i: number, from: Uint32Array, at: number): void {
    this.s.set(from.subarray(at, at + 4), i * 4);
  }

  /** Standard normal (Box-Muller, one value per call: keeps the stream state minimal). */
  normal(i: number): number {
    let u = this.uniform(i);
    if (u < 1e-300) u = 1e-300;
    const v = this.uniform(i);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

export function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A single stream, for code that needs one sequence (e.g. picking cells, Monte Carlo seeds). */
export class Rng {
  private readonly bank: StreamBank;
  constructor(seed: number) {
    this.bank = new StreamBank(seed, 1, 991);
  }
  uniform(): number {
    return this.bank.uniform(0);
  }
  normal(): number {
    return this.bank.normal(0);
  }
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}
