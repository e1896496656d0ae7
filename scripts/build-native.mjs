// Builds the optional native Monte Carlo kernel (native/mc_kernel.c) with the node-gyp that npm
// ships. Offline-safe: node-gyp uses the headers npm is configured with. A failed build is a
// warning, not an error: the inference pipeline then uses its portable JavaScript kernel.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.env.RRAM_SKIP_NATIVE === '1') {
  console.log('build-native: RRAM_SKIP_NATIVE=1, skipping (JavaScript kernel will be used)');
  process.exit(0);
}
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
if (!gyp) {
  console.warn('build-native: node-gyp not found; the JavaScript Monte Carlo kernel will be used');
  process.exit(0);
}
// Node installs ship their own headers in <prefix>/include/node; using them keeps node-gyp offline.
const args = [gyp, 'rebuild'];
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: join(root, 'native'), stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  console.warn(`build-native: node-gyp failed (exit ${r.status}); the JavaScript Monte Carlo kernel will be used\n${(r.stderr || '').split('\n').slice(-15).join('\n')}`);
  process.exit(0);
}
console.log('build-native: native/build/Release/mc_kernel.node built');
