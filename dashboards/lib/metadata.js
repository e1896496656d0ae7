// Run metadata (sample, wafer, die, device, operator, temperature, notes, tags: docs/formats.md
// "Run metadata"): the fields a job's start form carries and the history's edit form, read the
// same way. The server validates (the same zod schema as the CLI's flags and run.json): a bad
// value comes back naming its field, e.g. metadata.tags[0].
import { el } from './dom.js';

export const METADATA_FIELDS = [
  ['sample', 'sample', 14],
  ['wafer', 'wafer', 10],
  ['die', 'die', 8],
  ['device', 'device id', 10],
  ['operator', 'operator', 10],
  ['temperature_C', 'temperature °C', 6],
  ['tags', 'tags', 18],
  ['notes', 'notes', 24],
];

/** The metadata inputs of a job's start form (data-meta=<key>; no name, so the job's own fields stay apart: `device` is program-net's device model). */
export function metadataFieldset() {
  return el('details', { class: 'meta-fields' },
    el('summary', null, 'run metadata'),
    METADATA_FIELDS.map(([key, label, size]) => el('label', null, `${label} `, key === 'notes'
      ? el('textarea', { rows: 2, cols: size, dataset: { meta: key } })
      : el('input', { size, dataset: { meta: key }, ...(key === 'tags' ? { placeholder: 'comma list' } : {}), ...(key === 'temperature_C' ? { inputmode: 'decimal' } : {}) }))));
}

/**
 * The metadata typed into `inputs` ([key, element] pairs): empty fields left out, tags split at
 * commas, the temperature a number when it reads as one (else sent as typed, and refused by name).
 */
export function readMetadata(inputs) {
  const out = {};
  for (const [key, e] of inputs) {
    const v = e.value.trim();
    if (v === '') continue;
    if (key === 'temperature_C') out[key] = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v) ? Number(v) : v;
    else if (key === 'tags') out[key] = v.split(',').map((t) => t.trim()).filter(Boolean);
    else out[key] = key === 'notes' ? e.value : v;
  }
  return out;
}

/** The metadata of a job's start form (its data-meta inputs), or undefined when none was typed. */
export function formJobMetadata(form) {
  const m = readMetadata([...form.querySelectorAll('[data-meta]')].map((e) => [e.dataset.meta, e]));
  return Object.keys(m).length ? m : undefined;
}
