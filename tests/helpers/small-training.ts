/**
 * Trainings in a test file on the first images of the training split only: RRAM_TRAIN_IMAGES=N, read
 * by src/inference/datasets.ts (loadDataset) and inherited by every rram process, worker and worker
 * thread the test starts. Unset, the whole split (users never set it). For tests whose assertions
 * are about the pipeline (trained once, kept, the same net in process and on the queue, read back
 * and programmed) and hold a net to a loose accuracy bound at most, which a net trained on 12000
 * images clears by a wide margin; never for tests comparing how well nets train.
 */
export const TRAIN_IMAGES = 12000;

/** Call at the top of a test file, before any training or rram process starts. */
export function smallTraining(n = TRAIN_IMAGES): void {
  process.env.RRAM_TRAIN_IMAGES = String(n);
}
