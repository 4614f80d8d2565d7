// The one table the benchmark prints: every figure's median with min and max
// across runs, its target and whether the median meets it, and the median of
// the last full run (bench/results/latest.json) for comparison.
import type { Figure } from './figures.ts';

export function formatNumber(value: number | undefined, unit = ''): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (unit === '×') return value.toFixed(2);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 10) return value.toFixed(2);
  return value.toFixed(3);
}

export function renderTable(figures: Figure[], last: Map<string, number>, failedSections: Map<string, string>): string {
  const header = ['section', 'figure', 'median', 'min', 'max', 'unit', 'target', 'ok', 'last'];
  const rows: string[][] = [];
  for (const figure of figures) {
    const previous = last.get(`${figure.section}.${figure.key}`);
    rows.push([
      figure.section,
      figure.label,
      formatNumber(figure.median, figure.unit),
      formatNumber(figure.min, figure.unit),
      formatNumber(figure.max, figure.unit),
      figure.unit,
      figure.target ? `${figure.target.op === '>=' ? '≥' : '≤'} ${figure.target.value}` : '',
      figure.pass === undefined ? '' : figure.pass ? 'pass' : 'FAIL',
      previous === undefined ? '' : formatNumber(previous, figure.unit),
    ]);
  }
  for (const [section, error] of failedSections) rows.push([section, `SECTION FAILED: ${error.split('\n')[0].slice(0, 100)}`, '', '', '', '', '', 'FAIL', '']);
  const numeric = new Set([2, 3, 4, 8]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(header), rule];
  let section = '';
  for (const row of rows) {
    if (section && row[0] !== section) out.push(rule);
    section = row[0];
    out.push(line(row));
  }
  return out.join('\n');
}
