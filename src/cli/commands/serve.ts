/** `rram serve`: the web dashboard on the emulated board (default) or a serial board. */
import { listItems } from '../../io/number-table.js';
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { EmbeddedStore } from '../../store/embedded-store.js';
import type { Sink } from '../../jobs/run-job.js';
import { addBoardOptions } from '../board-options.js';
import { openServeBoards, serveBoards, type ServeBoardFlags } from '../serve-boards.js';
import { removeStationFile, writeStationFile } from '../../station/station-file.js';
import { queueKey, strandedQueues, takeOverQueueFile } from '../../station/queue-file.js';
import { boardKey as historyKey } from '../../store/board-history.js';
import type { Board } from '../../../drivers/board.js';
import { DEFAULT_MAX_TRIALS } from '../../server/job-requests.js';
import { num } from '../parse.js';
import { influxUrl, openInfluxSink, reportInfluxBacklog } from '../job-options.js';
import { checkStationName, defaultStationName } from '../../station/station-name.js';
import { readStationsFile } from '../../hub/stations-config.js';

interface ServeFlags extends ServeBoardFlags {
  listen: string;
  store: string;
  influx?: string;
  token?: string;
  allowHost?: string;
  maxTrials: number;
  studies: string;
  name?: string;
  stations?: string;
  reprobe: number;
}

/** --reprobe: 0 (never by itself) or at least 0.5 s (a smaller period would open the port back to back while the board is down). */
function reprobeSeconds(raw: string): number {
  const v = num('--reprobe', { min: 0, max: 86400 })(raw);
  if (v > 0 && v < 0.5) throw new InvalidArgumentError('--reprobe', raw, 'must be 0 (no re-probe) or at least 0.5 s');
  return v;
}

