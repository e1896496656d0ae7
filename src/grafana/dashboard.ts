/**
 * The Grafana dashboard for the documented InfluxDB 1.x schema (docs/formats.md): runs, pulses,
 * read currents per level, cell outcomes, progress and warnings of one run chosen in a variable,
 * among the runs of the stations chosen in another (the `station` tag).
 * Typed against Grafana's own dashboard schema (@grafana/schema), so a field Grafana does not know
 * fails the build; `npm run grafana` writes dashboards/grafana/rram-hil.json from it (a test checks
 * the file is current and runs every panel's query against a real influxd).
 * Every query is bounded by $timeFilter: an unbounded GROUP BY time() exhausts InfluxDB 1.6's memory.
 */
import type { Dashboard, Panel } from '@grafana/schema';

const DS = { type: 'influxdb', uid: '${DS}' };
// The station variable (issue 29: several stations on one InfluxDB): All is /^.*$/, which also
// matches points written before stations were named (a missing tag compares as "").
const STATION = `"station" =~ /^$station$/`;
const RUN = `"run" =~ /^$run$/ AND ${STATION}`;

interface PanelSpec {
  title: string;
  type: 'timeseries' | 'table' | 'barchart' | 'stat' | 'bargauge';
  unit?: string;
  /** InfluxQL, raw (Grafana substitutes $timeFilter, $__interval, $run). */
  queries: { q: string; alias?: string; format?: 'time_series' | 'table' }[];
  w: number;
  h: number;
  description: string;
}

export const PANELS: PanelSpec[] = [
  {
    title: 'Runs',
    type: 'table',
    queries: [{ q: `SELECT last("seq") AS "events so far", last("params") AS "params" FROM "run" WHERE ${STATION} AND $timeFilter GROUP BY "station", "run", "kind", "algo"`, format: 'table' }],
    w: 24,
    h: 7,
    description: 'One row per run started in the time range by the chosen stations (measurement run: station, kind, algorithm, parameters).',
  },
  {
    title: 'Run outcome',
    type: 'table',
    queries: [{ q: `SELECT last("events") AS "events", last("error") AS "error" FROM "run_summary" WHERE ${RUN} AND $timeFilter GROUP BY "run", "status"`, format: 'table' }],
    w: 12,
    h: 5,
    description: 'Status of the chosen run (completed, aborted, failed) with its event count and error, once it ended.',
  },
  {
    title: 'Progress',
    type: 'timeseries',
    unit: 'percent',
    queries: [{ q: `SELECT 100 * last("done") / last("total") FROM "progress" WHERE ${RUN} AND $timeFilter GROUP BY time($__interval), "phase" fill(none)`, alias: '$tag_phase' }],
    w: 12,
    h: 5,
    description: 'Cells done / total per phase (programming, read-back, relaxation).',
  },
  {
    title: 'Pulses per interval',
    type: 'timeseries',
    unit: 'short',
    queries: [{ q: `SELECT count("seq") FROM "pulse" WHERE ${RUN} AND $timeFilter GROUP BY time($__interval), "kind" fill(0)`, alias: '$tag_kind' }],
    w: 12,
    h: 8,
    description: 'FORM, SET and RESET pulses sent to the board.',
  },
  {
    title: 'Verify read current per level',
    type: 'timeseries',
    unit: 'amp',
    queries: [{ q: `SELECT mean("current_A") FROM "read" WHERE ${RUN} AND "phase" = 'verify' AND $timeFilter GROUP BY time($__interval), "level" fill(none)`, alias: 'level $tag_level' }],
    w: 12,
    h: 8,
    description: 'Mean verify read current per target level: the write-verify loops climbing to their targets.',
  },
  {
    title: 'Final current per level (programmed cells)',
    type: 'table',
    queries: [
      {
        q: `SELECT count("final_A") AS "cells", percentile("final_A", 5) AS "p5 (A)", median("final_A") AS "median (A)", percentile("final_A", 95) AS "p95 (A)", mean("target_A") AS "target (A)", mean("pulses") AS "pulses per cell" FROM "cell_result" WHERE ${RUN} AND "status" = 'ok' AND $timeFilter GROUP BY "level"`,
        format: 'table',
      },
    ],
    w: 12,
    h: 8,
    description: 'Level statistics over programmed cells only; failed cells are counted in "Cell outcomes".',
  },
  {
    title: 'Cell outcomes',
    type: 'bargauge',
    queries: [{ q: `SELECT count("pulses") FROM "cell_result" WHERE ${RUN} AND $timeFilter GROUP BY "status"`, alias: '$tag_status' }],
    w: 12,
    h: 8,
    description: 'Cells per outcome: ok (programmed), unformable, stuck, failed, ... (never folded into the level statistics).',
  },
  {
    title: 'Warnings',
    type: 'table',
    queries: [{ q: `SELECT "message" FROM "warning" WHERE ${RUN} AND $timeFilter`, format: 'table' }],
    w: 24,
    h: 6,
    description: 'Link losses, reboots, preflight notes: everything the run reported as a warning.',
  },
];

function panel(p: PanelSpec, id: number, x: number, y: number): Panel {
  return {
    id,
    title: p.title,
    description: p.description,
    type: p.type,
    datasource: DS,
    gridPos: { x, y, w: p.w, h: p.h },
    fieldConfig: { defaults: { ...(p.unit ? { unit: p.unit } : {}) }, overrides: [] },
    options: {},
    targets: p.queries.map((q, k) => ({
      refId: String.fromCharCode(65 + k),
      datasource: DS,
      rawQuery: true,
      query: q.q,
      resultFormat: q.format ?? 'time_series',
      ...(q.alias ? { alias: q.alias } : {}),
    })),
  };
}

export function grafanaDashboard(): Dashboard {
  const panels: Panel[] = [];
  let x = 0;
  let y = 0;
  let rowH = 0;
  PANELS.forEach((p, i) => {
    if (x + p.w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    panels.push(panel(p, i + 1, x, y));
    x += p.w;
    rowH = Math.max(rowH, p.h);
  });
  return {
    uid: 'rram-hil-runs',
    title: 'rram-hil: runs, pulses, levels',
    description: 'Every event of rram-hil runs as written by --influx (schema: docs/formats.md).',
    tags: ['rram-hil', 'reram'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    refresh: '5s',
    time: { from: 'now-6h', to: 'now' },
    timezone: 'browser',
    templating: {
      list: [
        { name: 'DS', label: 'InfluxDB', type: 'datasource', query: 'influxdb', hide: 0 },
        {
          name: 'station',
          label: 'station',
          type: 'query',
          datasource: DS,
          query: `SHOW TAG VALUES FROM "run" WITH KEY = "station" WHERE $timeFilter`,
          refresh: 2,
          sort: 1,
          includeAll: true,
          allValue: '.*',
          multi: true,
          current: { text: 'All', value: '$__all' },
          hide: 0,
        },
        {
          name: 'run',
          label: 'run',
          type: 'query',
          datasource: DS,
          query: `SHOW TAG VALUES FROM "run" WITH KEY = "run" WHERE ${STATION} AND $timeFilter`,
          refresh: 2,
          sort: 2,
          includeAll: false,
          multi: false,
          hide: 0,
        },
      ],
    },
    annotations: { list: [] },
    panels,
  } satisfies Dashboard;
}
