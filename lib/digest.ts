/** Content digests of a run's inputs (a level map, a cell list, a calibration, a model), recorded with the run so a resume can refuse changed inputs. */
import { createHash } from 'node:crypto';

export function digest(data: string | Uint8Array | unknown): string {
  const h = createHash('sha256');
  if (typeof data === 'string' || data instanceof Uint8Array) h.update(data);
  else h.update(JSON.stringify(data));
  return h.digest('hex').slice(0, 16);
}
