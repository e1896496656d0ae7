/**
 * On-board MVM inference (issue 28): cnn:2x8/p2/h16 programmed with `rram program-net --keep` on
 * an in-process emulated board of 8 arrays (one per tile), then that very board (its saved cells)
 * served over a real pty with the 921600-baud UART model, and `rram infer --on-board --port` run
 * against it on N images: images/s over the line, extrapolated to the 10k test set, beside the
 * same evaluation in process. `node dist/bench/run.js on-board [N]`.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedBoard } from '../drivers/emulated/emulated-board.js';
import { PtyServer } from '../drivers/emulated/pty-server.js';
import { repoRoot } from '../lib/repo-root.js';

export async function onBoardBench(images = 20): Promise<Record<string, unknown>> {
  const cwd = mkdtempSync(join(tmpdir(), 'bench-onboard-'));
  const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const rram = (...args: string[]) => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd, maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`rram ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return { out: r.stdout, s: (performance.now() - t0) / 1000 };
  };
  const out: Record<string, unknown> = { net: 'cnn:2x8/p2/h16', levels: 8 };
  out.train_s = +rram('train', '--arch', 'cnn:2x8/p2/h16', '--dataset', 'mnist', '--epochs', '1', '--out', 'net').s.toFixed(1);
  const p = rram('program-net', '--model', 'net', '--levels', '8', '--device', 'gaussian:5%', '--images', '1000', '--trials', '50', '--keep', '--arrays', '8', '--onboard-verify', 'on', '--json');
  const res = JSON.parse(p.out);
  out.program = { s: +p.s.toFixed(1), tiles: res.onBoard.tiles.length, cells: res.programming.cells, readback_accuracy_1000: res.readbackAccuracy, prediction_mean: res.prediction?.summary.mean, prediction_interval: res.prediction?.interval };
  const inproc = JSON.parse(rram('infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${res.runId}`, '--board-arrays', '8', '--images', '1000', '--json').out);
  out.in_process = { images: 1000, accuracy: inproc.onBoard.accuracy, s: +inproc.onBoard.elapsed_s.toFixed(1), images_per_s: +(1000 / inproc.onBoard.elapsed_s).toFixed(1) };
  // The same cells behind a pty, replies paced at 921600 baud (8N1) as a UART would.
  const board = new EmulatedBoard({ seed: 1, arrays: 8 });
  board.attachState(join(cwd, 'rram-data', 'boards'));
  const srv = new PtyServer(board, { baud: 921600, firmware: { time: 'virtual' } });
  await srv.start();
  try {
    const r = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(process.execPath, [main, 'infer', '--model', 'net', '--dataset', 'mnist', '--on-board', `run:${res.runId}`, '--port', srv.hostPath, '--images', String(images), '--batch', String(Math.min(images, 20)), '--json'], { encoding: 'utf8', cwd, maxBuffer: 1 << 26 }, (e: Error | null, stdout: string) => (e ? reject(e) : resolve({ stdout })));
    });
    const o = JSON.parse(r.stdout);
    const perImage = o.onBoard.elapsed_s / images;
    out.pty_921600 = { images, accuracy: o.onBoard.accuracy, s: +o.onBoard.elapsed_s.toFixed(1), images_per_s: +(1 / perImage).toFixed(3), extrapolated_10k_s: Math.round(perImage * 10000), goal_s: 300, goal_met: perImage * 10000 < 300 };
  } finally {
    await srv.stop();
    await board.close();
  }
  return out;
}
