/**
 * The Board interface: what every test board (emulated in-process, or real over the serial link)
 * offers. Units are in the names: _V volts, _A amperes, _s seconds, _S siemens.
 */

export interface CellAddress {
  array: number;
  row: number;
  col: number;
}

/** Hard limits the board refuses to exceed. Checked on the host before anything is sent. */
export interface SafetyLimits {
  /** Largest top-electrode (bit line) amplitude for SET/FORM. */
  vte_max_V: number;
  /** Largest source-line amplitude for RESET. */
  vsl_max_V: number;
  /** Largest gate (word line) voltage; the gate bounds the cell current, so this is the current limit. */
  vg_max_V: number;
  /** Largest read voltage (reads above it would disturb the state). */
  vread_max_V: number;
  /** Shortest and longest pulse. */
  width_min_s: number;
  width_max_s: number;
}

export interface BoardInfo {
  id: string;
  firmware: string;
  protocolVersion: number;
  arrays: number;
  rows: number;
  cols: number;
  limits: SafetyLimits;
  /** DAC resolution: every amplitude is rounded to this step by the board. */
  dacStep_V: number;
  /** 'emulated' when the board is the model, with its calibration id. */
  kind: 'emulated' | 'hardware';
  calibration?: string;
  /** Optional capabilities (absent = none). */
  features?: { writeVerify: boolean; counters: boolean; mvm?: boolean };
  /** An emulated board whose cells persist between commands: the key of its saved state. */
  state?: string;
}

export interface SetPulse {
  vte_V: number;
  vg_V: number;
  width_s: number;
}
export type FormPulse = SetPulse;
export interface ResetPulse {
  vsl_V: number;
  vg_V: number;
  width_s: number;
}

export type PulseKind = 'form' | 'set' | 'reset';

export interface ReadOptions {
  /** Read voltage on the top electrode; default 0.2 V. */
  vread_V?: number;
}

export const DEFAULT_VREAD_V = 0.2;

/** One on-board write-verify job (optional board capability, see docs/protocol.md). */
export interface WriteVerifyJob {
  algo: 'igvva' | 'ispva';
  target_A: number;
  /** Fixed amplitude (VTE for IGVVA, VG for ISPVA). */
  fixed_V: number;
  start_V: number;
  step_V: number;
  stop_V: number;
  maxPulses: number;
  width_s: number;
  vread_V: number;
}
export interface WriteVerifySummary {
  success: boolean;
  pulses: number;
  final_A: number;
  finalStepped_V: number;
}

/**
 * A tile of an array for the analog MVM (optional capability, docs/protocol.md MVM): rows
 * row0..row0+rows-1 are driven, columns col0..col0+cols-1 are sensed.
 */
export interface MvmTile {
  array: number;
  row0: number;
  col0: number;
  rows: number;
  cols: number;
}

/** Pulses and reads a cell has received since the board powered up (optional capability). */
export interface CellCounts {
  form: number;
  set: number;
  reset: number;
  read: number;
}

/**
 * What happens to the link under a board (serial boards only). Sinks see these as `warning`
 * events with the same `code`, so a lost link or a reboot is never silent.
 */
export type LinkEvent =
  | { code: 'link-lost'; message: string }
  | { code: 'link-restored'; message: string; resumed: boolean; downtime_ms: number }
  | { code: 'board-rebooted'; message: string; oldBoot: number; newBoot: number; unknownOutcomes: number }
  | { code: 'session-lost'; message: string; unknownOutcomes: number }
  | { code: 'gave-up'; message: string };

export interface LinkEventSource {
  subscribe(cb: (e: LinkEvent) => void): { unsubscribe(): void };
}

export interface Board {
  info(): BoardInfo;
  /** Link events of a board behind a link; absent for in-process boards. */
  readonly linkEvents?: LinkEventSource;
  form(cell: CellAddress, p: FormPulse): Promise<void>;
  set(cell: CellAddress, p: SetPulse): Promise<void>;
  reset(cell: CellAddress, p: ResetPulse): Promise<void>;
  /** Read current of one cell in amperes. */
  read(cell: CellAddress, opts?: ReadOptions): Promise<number>;
  /** Read currents of a whole row (cols entries), amperes. */
  readRow(array: number, row: number, opts?: ReadOptions): Promise<Float64Array>;
  /** Read currents of a whole array, row-major (rows*cols entries), amperes. */
  readArray(array: number, opts?: ReadOptions): Promise<Float64Array>;
  /** Leave every line grounded for `seconds` (relaxation studies). An emulator advances its virtual clock. */
  wait(seconds: number): Promise<void>;
  /** Ground every line: the idle state a run must leave the board in. */
  ground(): Promise<void>;
  /**
   * The board's own clock (s), for boards whose physics follows a clock the host can read without
   * a request (an emulator's virtual clock). Absent on a board behind a link: its physics follows
   * real time, which the host measures itself.
   */
  clock_s?(): number;
  /** A serial board's port lent out while `use` runs: lines grounded, the link closed meanwhile, then reopened (HELLO again); docs/server.md (conformance through a station). */
  outOfService?<T>(use: (port: { path: string; baud: number }) => Promise<T>): Promise<T>;
  /** Why the board takes no request now (its link given up or closed), undefined while it does; boards behind a link only. */
  linkDown?(): string | undefined;
  /**
   * A board that is down taken back on the same port: a new session (HELLO), refused when another
   * board answers there (it stays down, saying so); `within_ms` bounds the retries (0: one). Does
   * nothing while the board is up; boards behind a link only.
   */
  reconnect?(o?: { within_ms?: number }): Promise<void>;
  /** Whether a down board may be tried again by a timer (not when another host uses it, nor after a version or protocol error: those wait for a user's reconnect); boards behind a link only. */
  reprobeAllowed?(): boolean;
  /** Optional: run a whole write-verify loop on the board. */
  writeVerify?(cell: CellAddress, job: WriteVerifyJob): Promise<WriteVerifySummary>;
  /**
   * Optional (boards offering MVM): apply read voltages to a tile's rows and return its column
   * currents. `voltages_V` holds one vector of `tile.rows` voltages after another (each on the DAC
   * grid, 0..vread_max); the result one vector of `tile.cols` currents (A) per input vector.
   * `signal`: an abort drops the call's requests not yet sent (an MVM only reads: nothing is left
   * half done); the call then rejects with AbortedError once the ones already sent are answered
   * (it resolves when every request had been sent), so a halt waits for at most a window of
   * requests, not the whole call.
   */
  mvm?(tile: MvmTile, voltages_V: Float64Array, o?: { signal?: AbortSignal }): Promise<Float64Array>;
  /** Optional: the cell's pulse and read counters (boards advertising the capability). */
  counters?(cell: CellAddress): Promise<CellCounts>;
  /**
   * Optional (in-process emulated boards with a saved state): write the state of every cell a pulse
   * changed since the last call (fsync'd when `durable`). The store calls it before every write of
   * events, so the record never holds a pulse the board's saved state has not (a real board is
   * non-volatile by itself).
   */
  persistDirty?(durable: boolean): void;
  close(): Promise<void>;
}