export function parseListen(raw: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('--listen', raw, 'expected HOST:PORT, e.g. 127.0.0.1:8080');
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

export const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

/**
 * Where a board's queue is kept: under its queue key (a board on a port: its HELLO identity, so a
 * re-enumerated adapter finds its queue), a file an earlier station kept under the port taken over.
 */
function savedQueue(dir: string, store: EmbeddedStore, b: { key: string; board: Board }): { file: string; boardKey: string; key: string; port?: string } {
  const info = b.board.info();
  const boardKey = queueKey(b.key, info);
  const ranOn = (runId: string) => {
    try {
      const r = store.getRun(runId).board;
      return r ? historyKey(r as Parameters<typeof historyKey>[0]) : undefined;
    } catch {
      return undefined; // not in this store: it says nothing of the board
    }
  };
  const { file, note } = takeOverQueueFile(dir, boardKey, b.key, historyKey(info), ranOn);
  if (note) process.stderr.write(`rram: ${note}\n`);
  for (const s of strandedQueues(dir, b.key, boardKey)) process.stderr.write(`rram: warning: ${s}\n`);
  return { file, boardKey, key: b.key, ...(b.key.startsWith('port:') ? { port: b.key } : {}) };
}

export function registerServe(program: Command): void {
  addBoardOptions(program.command('serve').description('a station: owns its boards (--port and --board repeatable), one queue per board (docs/server.md), and serves the web dashboard (live runs of any process on the store, array maps, level CDFs, inference, history)'), { several: true })
    .option('--listen <host:port>', 'address to listen on (loopback by default; elsewhere a token is required)', '127.0.0.1:8080')
    .option('--influx <url>', 'also write every run to InfluxDB 1.x at http://HOST:PORT/DB')
    .option('--token <secret>', 'token for requests that start or abort jobs (env RRAM_TOKEN; generated when listening beyond loopback; on loopback the page gets a per-server one)')
    .option('--max-trials <n>', 'most Monte Carlo trials one dashboard job may ask for', num('--max-trials', { int: true, min: 1, max: 1e6 }), DEFAULT_MAX_TRIALS)
    .option('--studies <dir>', 'folder with study folders (rram study ... --out) for the Studies page', '.')
    .option('--name <name>', "the station's name: the `station` tag on its InfluxDB points, shown by hubs (letters, digits, -_.; default the host name)")
    .option('--stations <file>', 'a stations file (docs/formats.md "Stations file"): this server\'s Stations page shows those stations, their queues and their runs in the shared InfluxDB, live')
    .option('--reprobe <seconds>', 'how often a board whose link gave up is tried again (a new session on its port; only the same board is taken back, docs/server.md); 0: never by itself (POST /api/boards/:board/reconnect still does)', reprobeSeconds, 10)
    .option('--allow-host <names>', 'host names (comma-separated) the server answers to besides localhost/127.0.0.1/[::1] and the listen address, e.g. the machine\'s name in the lab')
    .action(async (f: ServeFlags) => {
      // Which boards, each named by its key (a bad or repeated one stops here, before any is opened).
      const wanted = serveBoards(f);
      const { host, port } = parseListen(f.listen);
      const name = f.name === undefined ? defaultStationName() : checkStationName(f.name);
      // A bad stations file stops the server at start, naming the field and the value.
      const stationsCfg = f.stations === undefined ? undefined : readStationsFile(f.stations);
      let token = f.token ?? process.env.RRAM_TOKEN;
      if (!token && !isLoopback(host)) token = randomBytes(18).toString('base64url');
      const opened = await openServeBoards(wanted);
      const store = new EmbeddedStore(f.store);
      // Resolve the InfluxDB URL once, so a bad config file stops the server at start, not each job.
      const influx = influxUrl(f.influx);
      // One InfluxDB sink for the server's lifetime: concurrent jobs share its writer and spill folder.
      const influxSink = influx ? await openInfluxSink(influx, f.store, name) : undefined;
      const makeSinks = async (): Promise<Sink[]> => (influxSink ? [influxSink.forJob()] : []);
      // Express and the job machinery load here, not at every `rram` command's start.
      const [{ JobManager }, { createApp }, { Station }, { StationBoards }] = await Promise.all([import('../../server/job-manager.js'), import('../../server/app.js'), import('../../station/station.js'), import('../../station/station-boards.js')]);
      // One job manager per board; the first one's bus, live runs and job list are every board's.
      const jobs = new JobManager(opened[0].board, store, makeSinks, opened[0].calibration);
      const managers = opened.map((b, k) => (k === 0 ? jobs : jobs.forBoard(b.board, b.calibration)));
      // tfjs loads (~0.3 s) while the server starts, not inside the first inference job.
      void import('../../inference/tf-backend.js')
        .then((m) => m.initTf())
        .catch((e: Error) => process.stderr.write(`rram: tfjs did not initialise (${e.message}); inference jobs will report it\n`));
      // DNS rebinding: only the loopback names, the listen address and the names given are answered.
      const allowHosts = [...(isLoopback(host) || host === '0.0.0.0' || host === '::' ? [] : [host]), ...(f.allowHost ? listItems('--allow-host', f.allowHost) : [])];
      if ((host === '0.0.0.0' || host === '::') && !f.allowHost) process.stderr.write('rram: listening on every interface answers only to localhost names: give --allow-host NAME[,NAME] for the names browsers will use\n');
      // Each queue as the last station on its board left it (a bad queue file stops us here, named).
      const boards = new StationBoards(opened.map((b, k) => new Station(managers[k], b.id, savedQueue(f.store, store, b), { reprobe_ms: f.reprobe * 1000 })));
      const hub = stationsCfg ? new (await import('../../hub/stations-hub.js')).StationsHub(stationsCfg).start() : undefined;
      const app = createApp(jobs, { token, allowHosts, maxTrials: f.maxTrials, studies: f.studies, boards, stationName: name, hub });
      const server = app.listen(port, host);
      await new Promise<void>((resolve, reject) => {
        server.once('listening', () => resolve());
        server.once('error', (e: NodeJS.ErrnoException) => reject(new InvalidArgumentError('--listen', f.listen, e.code === 'EADDRINUSE' ? 'address already in use' : e.message)));
      });
      const addr = server.address();
      const shown = typeof addr === 'object' && addr ? `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : f.listen;
      process.stdout.write(`rram dashboard on http://${shown}/  (station ${name}, ${opened.length === 1 ? 'board' : 'boards'} ${opened.map((b) => (opened.length === 1 ? b.board.info().id : `${b.id}=${b.board.info().id}`)).join(', ')}, store ${f.store})\n`);
      if (stationsCfg) process.stdout.write(`stations page: http://${shown}/#stations (${stationsCfg.stations.map((x) => x.name).join(', ')})\n`);
      if (token) process.stdout.write(`token required for starting/aborting jobs: ${token}\n`);
      // Where CLI commands aimed at this board find the station (and its token: the file is the user's alone).
      const port_ = typeof addr === 'object' && addr ? addr.port : port;
      const url = host === '0.0.0.0' ? `http://127.0.0.1:${port_}` : host === '::' ? `http://[::1]:${port_}` : `http://${shown}`;
      const cfg = (await (await fetch(`${url}/api/config`)).json()) as { sessionToken?: string };
      const stationFile = writeStationFile(f.store, { url, token: token ?? cfg.sessionToken ?? '', boards: opened.map((b) => ({ id: b.id, key: b.key })), name });
      const stop = async () => {
        removeStationFile(stationFile);
        hub?.stop();
        // Nothing new starts; the saved queue keeps the users' pause state (a clean stop is no pause of theirs).
        for (const s of boards.stations) {
          s.queue.gate.pause();
          s.revival.stop();
        }
        for (const j of jobs.jobs()) jobs.abort(j.runId);
        await jobs.idle();
        server.close();
        await Promise.allSettled(opened.map((b) => b.board.close()));
        if (influxSink) {
          await influxSink.close();
          reportInfluxBacklog(influxSink);
        }
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
