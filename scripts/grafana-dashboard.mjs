// Writes dashboards/grafana/rram-hil.json from src/grafana/dashboard.ts (build first: npm run build).
import { writeFileSync } from 'node:fs';
import { grafanaDashboard } from '../dist/src/grafana/dashboard.js';

const file = new URL('../dashboards/grafana/rram-hil.json', import.meta.url);
writeFileSync(file, JSON.stringify(grafanaDashboard(), null, 2) + '\n');
console.log(`wrote ${file.pathname}`);
