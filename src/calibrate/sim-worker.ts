/** A simulation worker of the calibration fit (sim-pool.ts): runs one replay per message. */
import { parentPort } from 'node:worker_threads';
import { runSimTask, type SimTask } from './sim-tasks.js';

parentPort!.on('message', (m: { id: number; task: SimTask }) => {
  try {
    parentPort!.postMessage({ id: m.id, result: runSimTask(m.task) });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
