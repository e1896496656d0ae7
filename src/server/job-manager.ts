/**
 * Starts, tracks and aborts the dashboard's jobs. One board job at a time (a board has one set of
 * probes); inference jobs need no board and may run beside it. Every job goes through runJob, so
 * its events reach the store, InfluxDB and the server's bus like a CLI run's.
 */
import { boardHistory, boardKey } from '../store/board-history.js';
import { loadCalibration } from '../../calibration/calibration.js';
import { cdfFailureCounts, predictionDeviceOptions } from '../inference/prediction-device.js';
import { buildDeviceModel, type DeviceModel, type DeviceSpec, type MeasuredLevels } from '../inference/device-models.js';
import type { CrossbarNet } from '../inference/crossbar-net.js';
import { resolveRunRef } from '../store/run-refs.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import type { Board } from '../../drivers/board.js';
import type { Calibration } from '../../calibration/calibration.js';
import { AbortedError, DisconnectedError, InvalidArgumentError, RramError } from '../../drivers/errors.js';
import type { RunEvent } from '../engine/events.js';
import { newRunId } from '../engine/events.js';
import { resumeFrom, runJob, type JobEnv, type Sink } from '../jobs/run-job.js';
import type { RunMetadata } from '../io/schemas/run-metadata.js';
import { RunContext, type RunBegin } from '../engine/run-context.js';
import { characterize, type LevelCdfDataset } from '../procedures/characterize.js';
import { patternMap } from '../procedures/level-map.js';
import { pulseOnce, readOnce } from '../procedures/single-ops.js';
import { programArray, type ProgramArrayResult } from '../procedures/program-array.js';
import { EmbeddedStore, NotFoundError } from '../store/embedded-store.js';
import { LiveRun } from './live-state.js';
import { saveJobRequest } from './job-request-file.js';
import { freshCellsFor } from '../procedures/fresh-cells.js';
import { isExperiment } from './experiment-requests.js';
import { runExperimentJob } from '../jobs/experiment-jobs.js';
import { StoreFollower } from './store-follower.js';
import { watchLines, type WatchedBoard } from '../station/line-watch.js';
import { runConformanceJob, type ConformanceReport } from './conformance-job.js';
import { WV_BENCH_CELLS, wvBenchCells, type WvBenchEntry } from './wv-bench-job.js';
import { isIndexList, listedCells, type CharacterizeRequest, type InferRequest, type JobRequest, type ProgramNetRequest } from './job-requests.js';
import { inferResult, inferSummary } from '../jobs/infer-run.js';
import { runInferOnBoardJob } from '../jobs/infer-on-board-job.js';
import { planKeptNet } from '../jobs/kept-net.js';
import { fineTuneSettings, netProgrammingOptions, programNetJob } from './program-net-request.js';
import { storedBaseline } from '../procedures/fine-tune-inputs.js';
import { netDigest } from '../procedures/net-on-arrays.js';

/** A queue item's request that continues the stored run of the item's id (set by POST /api/runs/:id/resume, never by a client). */
export const isResumeRequest = (req: JobRequest): boolean => (req as { resume?: unknown }).resume === true;

/** Stops a job at its first event: a resume's check runs the preflight and the engine's comparison, then no further. */
class ProbeDone extends Error {}
class ProbeContext extends RunContext {
  override begin(b: RunBegin): never {
    super.begin(b); // throws, naming what differs, when the run cannot continue
    throw new ProbeDone();
  }
}

export class BusyError extends RramError {
  constructor(readonly runId: string) {
    super('BUSY', `the board is busy with run ${runId}; abort it or wait`, { runId });
  }
}

export interface JobEnd {
  status: 'completed' | 'failed' | 'aborted';
  error?: string;
  /** The error's code (RramError), so a CLI following the run exits as a local run would. */
  code?: string;
}

const endOf = (status: JobEnd['status'], e: unknown): JobEnd => (e === undefined ? { status } : { status, error: (e as Error)?.message ?? String(e), code: e instanceof RramError ? e.code : undefined });

interface Active {
  runId: string;
  kind: string;
  ac: AbortController;
  done: Promise<unknown>;
  usesBoard: boolean;
  /** The manager (board) it runs on: a board job excludes only others on its board. */
  owner: JobManager;
}

const KEEP_LIVE = 32;

