// Minimal typings for the parts of jstat (an untyped CommonJS package) that the domain uses.
declare module 'jstat' {
  interface StudentT {
    /** P(T <= x) for Student's t with `dof` degrees of freedom. */
    cdf(x: number, dof: number): number;
    /** The quantile: x such that P(T <= x) = p. */
    inv(p: number, dof: number): number;
  }
  interface JStat {
    studentt: StudentT;
  }
  const jStat: JStat;
  export default jStat;
}
