/**
 * What a Monte Carlo inference stores as a run, the same from the CLI (`rram infer`) and from the
 * dashboard's job: the result file `infer.json` (docs/formats.md) and the run-end summary.
 */
import type { McResult } from '../inference/monte-carlo.js';

export interface InferMeta {
  model: string;
  dataset: string;
  [k: string]: unknown;
}

/** The stored result: the Monte Carlo's result with its model and data set, versioned. */
export const inferResult = (meta: InferMeta, r: McResult) => ({ format: 'rram-hil/infer-result', version: 1, ...meta, ...r });

/** The run-end summary of an inference run (history and InfluxDB read it). */
export const inferSummary = (r: Pick<McResult, 'summary' | 'quantizedAccuracy' | 'engine'>) => ({ accuracy: r.summary, quantizedAccuracy: r.quantizedAccuracy, engine: r.engine });
