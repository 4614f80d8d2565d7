// How a command's result reads without --json, for the commands whose result
// is better read as a table than as `key: value` lines.

type EvaluationJson = {
  total: number;
  found: number;
  recall_at_1: number;
  recall_at_5: number;
  mrr: number;
  depth: number;
  cases: Array<{ question: string; expected_source_id: string; rank: number | null; reason: string | null; rewritten_question: string | null }>;
};

/** Questions are cut to this many characters so that a row fits a terminal. */
const QUESTION_WIDTH = 60;

const cut = (text: string, width: number) => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
};

/**
 * One row per case (question, expected source, rank; "-" when not found, what
 * the model searched for when the assistant rewrites questions, and why when no
 * search could find it), then the summary.
 */
export function evaluationTable(result: EvaluationJson): string {
  const notes = result.cases.some((c) => c.reason !== null);
  const rewrites = result.cases.some((c) => c.rewritten_question !== null);
  const rows = result.cases.map((c) => [
    cut(c.question, QUESTION_WIDTH),
    c.expected_source_id,
    c.rank === null ? '-' : String(c.rank),
    ...(rewrites ? [cut(c.rewritten_question ?? '', QUESTION_WIDTH)] : []),
    ...(notes ? [c.reason ?? ''] : []),
  ]);
  const header = ['question', 'expected', 'rank', ...(rewrites ? ['searched for (rewrite)'] : []), ...(notes ? ['note'] : [])];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    ...rows.map(line),
    '',
    `${result.total} question${result.total === 1 ? '' : 's'}, ${result.found} found in the first ${result.depth} passages`,
    `recall@1  ${result.recall_at_1.toFixed(3)}`,
    `recall@5  ${result.recall_at_5.toFixed(3)}`,
    `MRR       ${result.mrr.toFixed(3)}`,
    '',
  ].join('\n');
}

const FORMATS: Record<string, (result: never) => string> = {
  'knowledge eval': evaluationTable,
};

/** The text output of a command, or null for the default `key: value` lines. */
export function textOf(command: string, result: unknown): string | null {
  const format = FORMATS[command];
  return format ? format(result as never) : null;
}
