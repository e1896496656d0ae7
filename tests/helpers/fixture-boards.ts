/** The two fixture boards of issue 26's recovery tests, with limits unlike the emulator's. */
import { FixtureBoard } from './fixture-board.js';
import { filamentPhysics, sigmoidPhysics } from './fixture-physics.js';

export const sigmoidBoard = (seed = 1) =>
  new FixtureBoard({ id: `fixture-sigmoid-${seed}`, seed, limits: { vte_max_V: 3.8, vsl_max_V: 2.6, vg_max_V: 2.5, vread_max_V: 0.3, width_min_s: 20e-9, width_max_s: 1e-4 }, physics: sigmoidPhysics });

export const filamentBoard = (seed = 1) =>
  new FixtureBoard({ id: `fixture-filament-${seed}`, seed, limits: { vte_max_V: 4.0, vsl_max_V: 3.0, vg_max_V: 3.0, vread_max_V: 0.3, width_min_s: 20e-9, width_max_s: 1e-4 }, physics: filamentPhysics });
