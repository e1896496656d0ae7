/**
 * A run's metadata (docs/formats.md "Run metadata"): what was measured and by whom, kept in
 * run.json beside the run's parameters and editable afterwards. Strict: an unknown key (a typo
 * like `waffer`) is refused by name; text fields are one line of printable text (notes may span
 * lines), tags are short words so that they filter exactly.
 */
import { z } from 'zod';

// One line, no control characters: a field is shown in tables, CSV headers and HDF5 attributes.
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty (leave the field out instead)')
    .max(max, `at most ${max} characters`)
    .regex(/^[^\p{Cc}]*$/u, 'one line of text: no control characters');

export const TAG = /^[\p{L}\p{N}_.:+/-]{1,40}$/u;

export const RunMetadata = z
  .object({
    sample: text(120).optional(),
    wafer: text(120).optional(),
    die: text(120).optional(),
    /** The device (chip, array or structure) id on the die. */
    device: text(120).optional(),
    operator: text(120).optional(),
    /** Temperature of the sample in degrees Celsius. */
    // -0 is 0 (JSON writes it so: kept as 0, what every export reads back).
    temperature_C: z.number({ invalid_type_error: 'must be a number (degrees Celsius)' }).finite().min(-273.15, 'below absolute zero').max(1000, 'at most 1000 °C').transform((v) => v + 0).optional(),
    notes: z
      .string()
      .trim()
      .min(1, 'must not be empty (leave the field out instead)')
      .max(4000, 'at most 4000 characters')
      .regex(/^[^\p{Cc}]*(?:\n[^\p{Cc}]*)*$/u, 'text with line breaks only: no other control characters')
      .optional(),
    tags: z
      .array(z.string().regex(TAG, 'a tag is 1-40 letters, digits or _ . : + / -'))
      .max(32, 'at most 32 tags')
      .refine((t) => new Set(t).size === t.length, 'a tag is listed twice')
      .optional(),
  })
  .strict();
export type RunMetadata = z.infer<typeof RunMetadata>;

/** The fields, in the order tables, exports and forms show them. */
export const METADATA_FIELDS = ['sample', 'wafer', 'die', 'device', 'operator', 'temperature_C', 'notes', 'tags'] as const;
