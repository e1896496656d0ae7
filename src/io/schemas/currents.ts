/** A measured current in a file: finite, within what a cell can read (the engine's own bounds, src/engine/readings.ts). */
import { z } from 'zod';
import { USABLE_READ_A } from '../../engine/readings.js';

export const measuredCurrent = z
  .number({ invalid_type_error: 'must be a number (a current in amperes)' })
  .finite('must be finite')
  .gte(USABLE_READ_A.min, `is below ${USABLE_READ_A.min} A: no cell reads that (a negative current beyond read noise)`)
  .lte(USABLE_READ_A.max, `is above ${USABLE_READ_A.max} A: beyond what a 1T1R cell reads (a unit slip?)`);
