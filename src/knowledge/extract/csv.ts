// CSV: each record becomes one self-describing line, `header: value; …`, so a
// chunk taken out of the middle of the file still says what its numbers mean.
import { parse } from 'csv-parse/sync';
import { decodeText, typeMismatch } from './sniff.ts';
import type { Extracted } from './types.ts';

export function csvToText(bytes: Uint8Array): Extracted {
  const source = decodeText(bytes);
  let rows: string[][];
  try {
    rows = parse(source, {
      delimiter: guessDelimiter(source),
      skip_empty_lines: true,
      trim: true,
    }) as string[][];
  } catch (error) {
    // A CSV that does not parse was most likely prose declared as csv.
    const reason = error instanceof Error ? ` (${error.message.replace(/\.$/, '')})` : '';
    throw typeMismatch('csv', 'text', `, not valid CSV${reason}`);
  }
  const [header = [], ...records] = rows;
  const names = header.map((name, i) => flat(name) || `column ${i + 1}`);
  // Rows are separated by blank lines like paragraphs, so a chunker may cut
  // between any two rows.
  const text = records
    .map((record) =>
      record
        .map((value, i) => [names[i] ?? `column ${i + 1}`, flat(value)])
        .filter(([, value]) => value !== '')
        .map(([name, value]) => `${name}: ${value}`)
        .join('; '),
    )
    .filter(Boolean)
    .join('\n\n');
  return { text };
}

const flat = (value: string) => value.replace(/\s+/g, ' ').trim();

/** Spreadsheet exports use `;` or tabs where the decimal separator is a comma. */
function guessDelimiter(source: string): string {
  const firstLine = source.slice(0, source.search(/\r?\n|$/));
  let best = ',';
  let bestCount = 0;
  for (const candidate of [',', ';', '\t', '|']) {
    const count = firstLine.split(candidate).length - 1;
    if (count > bestCount) [best, bestCount] = [candidate, count];
  }
  return best;
}
