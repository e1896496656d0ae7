/**
 * The seed of replicate r of a study (`--replicates K`): replicate 0 keeps the study's seed (a
 * single-seed study is what it always was), replicate r > 0 gets 32 bits of SHA-256 over
 * (study seed, r), so replicates never overlap another study's seed + small offsets. Never a
 * function of the machine or the worker.
 */
import { createHash } from 'node:crypto';

export function replicateSeed(seed: number, r: number): number {
  if (r === 0) return seed;
  return createHash('sha256').update(`rram-hil replicate ${seed} ${r}`).digest().readUInt32BE(0);
}

/** A point's (or net's) key in replicate r: the key itself for r = 0, `KEY@rR` after. */
export const replicateKey = (key: string, r: number): string => (r === 0 ? key : `${key}@r${r}`);
