/**
 * Trainings in a test file on the first images of the training split only: RRAM_TRAIN_IMAGES=N, read
 * by src/inference/datasets.ts (loadDataset) and inherited by every rram process, worker and worker
 * thread the test starts. Unset, the whole split (users never set it). For tests whose assertions
 * are about the pipeline (trained once, kept, the same net in process and on the queue, read back
 * and programmed) and hold a net to a loose accuracy bound at most, which a net trained on 12000
 * images clears by a wide margin; never for tests comparing how well nets train.
 */
export const TRAIN_IMAGES = 12000;

/** What a test's context needs to undo an env knob at its end. */
interface TestContextLike {
  after(fn: () => void): void;
}

/** Call at the top of a test file, before any training or rram process starts. */
export function smallTraining(n = TRAIN_IMAGES): void {
  process.env.RRAM_TRAIN_IMAGES = String(n);
}

/**
 * RRAM_TEST_IMAGES=N (read by loadDataset like RRAM_TRAIN_IMAGES): evaluations on the first N images
 * of the test split only, for the test `t` (every rram process or worker it starts inherits it;
 * unset at its end). For tests whose assertions are about how a study's rows are put together
 * (kept, trained elsewhere, the same in process and on the queue, mean ± sd of the seeds), never
 * about an accuracy.
 */
export function smallTestSplit(t: TestContextLike, n: number): void {
  process.env.RRAM_TEST_IMAGES = String(n);
  t.after(() => delete process.env.RRAM_TEST_IMAGES);
}
