/** A reference for the crossbar solvers, independent of them (tests only). */
/**
 * The reference: the crossbar's nodal equations written out node by node and solved by Gaussian
 * elimination. Unknowns: the row-wire node u(i,j) and column-wire node w(i,j) at every cell; the
 * driver of row i holds Vrow[i] left of column 0, the sense amplifier 0 V below the tile's last row.
 */
export function nodalCrossbar(G: number[][], Vrow: number[], tile: number, r: number): number[][] {
  const R = G.length;
  const C = G[0].length;
  const n = 2 * R * C;
  const u = (i: number, j: number) => i * C + j;
  const w = (i: number, j: number) => R * C + i * C + j;
  const A = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  const g = 1 / r;
  const link = (row: number, a: number, b: number | null, rhs: number, gg: number) => {
    // current from node a to node b (or to a fixed voltage rhs when b is null) through conductance gg
    A[row][a] += gg;
    if (b === null) A[row][n] += gg * rhs;
    else A[row][b] -= gg;
  };
  for (let i = 0; i < R; i++)
    for (let j = 0; j < C; j++) {
      const ru = u(i, j);
      // row wire: left neighbour (or driver), right neighbour, the cell down to the column node
      link(ru, ru, j === 0 ? null : u(i, j - 1), Vrow[i], g);
      if (j < C - 1) link(ru, ru, u(i, j + 1), 0, g);
      link(ru, ru, w(i, j), 0, G[i][j]);
      const rw = w(i, j);
      // column wire: the node above, the node below (or, at the last used row, the wire of
      // tile - R + 1 segments down to the sense amplifier at 0 V), the cell up to the row node
      if (i > 0) link(rw, rw, w(i - 1, j), 0, g);
      if (i < R - 1) link(rw, rw, w(i + 1, j), 0, g);
      else link(rw, rw, null, 0, 1 / (r * (tile - R + 1)));
      link(rw, rw, u(i, j), 0, G[i][j]);
    }
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let k = c + 1; k < n; k++) if (Math.abs(A[k][c]) > Math.abs(A[p][c])) p = k;
    [A[c], A[p]] = [A[p], A[c]];
    for (let k = c + 1; k < n; k++) {
      const f = A[k][c] / A[c][c];
      if (f) for (let m = c; m <= n; m++) A[k][m] -= f * A[c][m];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let c = n - 1; c >= 0; c--) {
    let s = A[c][n];
    for (let m = c + 1; m < n; m++) s -= A[c][m] * x[m];
    x[c] = s / A[c][c];
  }
  return G.map((row, i) => row.map((gij, j) => gij * (x[u(i, j)] - x[w(i, j)])));
}

