/**
 * Which read currents a plan may be given. A board's reply is already finite (the codec refuses
 * anything else, docs/protocol.md section 1); a finite value can still be one no 1T1R cell gives
 * at a read voltage: far below zero (an ADC offset of a microampere is not a measurement of a
 * cell) or above 10 mA (the select transistor limits a cell to well under a milliampere).
 * Such a read is recorded as unusable, never fed to a plan: a plan fed NaN or nonsense would
 * decide on it (forming would climb to the top of its range on a cell it cannot see).
 */
export const USABLE_READ_A = { min: -1e-6, max: 10e-3 } as const;

/** Why a read cannot be used, or undefined when it can. */
export function unusableRead(i: number): string | undefined {
  if (!Number.isFinite(i)) return `not a number (${i})`;
  if (i < USABLE_READ_A.min) return `${i} A is below ${USABLE_READ_A.min} A`;
  if (i > USABLE_READ_A.max) return `${i} A is above ${USABLE_READ_A.max} A`;
  return undefined;
}

/** Reads of a cell tried before it is ended `unreadable`. */
export const READ_ATTEMPTS = 3;
