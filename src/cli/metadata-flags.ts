/**
 * The run-metadata flags every run-writing command takes (`--sample --wafer --die --device-id
 * --operator --temperature --note --tag`), parsed strictly and validated by the one schema.
 */
import type { Command } from 'commander';
import { listItems } from '../io/number-table.js';
import { parseBody } from '../io/validate.js';
import { RunMetadata } from '../io/schemas/run-metadata.js';
import { num } from './parse.js';

export interface MetadataFlags {
  sample?: string;
  wafer?: string;
  die?: string;
  deviceId?: string;
  operator?: string;
  temperature?: number;
  note?: string[];
  tag?: string[];
}

const append = (parse: (raw: string) => string[]) => (raw: string, prev: string[] | undefined) => [...(prev ?? []), ...parse(raw)];

export function addMetadataOptions(c: Command): Command {
  return c
    .option('--sample <name>', 'run metadata: the sample measured')
    .option('--wafer <id>', 'run metadata: wafer id')
    .option('--die <id>', 'run metadata: die on the wafer')
    .option('--device-id <id>', 'run metadata: the device (chip, array, structure) on the die')
    .option('--operator <name>', 'run metadata: who ran it')
    .option('--temperature <degC>', 'run metadata: sample temperature in °C', num('--temperature', { min: -273.15, max: 1000 }))
    .option('--note <text>', 'run metadata: a note (repeat for several lines)', append((raw) => [raw]))
    .option('--tag <tag,...>', 'run metadata: tags (comma list, repeatable): letters, digits, _ . : + / -', append((raw) => listItems('--tag', raw)));
}

/** The metadata the flags give (an empty object when none), refused naming the flag when invalid. */
export function metadataFromFlags(f: MetadataFlags): RunMetadata {
  const m = { sample: f.sample, wafer: f.wafer, die: f.die, device: f.deviceId, operator: f.operator, temperature_C: f.temperature, notes: f.note?.join('\n'), tags: f.tag ? [...new Set(f.tag)] : undefined };
  const given = Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined));
  const flag: Record<string, string> = { device: '--device-id', temperature_C: '--temperature', notes: '--note', tags: '--tag' };
  try {
    return parseBody(RunMetadata, given);
  } catch (e) {
    const field = (e as { field?: string }).field ?? '';
    const key = field.split(/[.[]/)[0];
    throw Object.assign(e as Error, { message: `${flag[key] ?? `--${key}`}: ${(e as Error).message}` });
  }
}