/** What the job managers of one station's boards share: the bus, the live runs and the active jobs (forBoard). */
interface Shared {
  bus: Subject<RunEvent>;
  active: Map<string, Active>;
  live: Map<string, LiveRun>;
  /** The store follower (followStore), made once for all. */
  follow: { follower?: StoreFollower };
}

export class JobManager {
  readonly bus: Subject<RunEvent>;
  private readonly active: Map<string, Active>;
  private readonly live: Map<string, LiveRun>;
  private readonly follow: { follower?: StoreFollower };

  /** The board, with its line state watched (src/station/line-watch.ts): every job drives it through this. */
  readonly board: Board;
  readonly lineWatch: WatchedBoard;

  constructor(
    board: Board,
    readonly store: EmbeddedStore,
    private readonly makeSinks: () => Promise<Sink[]> = async () => [],
    /** The board's calibration (ranges, ISPVA gates, preflight). */
    readonly calibration?: Calibration,
    shared?: Shared,
  ) {
    this.lineWatch = watchLines(board);
    this.board = this.lineWatch.board;
    this.bus = shared?.bus ?? new Subject<RunEvent>();
    this.active = shared?.active ?? new Map();
    this.live = shared?.live ?? new Map();
    this.follow = shared?.follow ?? {};
    if (!shared) this.bus.subscribe((e) => this.liveRun(e.runId).apply(e));
    store.backgroundPack = true;
  }

  /**
   * The job manager of another board of the same station: its own board, lines and calibration;
   * the store, sinks, bus, live runs and active jobs of this one (one live stream and one
   * /api/jobs list for every board; each board's runs go through its own queue).
   */
  forBoard(board: Board, calibration?: Calibration): JobManager {
    return new JobManager(board, this.store, this.makeSinks, calibration, { bus: this.bus, active: this.active, live: this.live, follow: this.follow });
  }

  /** Live state of a run: in memory for this session's runs, rebuilt from the store otherwise. */
  liveRun(runId: string): LiveRun {
    let r = this.live.get(runId);
    if (!r) {
      r = new LiveRun(runId);
      this.live.set(runId, r);
      if (this.live.size > KEEP_LIVE) {
        for (const id of this.live.keys()) {
          if (!this.active.has(id) && id !== runId) {
            this.live.delete(id);
            break;
          }
        }
      }
    }
    return r;
  }

  async loadLive(runId: string): Promise<LiveRun> {
    if (this.live.has(runId)) return this.live.get(runId)!;
    this.store.getRun(runId); // 404 when unknown
    const r = this.liveRun(runId);
    for await (const e of this.store.events(runId)) r.apply(e);
    return r;
  }

  /** This server's jobs, then the runs other processes write into the store now (`external`). */
  jobs(): { runId: string; kind: string; external?: true }[] {
    const own = [...this.active.values()].map(({ runId, kind }) => ({ runId, kind }));
    const others = [...(this.follower?.following.values() ?? [])].map(({ runId, kind }) => ({ runId, kind, external: true as const }));
    return [...own, ...others];
  }

  isActive(runId: string): boolean {
    return this.active.has(runId) || !!this.follower?.isFollowed(runId);
  }

  private get follower(): StoreFollower | undefined {
    return this.follow.follower;
  }

  /** Follows runs other processes write into the store, live on the bus (store-follower.ts); once. */
  followStore(every_ms?: number): void {
    this.follow.follower ??= new StoreFollower(this.store, this.bus, (id) => this.active.has(id), every_ms).start();
  }

  abort(runId: string): boolean {
    const a = this.active.get(runId);
    if (!a) return false;
    a.ac.abort();
    return true;
  }

  /** Resolves when every job has finished (server shutdown, tests). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
    await this.store.idle();
  }

  /** Starts a job now (inference beside the board's queue); board jobs go through the station's queue. */
  start(req: JobRequest): string {
    const usesBoard = req.kind !== 'infer'; // program-net programs the board
    if (usesBoard) for (const a of this.active.values()) if (a.usesBoard && a.owner === this) throw new BusyError(a.runId);
    return this.launch(req).runId;
  }

