// jstat ships no types; only the two distributions rank-tests.ts uses are declared.
declare module 'jstat' {
  interface Dist1 {
    cdf(x: number, dof: number): number;
  }
  const jStat: { studentt: Dist1; chisquare: Dist1 };
  export default jStat;
}
