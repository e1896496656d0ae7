/**
 * Validation of job requests from the web API. Everything a request names is checked against a
 * closed set: level-map patterns (never a file path), model names inside the store's models
 * folder, level-CDF sources by run id. Errors name the field and the reason (HTTP 400).
 */
import { ALGOS, type Algo } from '../plans/program-cell.js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { BoardInfo } from '../../drivers/board.js';
import { parseDeviceSpec } from '../inference/device-models.js';
import { checkRunId } from '../store/embedded-store.js';

export interface CharacterizeRequest {
  kind: 'characterize';
  algo: Algo;
  levels: number;
  cellsPerLevel: number;
  reads: number;
  array: number;
  seed: number;
  step_V?: number;
}
export interface ProgramRequest {
  kind: 'program';
  algo: Algo;
  levels: number;
  map: 'random' | 'checkerboard' | 'stripes';
  array: number;
  seed: number;
}
export interface InferRequest {
  kind: 'infer';
  model: string;
  dataset: 'mnist' | 'fashion';
  levels: number;
  mapping: 'diff' | 'offset' | 'signed';
  /** `gaussian:5%`-style spec, or `run:<id>` = the level-CDF result of a characterize run. */
  device: string;
  trials: number;
  seed: number;
  images?: number;
  /** Quantile of each layer's weights the levels span (default 1). */
  clip?: number;
}
/** A trained net programmed onto the board, evaluated from read-back beside the prediction. */
export interface ProgramNetRequest extends Omit<InferRequest, 'kind'> {
  kind: 'program-net';
  algo: Algo;
  step_V?: number;
}
export type JobRequest = CharacterizeRequest | ProgramRequest | InferRequest | ProgramNetRequest;

type Body = Record<string, unknown>;

function int(b: Body, field: string, def: number | undefined, min: number, max: number): number {
  const v = b[field] ?? def;
  if (v === undefined) throw new InvalidArgumentError(field, v, 'is required');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(field, v, `must be an integer in ${min}..${max}`);
  return v;
}

function oneOf<T extends string>(b: Body, field: string, def: T | undefined, allowed: readonly T[]): T {
  const v = b[field] ?? def;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new InvalidArgumentError(field, v, `must be one of ${allowed.join(', ')}`);
  return v as T;
}

export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Monte Carlo trials one dashboard job may ask for (rram serve --max-trials). */
export const DEFAULT_MAX_TRIALS = 10000;

export function parseJobRequest(raw: unknown, board: BoardInfo, o: { maxTrials?: number } = {}): JobRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidArgumentError('body', raw, 'must be a JSON object');
  const b = raw as Body;
  const kind = oneOf(b, 'kind', undefined, ['characterize', 'program', 'infer', 'program-net'] as const);
  const known: Record<typeof kind, string[]> = {
    characterize: ['kind', 'algo', 'levels', 'cellsPerLevel', 'reads', 'array', 'seed', 'step_V'],
    program: ['kind', 'algo', 'levels', 'map', 'array', 'seed'],
    infer: ['kind', 'model', 'dataset', 'levels', 'mapping', 'device', 'trials', 'seed', 'images', 'clip'],
    'program-net': ['kind', 'model', 'dataset', 'levels', 'mapping', 'device', 'trials', 'seed', 'images', 'clip', 'algo', 'step_V'],
  };
  for (const k of Object.keys(b)) if (!known[kind].includes(k)) throw new InvalidArgumentError(k, b[k], `is not a ${kind} parameter (known: ${known[kind].join(', ')})`);
  if (kind === 'characterize') {
    const levels = int(b, 'levels', 8, 2, 8);
    const r: CharacterizeRequest = {
      kind,
      algo: oneOf(b, 'algo', 'igvva', ALGOS),
      levels,
      cellsPerLevel: int(b, 'cellsPerLevel', 32, 1, Math.floor((board.arrays * board.rows * board.cols) / levels)),
      reads: int(b, 'reads', 1, 1, 20),
      array: int(b, 'array', 0, 0, board.arrays - 1),
      seed: int(b, 'seed', 1, 0, 2 ** 31 - 1),
    };
    if (b.step_V !== undefined) r.step_V = stepV(b);
    const avail = (board.arrays - r.array) * board.rows * board.cols;
    if (r.levels * r.cellsPerLevel > avail) throw new InvalidArgumentError('cellsPerLevel', r.cellsPerLevel, `levels x cellsPerLevel exceeds the ${avail} cells from array ${r.array} on`);
    return r;
  }
  if (kind === 'program') {
    return {
      kind,
      algo: oneOf(b, 'algo', 'igvva', ALGOS),
      levels: int(b, 'levels', 8, 2, 8),
      map: oneOf(b, 'map', 'random', ['random', 'checkerboard', 'stripes'] as const),
      array: int(b, 'array', 0, 0, board.arrays - 1),
      seed: int(b, 'seed', 1, 0, 2 ** 31 - 1),
    };
  }
  const model = b.model;
  if (typeof model !== 'string' || !MODEL_NAME.test(model) || model.includes('..')) throw new InvalidArgumentError('model', model, 'must be the name of a model folder in the store (letters, digits, _ . -)');
  const device = b.device ?? 'run:latest';
  if (typeof device !== 'string') throw new InvalidArgumentError('device', device, 'must be a string');
  if (device.startsWith('run:')) {
    const id = device.slice(4);
    if (id !== 'latest') checkRunId(id);
  } else {
    const spec = parseDeviceSpec(device);
    if (spec.kind === 'empirical') throw new InvalidArgumentError('device', device, 'file paths are not accepted over the API: use run:<characterize run id>, run:latest, or a parametric spec like gaussian:5%');
  }
  const net = {
    model,
    dataset: oneOf(b, 'dataset', 'mnist', ['mnist', 'fashion'] as const),
    // Programming targets exist for 2..8 levels; the Monte Carlo alone takes up to 64.
    levels: int(b, 'levels', 8, 2, kind === 'program-net' ? 8 : 64),
    mapping: oneOf(b, 'mapping', 'diff', ['diff', 'offset', 'signed'] as const),
    device,
    trials: int(b, 'trials', 100, 1, o.maxTrials ?? DEFAULT_MAX_TRIALS),
    seed: int(b, 'seed', 1, 0, 2 ** 31 - 1),
    ...(b.images !== undefined ? { images: int(b, 'images', undefined, 1, 10000) } : {}),
    ...(b.clip !== undefined ? { clip: clipOf(b) } : {}),
  };
  if (kind === 'infer') return { kind, ...net };
  // Every algorithm, ISPVA included: its gates per level come from the board's calibration, as for characterize.
  return { kind, ...net, algo: oneOf(b, 'algo', 'igvva', ALGOS), ...(b.step_V !== undefined ? { step_V: stepV(b) } : {}) };
}

function clipOf(b: Body): number {
  if (typeof b.clip !== 'number' || !(b.clip > 0.5 && b.clip <= 1)) throw new InvalidArgumentError('clip', b.clip, 'must be a quantile in (0.5, 1], e.g. 0.999');
  return b.clip;
}

function stepV(b: Body): number {
  if (typeof b.step_V !== 'number' || !(b.step_V >= 0.001 && b.step_V <= 1)) throw new InvalidArgumentError('step_V', b.step_V, 'must be a number in 0.001..1');
  return b.step_V;
}