  /**
   * Runs a job under `runId` (a queue item's id); `checkpoint` holds it between stored rounds (a
   * paused queue). `done` resolves with how it ended, never rejects.
   */
  launch(req: JobRequest, o: { runId?: string; signal?: AbortSignal; checkpoint?: (ctx: RunContext, jobSignal: AbortSignal) => Promise<void>; holdRequested?: () => boolean } = {}): { runId: string; done: Promise<JobEnd> } {
    const runId = o.runId ?? newRunId();
    // A queue item made by POST /api/runs/:id/resume continues the stored run of its id (src/server/resume-run.ts).
    const resume = isResumeRequest(req) && o.runId !== undefined;
    const ac = new AbortController();
    o.signal?.addEventListener('abort', () => ac.abort(), { once: true });
    if (o.signal?.aborted) ac.abort();
    this.liveRun(runId);
    // A held run ends its hold when this job is aborted too (abort(), a server stopping), not only by its queue.
    const checkpoint = o.checkpoint && ((ctx: RunContext) => o.checkpoint!(ctx, ac.signal));
    const done = this.run(runId, req, ac.signal, checkpoint, o.holdRequested, resume)
      .then((out): JobEnd => {
        // A job refused before its first event (preflight, a model that does not load) is still a run;
        // a refused resume leaves the stored run as it was (the queue item says why).
        const x = out as { stored?: boolean; status?: JobEnd['status']; error?: unknown } | undefined;
        if (x && x.stored === false && x.status !== 'completed' && !resume) this.recordEarlyFailure(runId, req, x.error, x.status === 'aborted');
        return endOf(x?.status ?? 'completed', x?.error);
      })
      .catch((e: unknown): JobEnd => {
        if (!resume) this.recordEarlyFailure(runId, req, e, false);
        return endOf('failed', e);
      })
      .finally(() => this.active.delete(runId));
    this.active.set(runId, { runId, kind: req.kind, ac, done, usesBoard: req.kind !== 'infer', owner: this });
    return { runId, done };
  }

  /** A failed (or aborted) run in the store and on the live stream, for a job that ended before its first event. */
  private recordEarlyFailure(runId: string, req: JobRequest, e: unknown, aborted: boolean): void {
    const error = (e as Error)?.message ?? String(e);
    process.stderr.write(`rram serve: job ${runId} (${req.kind}) ended before it started: ${error}\n`);
    // The run's kind, as the job would have begun it (an on-board inference is an infer run).
    const kind = (req.kind === 'infer-on-board' ? 'infer' : req.kind) as never;
    try {
      const rec = this.store.createRun(runId, kind, { ...req });
      this.store.writeRun({ ...rec, board: this.board.info(), status: aborted ? 'aborted' : 'failed', ended: new Date().toISOString(), error });
    } catch (w) {
      process.stderr.write(`rram serve: could not record run ${runId}: ${(w as Error).message}\n`);
    }
    const t = Date.now();
    const live = this.liveRun(runId);
    live.apply({ type: 'run-start', kind, params: { ...req }, board: this.board.info(), runId, seq: 0, t } as RunEvent);
    live.apply({ type: 'run-end', status: aborted ? 'aborted' : 'failed', error, runId, seq: 1, t } as RunEvent);
  }

  /** What a job refused on a down board is told besides why: how the board comes back (its station's revival sets it). */
  downHint: () => string = () => 'once the board answers again, reconnect it: POST /api/boards/:board/reconnect';

  /**
   * Refuses a board job while the board takes no request (its link given up: a cable pulled past
   * the reconnect time, a board that did not come back after conformance): said at once, by name,
   * instead of a job failing at its first request - never a board silently taken as up.
   */
  checkBoardUp(): void {
    const down = this.board.linkDown?.();
    if (down) throw new DisconnectedError(`the station's board ${this.board.info().id} is down (${down}): nothing was sent to it; ${this.downHint()}`);
  }

  private async run(runId: string, req: JobRequest, signal: AbortSignal, checkpoint?: JobEnv['checkpoint'], holdRequested?: JobEnv['holdRequested'], resume = false): Promise<unknown> {
    if (req.kind !== 'infer') this.checkBoardUp();
    const env = { store: this.store, sinks: await this.makeSinks(), bus: this.bus, signal, runId, resume, board: this.board, checkpoint, holdRequested, metadata: (req as { metadata?: RunMetadata }).metadata };
    if (isExperiment(req)) return runExperimentJob(env, this.board, this.calibration, req);
    // The net from this station's store, checked again at the item's turn (the board may have changed since it was added).
    if (req.kind === 'infer-on-board') return runInferOnBoardJob(env, this.board, req, await planKeptNet(this.store, req.run));
    const job = await this.jobBody(req, resume ? runId : undefined);
    // The request is kept beside the run (request.json) once it has started: a resume from the dashboard queues it again.
    const keep = (ctx: RunContext) => {
      const sub = ctx.events$.subscribe((e) => {
        if (e.type !== 'run-start') return;
        sub.unsubscribe();
        saveJobRequest(this.store, runId, req);
      });
    };
    return runJob(env, job.body, job.opts as never, req.kind === 'infer' ? undefined : keep);
  }

