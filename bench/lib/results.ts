/** One line of the results table: framelog's figure next to the raw baseline's, measured in the same run. */
export interface BenchRow {
  benchmark: string;
  measure: string;
  unit: string;
  framelog: number;
  baseline: number;
  /** framelog / baseline. */
  ratio: number;
  /** How the ratio is judged, e.g. `>= 0.7` or `<= 3`. */
  target: string;
  pass: boolean;
  /** Anything else measured along the way (sizes, RSS, counts). */
  details?: Record<string, unknown>;
}

export type Comparison = '>=' | '<=';

export function row(input: Omit<BenchRow, 'ratio' | 'pass' | 'target'> & { comparison: Comparison; limit: number }): BenchRow {
  const { comparison, limit, ...rest } = input;
  const ratio = rest.framelog / rest.baseline;
  const pass = comparison === '>=' ? ratio >= limit : ratio <= limit;
  // An infinite limit makes a figure reported for context only (e.g. p50 beside a p99 target).
  return { ...rest, ratio, target: Number.isFinite(limit) ? `${comparison} ${limit}x` : 'report only', pass };
}

/** A figure checked against an absolute limit rather than a baseline (e.g. RSS growth). */
export function absoluteRow(input: { benchmark: string; measure: string; unit: string; value: number; comparison: Comparison; limit: number; details?: Record<string, unknown> }): BenchRow {
  const pass = input.comparison === '>=' ? input.value >= input.limit : input.value <= input.limit;
  return {
    benchmark: input.benchmark,
    measure: input.measure,
    unit: input.unit,
    framelog: input.value,
    baseline: Number.NaN,
    ratio: Number.NaN,
    // An infinite limit makes the figure reported for context only, as in row().
    target: Number.isFinite(input.limit) ? `${input.comparison} ${input.limit} ${input.unit}` : 'report only',
    pass,
    ...(input.details ? { details: input.details } : {}),
  };
}

const fmt = (n: number): string => {
  if (!Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
};

/** The table printed at the end of a run. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['benchmark', 'measure', 'framelog', 'baseline', 'ratio', 'target', 'ok'];
  const lines = rows.map((r) => [r.benchmark, `${r.measure} (${r.unit})`, fmt(r.framelog), fmt(r.baseline), Number.isFinite(r.ratio) ? `${fmt(r.ratio)}x` : '—', r.target, r.pass ? 'yes' : 'MISS']);
  return renderTable(header, lines);
}

/** A Markdown-style table with padded columns. */
export function renderTable(header: readonly string[], lines: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const render = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [render(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(render)].join('\n');
}
