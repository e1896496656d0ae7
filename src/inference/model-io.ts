/**
 * Save / load tfjs layers models in the standard `model.json` + `weights.bin` layout (the one
 * `tfjs-node`'s file:// handler and the Python converter write), without needing tfjs-node.
 */
import { parseFile, parseJsonText } from '../io/validate.js';
import { ModelManifestFile } from '../io/schemas/model-manifest.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { DataError } from '../../drivers/errors.js';
import type { Tf } from './tf-backend.js';

export async function saveModel(tf: Tf, model: TF.LayersModel, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (art) => {
      const data = art.weightData instanceof ArrayBuffer ? art.weightData : tf.io.concatenateArrayBuffers(art.weightData as ArrayBuffer[]);
      writeFileSync(join(dir, 'weights.bin'), Buffer.from(data));
      const json = {
        modelTopology: art.modelTopology,
        format: art.format ?? 'layers-model',
        generatedBy: art.generatedBy,
        convertedBy: null,
        weightsManifest: [{ paths: ['weights.bin'], weights: art.weightSpecs }],
      };
      writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

/** Load `DIR/model.json` (or a path to a model.json) with its weight shards. */
export async function loadModel(tf: Tf, path: string): Promise<TF.LayersModel> {
  const file = path.endsWith('.json') ? path : join(path, 'model.json');
  if (!existsSync(file)) throw new DataError(file, 'no tfjs model here (expected model.json from `rram train` or the tfjs converter)');
  const json = parseFile(ModelManifestFile, parseJsonText(readFileSync(file, 'utf8'), file), file);
  const base = resolve(file, '..');
  const specs: TF.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const w of group.weights) specs.push(w as TF.io.WeightsManifestEntry);
    for (const p of group.paths) {
      const shard = resolve(base, p);
      // A manifest must not make us read outside the model's own directory.
      if (!shard.startsWith(base + sep)) throw new DataError(file, `weight path ${p} points outside the model directory`);
      if (!existsSync(shard)) throw new DataError(shard, 'weight shard listed in model.json is missing');
      buffers.push(readFileSync(shard));
    }
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs: specs, weightData }));
  } catch (e) {
    throw new DataError(file, `tfjs could not build the model: ${(e as Error).message}`);
  }
}