  /**
   * What a job runs (its procedure, from the request) and how its result is stored. `resumeOf`:
   * the stored run it continues - its own cells are not another run's history, and a program-net
   * places as it did (the avoided cells it recorded).
   */
  private async jobBody(req: JobRequest, resumeOf?: string): Promise<{ body: (ctx: RunContext, sig: AbortSignal | undefined) => Promise<unknown>; opts: Parameters<typeof runJob>[2] }> {
    const knownFormed = req.kind === 'characterize' || req.kind === 'program' ? (await boardHistory(this.store, this.board.info(), { except: resumeOf })).formed : undefined;
    if (req.kind === 'infer-on-board') throw new InvalidArgumentError('--resume', resumeOf ?? req.run, 'an on-board inference is not resumed: run it again (it only reads)');
    if (req.kind === 'conformance') {
      if (resumeOf) throw new InvalidArgumentError('--resume', resumeOf, 'a conformance run is not resumed: run it again');
      return { body: (ctx, signal) => runConformanceJob(this.board, ctx, req, () => this.lineWatch.ground('conformance'), (r) => this.store.saveResult(ctx.runId, 'conformance', r), signal), opts: { resultName: 'conformance', summarize: ((r: ConformanceReport) => ({ passed: r.passed, failed: r.failed })) as never } };
    }
    if (req.kind === 'characterize' && req.wvBench) return this.wvBenchBody(req as typeof req & { wvBench: WvBenchEntry }, resumeOf);
    if (req.kind === 'characterize') {
      // The write-verify settings go on as the CLI's programOptions made them; `resume` is the queue's mark, not a setting.
      const { kind: _k, metadata: _m, relax_s, freshCells, concurrency, onUnknownOutcome, cells: listed, resume: _r, ...po } = req as typeof req & { resume?: unknown };
      const used = freshCells && !listed ? (await boardHistory(this.store, this.board.info(), { except: resumeOf })).pulsed : undefined;
      const cells = listed ? listedCells(listed).map((c) => ({ array: req.array, ...c })) : used ? await freshCellsFor(this.board, req.array, req.levels * req.cellsPerLevel, req.seed, used) : undefined;
      return {
        body: (ctx, sig) => characterize(this.board, ctx, { ...po, knownFormed, cells, relax_s: relax_s ?? [], calibration: this.calibration, engine: { signal: sig, concurrency, onUnknownOutcome } }),
        opts: {
          resultName: 'level-cdf',
          summarize: (d: LevelCdfDataset) => ({ levels: d.levels.map((l) => l.stats), cells: d.summary }),
          verdict: (d: LevelCdfDataset) => (d.summary.belowThreshold ? { belowMinSuccess: true, ...d.summary } : undefined),
        } as Parameters<typeof runJob>[2],
      };
    }
    if (req.kind === 'program') {
      const info = this.board.info();
      const { kind: _k, metadata: _m, map: pattern, mapLevels, mapName, cells: listed, cellsName, concurrency, onUnknownOutcome, resume: _r, ...po } = req as typeof req & { resume?: unknown };
      const map = mapLevels ? Uint8Array.from(mapLevels) : patternMap(pattern, req.levels, info.rows, info.cols, req.seed);
      // The CLI sends cell indices (its --region / --cells resolved); the map's selection sends [row, col] pairs.
      const cells = listed ? (isIndexList(listed) ? listed : listedCells(listed).map((c) => c.row * info.cols + c.col)) : undefined;
      return {
        body: (ctx, sig) => programArray(this.board, ctx, { ...po, knownFormed, map, mapName: mapName ?? pattern, cells, cellsName: cellsName ?? (cells ? `${cells.length} cells listed` : undefined), calibration: this.calibration, engine: { signal: sig, concurrency, onUnknownOutcome } }),
        opts: {
          resultName: 'program',
          summarize: (r: ProgramArrayResult) => ({ misplaced: r.misplaced, totalPulses: r.totalPulses, cells: r.summary }),
          verdict: (r: ProgramArrayResult) => (r.summary.belowThreshold ? { belowMinSuccess: true, ...r.summary } : undefined),
        } as Parameters<typeof runJob>[2],
      };
    }
    if (req.kind === 'read') return { body: async (ctx) => readOnce(this.board, ctx, { array: req.array, cell: req.cell, row: req.row, cells: req.cells ? listedCells(req.cells) : undefined, vread_V: req.vread_V }), opts: { resultName: 'read' } };
    if (req.kind === 'pulse') return { body: async (ctx) => pulseOnce(this.board, ctx, { kind: req.pulse, cell: { array: req.array, ...req.cell }, vte_V: req.vte_V, vsl_V: req.vsl_V, vg_V: req.vg_V, width_s: req.width_s, verify_V: req.verify_V }), opts: { resultName: 'pulse' } };
    if (req.kind === 'program-net') return this.programNetBody(req, resumeOf);
    // The device experiments run through src/jobs/experiment-jobs.ts (run() above) and are not resumed here.
    if (isExperiment(req)) throw new InvalidArgumentError('--resume', req.kind, `a ${req.kind} run is not resumed through the station (characterize, program and program-net are)`);
    return this.inferBody(req);
  }

