// A heat map's cells drawn on a canvas of their own under the chart (issue 29's event-to-pixel
// goal): the chart library keeps the axes, title, colour legend, selection outline and toolbox,
// and redrawing 4096 cells there costs ~40 ms a frame per map; here a frame redraws only the
// cells that changed (a whole redraw, ~1 ms, when the colours, the run, the size or the zoom
// change). Colours follow the chart's own visual map (its pieces, or its continuous ramp).

/** '#rrggbb' -> [r, g, b]. */
const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** The colour of a value under a visual-map option (as map.js builds it), or null: not drawn. */
export function colorOf(vm) {
  if (vm.type === 'piecewise') {
    const byValue = new Map(vm.pieces.map((p) => [p.value, p.color]));
    return (v) => byValue.get(v) ?? null;
  }
  const stops = vm.inRange.color.map(rgb);
  const span = Math.max(1e-12, vm.max - vm.min);
  return (v) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    const t = Math.min(1, Math.max(0, (v - vm.min) / span)) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(t));
    const f = t - k;
    const [a, b] = [stops[k], stops[k + 1]];
    return `rgb(${a.map((x, i) => Math.round(x + f * (b[i] - x))).join(',')})`;
  };
}

/** The grid's pixel rectangle and the cell scale of an ECharts instance (evenly spaced category axes). */
export function gridOf(inst) {
  const p0 = inst.convertToPixel({ xAxisIndex: 0, yAxisIndex: 0 }, [0, 0]);
  const p1 = inst.convertToPixel({ xAxisIndex: 0, yAxisIndex: 0 }, [1, 1]);
  const rect = inst.getModel().getComponent('grid', 0)?.coordinateSystem?.getRect?.() ?? { x: 0, y: 0, width: inst.getWidth(), height: inst.getHeight() };
  return { x0: p0[0], y0: p0[1], sx: p1[0] - p0[0] || 1, sy: p1[1] - p0[1] || 1, rect };
}

/**
 * The canvas under a map's chart, made on first use. `draw(cells, color, colorKey, value, dirty)`:
 * cells are [array, row, col, current, level, status, pulses, target] tuples by key, color a value ->
 * colour function (null: not drawn) and colorKey its identity (a change redraws everything), value
 * a cell's value (undefined: not this map's cell), dirty the keys changed since the last draw, or
 * null (everything).
 */
export function heatLayer(node, inst) {
  if (node.__heat) return node.__heat;
  const canvas = document.createElement('canvas');
  canvas.className = 'heat-layer';
  // Under the chart's own canvas (transparent where it draws nothing): axes, legend and the
  // selection outline stay on top; the pointer goes to the chart.
  canvas.style.cssText = 'position:absolute;left:0;top:0;pointer-events:none;';
  node.insertBefore(canvas, node.firstChild);
  const ctx = canvas.getContext('2d');
  let sig = '';
  const layer = {
    canvas,
    /** Draws, and of them whole redraws; cells painted by the last draw. */
    draws: 0,
    fullDraws: 0,
    cellsDrawn: 0,
    /** Forget what is drawn: the next draw redraws everything. */
    invalidate: () => (sig = ''),
    draw(cells, color, colorKey, value, dirty) {
      const w = inst.getWidth();
      const h = inst.getHeight();
      const dpr = window.devicePixelRatio || 1;
      const g = gridOf(inst);
      const now = `${colorKey}|${w}x${h}@${dpr}|${g.x0},${g.y0},${g.sx},${g.sy}`;
      const full = now !== sig || !dirty;
      if (full) {
        sig = now;
        canvas.width = Math.round(w * dpr);
        canvas.height = Math.round(h * dpr);
        canvas.style.width = `${w}px`;
        canvas.style.height = `${h}px`;
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, w, h);
      }
      ctx.save();
      ctx.beginPath();
      ctx.rect(g.rect.x, g.rect.y, g.rect.width, g.rect.height);
      ctx.clip();
      const cw = Math.abs(g.sx);
      const ch = Math.abs(g.sy);
      let n = 0;
      const paint = (c) => {
        const v = value(c);
        if (v === undefined) return; // another array's cell
        const x = g.x0 + c[2] * g.sx - cw / 2;
        const y = g.y0 + c[1] * g.sy - ch / 2;
        ctx.clearRect(x, y, cw, ch);
        const fillColor = color(v);
        if (fillColor) {
          ctx.fillStyle = fillColor;
          ctx.fillRect(x, y, cw, ch);
        }
        // Failed cells stay visible in every mode: outlined.
        if (c[5] && c[5] !== 'ok') {
          ctx.strokeStyle = '#d62728';
          ctx.lineWidth = 1.5;
          ctx.strokeRect(x + 0.75, y + 0.75, cw - 1.5, ch - 1.5);
        }
        n++;
      };
      if (full) for (const c of cells.values()) paint(c);
      else for (const k of dirty) {
        const c = cells.get(k);
        if (c) paint(c);
      }
      ctx.restore();
      layer.draws++;
      if (full) layer.fullDraws++;
      layer.cellsDrawn = n;
      return full;
    },
  };
  node.__heat = layer;
  return layer;
}
