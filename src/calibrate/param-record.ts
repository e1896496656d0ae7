/**
 * A fitted parameter's record (issue 26, honest records): its status and the evidence for it.
 *  - fitted: the data determine it (value, one standard error, the statistics that decide it,
 *    measured beside the fitted model's simulation);
 *  - at-bound: the fit pushed it against a bound (a spread at 0, a share of 0 events): the data
 *    say it is small, not how small; never called fitted;
 *  - not-identifiable: the data this fit saw do not narrow it (kept at the base value), with why;
 *  - kept: nothing in the data speaks to it (from the base calibration);
 *  - convention: a choice of the model, not a property of the board.
 */
export type ParamStatus = 'fitted' | 'at-bound' | 'not-identifiable' | 'kept' | 'convention';

export interface Evidence {
  statistic: string;
  measured: number;
  model: number;
  se: number;
  unit: string;
}

export interface ParamRecord {
  value: number;
  unit: string;
  status: ParamStatus;
  method: string;
  runs: string[];
  uncertainty?: number;
  evidence?: Evidence[];
}