  /** A wv-bench entry (wv-bench-job.ts): characterize on the fresh cells it picks now, with the options the direct command gives it. */
  private async wvBenchBody(req: CharacterizeRequest & { wvBench: WvBenchEntry }, resumeOf?: string): Promise<{ body: (ctx: RunContext, sig: AbortSignal | undefined) => Promise<unknown>; opts: Parameters<typeof runJob>[2] }> {
    if (resumeOf) throw new InvalidArgumentError('--resume', resumeOf, 'a benchmark cannot be resumed: run it again on fresh cells');
    const { kind: _k, metadata: _m, relax_s, freshCells: _f, concurrency, onUnknownOutcome, cells: _c, array: _a, wvBench, resume: _r, ...po } = req as typeof req & { resume?: unknown };
    const { mine, all } = await wvBenchCells(this.store, this.board, req);
    return {
      body: async (ctx, sig) => {
        const d = await characterize(this.board, ctx, { ...po, partOf: 'wv-bench', cells: mine, relax_s: relax_s ?? [], calibration: this.calibration, engine: { signal: sig, concurrency, onUnknownOutcome } });
        // The selection of every entry, for the entries after this one.
        if (all) this.store.saveResult(ctx.runId, WV_BENCH_CELLS, { cells: all });
        return d;
      },
      opts: { resultName: 'level-cdf', summarize: (d: LevelCdfDataset) => ({ levels: d.levels.map((l) => l.stats), cells: d.summary, wvBench: wvBench.label }) } as Parameters<typeof runJob>[2],
    };
  }

  /**
   * Whether `req` can continue the stored run `runId` here: the job's preflight is run up to its
   * first event against the stored run (same kind, parameters, inputs and board, as the engine
   * checks at a resume), and nothing is sent to the board. The reasons, empty when it can.
   */
  async resumeProblems(runId: string, req: JobRequest): Promise<string[]> {
    const from = await resumeFrom(this.store, runId);
    const job = await this.jobBody(req, runId);
    const ctx = new ProbeContext(runId, new Subject<RunEvent>(), from);
    try {
      await job.body(ctx, new AbortController().signal);
    } catch (e) {
      if (e instanceof ProbeDone) return [];
      return [e instanceof RramError && 'reason' in e ? String((e as { reason: unknown }).reason) : (e as Error).message];
    }
    return ['the job ended before its first event'];
  }

  /** The level-CDF file behind `run:<id>` / `run:latest`. */
  levelCdfPath(device: string): string {
    return resolveRunRef(this.store, device).file;
  }

  modelDir(name: string): string {
    const d = join(this.store.root, 'models', name);
    if (!existsSync(join(d, 'model.json')) && !existsSync(join(d, 'bnn.json'))) throw new NotFoundError('model', name);
    return d;
  }

