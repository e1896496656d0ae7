/**
 * A progress bar for work counted in steps (Monte Carlo trials), on stderr when it is a terminal.
 * The rate and ETA are shown only once a step has finished: never "ETA NFs" on the first frame.
 */
import cliProgress from 'cli-progress';

export interface StepProgress {
  update(done: number, total: number): void;
  stop(): void;
}

export function stepProgress(label: string, unit: string, stream: NodeJS.WriteStream = process.stderr): StepProgress {
  if (!stream.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ stream, format: `${label} [{bar}] {value}/{total} ${unit} | {rate} | ETA {eta_text}`, hideCursor: true }, cliProgress.Presets.shades_classic);
  const t0 = performance.now();
  let started = false;
  return {
    update(done, total) {
      const el = (performance.now() - t0) / 1000;
      const payload = done > 0 ? { rate: `${(done / el).toFixed(1)} ${unit}/s`, eta_text: `${((el / done) * (total - done)).toFixed(0)} s` } : { rate: '…', eta_text: '…' };
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      } else bar.update(done, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