  /** Model, test set and device model of an inference request, names resolved in the store. */
  private async loadNetJob(req: InferRequest | ProgramNetRequest) {
    // Resolve names first so a bad name is a clean failure, not a half run.
    const modelDir = this.modelDir(req.model);
    // A stored run's level CDFs: loaded from its file, named everywhere by its run id (params and
    // results never carry a server path).
    const ref = req.device.startsWith('run:') ? resolveRunRef(this.store, req.device) : undefined;
    const cdf = ref?.file;
    const deviceName = ref ? `run:${ref.runId}` : req.device;
    // tf is an ESM live binding set by initTf(): read it after init, never destructured before (the
    // first job after a start once met it undefined: "reading 'loadLayersModel'").
    const tfb = await import('../inference/tf-backend.js');
    const { checkModelData, loadNet } = await import('../inference/load-net.js');
    const { loadDataset } = await import('../inference/datasets.js');
    const { buildDeviceModel, loadMeasuredLevels, parseDeviceSpec } = await import('../inference/device-models.js');
    return {
      cdf: ref ? deviceName : undefined,
      load: async () => {
        const backend = await tfb.initTf();
        const tf = tfb.tf;
        const ds = loadDataset(req.dataset, undefined, !('fineTune' in req && req.fineTune));
        // As the CLI loads it: a binary net (bnn.json) with its batch-norm merge (--bn-merge), reported.
        const { net, bnMerge } = await loadNet(tf, modelDir, { bnMerge: 'bnMerge' in req ? req.bnMerge : undefined, test: ds.test, images: req.images });
        const measured = cdf ? loadMeasuredLevels(cdf) : undefined;
        const spec = cdf ? { ...parseDeviceSpec(cdf), text: deviceName } : parseDeviceSpec(req.device);
        const device = buildDeviceModel(spec, req.levels, { shared: false, stuckHrs: 0, stuckLrs: 0, readNoise_A: 0, vread_V: 0.2 }, measured);
        const warnings = checkModelData(modelDir, ds.name, ds.test, net, `model ${req.model}`);
        return { tf, backend, net, bnMerge, ds, device, spec, measured, warnings, programLevels: measured ? measured.pools.length : req.levels, programSpecs: measured?.specs };
      },
    };
  }

  /**
   * program-net's prediction device, built as the CLI's (src/inference/prediction-device.ts): a
   * bootstrap of the level CDF, its failure rates (the store's bad cells out when it was measured
   * on this board), the calibration's defect reads, the share of weight cells never formed - so the
   * stored result carries the variance split the CLI prints.
   */
  private async predictionDevice(req: ProgramNetRequest, spec: DeviceSpec, measured: MeasuredLevels | undefined, net: CrossbarNet, avoid: ReadonlySet<string>, formed: ReadonlySet<string>): Promise<DeviceModel> {
    const { mapNet } = await import('../inference/mapping.js');
    const { weightOps } = await import('../inference/crossbar-net.js');
    const { unseenShare } = await import('../inference/placement.js');
    const info = this.board.info();
    const devOpts = predictionDeviceOptions(this.calibration ?? loadCalibration(), { stuckHrs: req.stuckHrs, stuckLrs: req.stuckLrs, readNoise_A: req.readNoise_A, relax_s: req.relax_s });
    const sameBoard = !!measured?.board && boardKey(measured.board as Parameters<typeof boardKey>[0]) === boardKey(info);
    const { probe, counts } = cdfFailureCounts(spec, req.levels, devOpts, measured, sameBoard ? avoid : undefined);
    const shapes = mapNet(weightOps(net), probe.nominal, req.mapping, { clip: req.clip });
    const unseen = unseenShare(shapes, Array.from({ length: info.arrays }, (_, k) => k), avoid, formed);
    return buildDeviceModel(spec, req.levels, { ...devOpts, failureCounts: counts.length ? counts : undefined, unseenShare: unseen }, measured);
  }

  private async inferBody(req: InferRequest): Promise<{ body: (ctx: RunContext, sig: AbortSignal | undefined) => Promise<unknown>; opts: Parameters<typeof runJob>[2] }> {
    const { cdf, load } = await this.loadNetJob(req);
    const { monteCarlo } = await import('../inference/monte-carlo.js');
    return {
      body: async (ctx, signal) => {
        ctx.emit({ type: 'run-start', kind: 'infer', params: { ...req, metadata: undefined, levelCdf: cdf }, board: this.board.info() });
        const { tf, backend, net, ds, device, warnings } = await load();
        for (const w of warnings) ctx.emit({ type: 'warning', code: 'model-data', message: w });
        const t0 = performance.now();
        const r = await monteCarlo(tf, backend, net, ds.test, {
          scheme: req.mapping,
          clip: req.clip,
          device,
          trials: req.trials,
          seed: req.seed,
          engine: req.engine,
          images: req.images,
          signal,
          keepPartial: true,
          onProgress: (done, total) => {
            const el = (performance.now() - t0) / 1000;
            ctx.emit({ type: 'progress', done, total, rate_per_s: done / Math.max(el, 1e-3), eta_s: ((total - done) * el) / Math.max(done, 1), phase: 'monte-carlo' });
          },
        });
        const result = inferResult({ model: req.model, dataset: req.dataset }, r);
        if (r.aborted) {
          // Aborted: the trials done so far are kept as the run's result, the run ends `aborted`.
          this.store.saveResult(ctx.runId, 'infer', result);
          throw new AbortedError(`aborted after ${r.aborted.trialsDone} of ${r.aborted.trialsAsked} trials (their result is stored)`);
        }
        return result;
      },
      opts: { resultName: 'infer', summarize: inferSummary as never },
    };
  }

  private async programNetBody(req: ProgramNetRequest, resumeOf?: string): Promise<{ body: (ctx: RunContext, sig: AbortSignal | undefined) => Promise<unknown>; opts: Parameters<typeof runJob>[2] }> {
    const { cdf, load } = await this.loadNetJob(req);
    const { netOnArrays } = await import('../procedures/net-on-arrays.js');
    return {
      body: async (ctx, signal) => {
        const { tf, backend, net, bnMerge, ds, spec, measured, programLevels, programSpecs } = await load();
        // Yield-aware, as the CLI's program-net: cells this board's store knows are bad take no
        // weight (a resumed run keeps the set it started with).
        const history = await boardHistory(this.store, this.board.info(), { except: resumeOf });
        const avoided = resumeOf ? (this.store.getRun(resumeOf).params as { placement?: { avoid?: string[] } }).placement?.avoid : undefined;
        const avoid = new Set(avoided ?? (req.yieldAware === false ? [] : history.bad.keys()));
        const device = await this.predictionDevice(req, spec, measured, net, avoid, history.formed);
        const opts = {
          // The write-verify settings, engine knobs, refresh pass and --keep as the CLI's flags make them.
          ...netProgrammingOptions(req),
          avoid,
          knownFormed: history.formed,
          algo: req.algo,
          calibration: this.calibration,
          programSpecs,
          step_V: req.step_V,
          model: req.model,
          dataset: req.dataset,
          net,
          test: ds.test,
          images: req.images,
          scheme: req.mapping,
          clip: req.clip,
          device,
          programLevels,
          trials: req.trials,
          seed: req.seed,
          signal,
          describe: { levelCdf: cdf, ...(bnMerge ? { bnMerge: bnMerge.method } : {}) },
          bnMerge,
          reads: req.reads,
          arrays: req.arrays,
          relax_s: req.relax_s,
        };
        if (!req.fineTune) return netOnArrays(tf, backend, this.board, ctx, opts);
        const ft = req.fineTune;
        const { netOnArraysProgressive } = await import('../procedures/program-net-progressive.js');
        const { writeReportFile } = await import('../procedures/fine-tune-stages.js');
        // Checked at POST (job-preflight.ts); again here, for what changed while it waited.
        const base = ft.baseline ? storedBaseline(this.store, ft.baseline, { model: req.model, digest: netDigest(opts.net), dataset: req.dataset, levels: req.levels, scheme: req.mapping }, 'fineTune.baseline') : undefined;
        return netOnArraysProgressive(tf, backend, this.board, ctx, {
          ...opts,
          reads: req.reads ?? 4,
          fineTune: {
            ...fineTuneSettings(ft, req.trials, ds.train.n),
            train: ds.train,
            stageDir: (id) => join(this.store.runDir(id), 'fine-tune'),
            baseline: base ? async () => ({ readback: base.readbackAccuracy, runId: ft.baseline, source: `run ${ft.baseline}` }) : undefined,
            onReport: (r, id) => writeReportFile(this.store.runDir(id), r),
          },
        });
      },
      // Summarized and judged as the CLI's run (below --min-success: stored, then exit 3).
      opts: programNetJob as never,
    };
  }
}
