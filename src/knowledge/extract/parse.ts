// Runs inside the extraction worker: bytes of an already sniffed file in,
// tidy text out, every failure as an ExtractionError. Parsers are imported
// lazily so a CSV job does not pay for loading pdf.js.
import { firstTitle } from '../chunk.ts';
import { decodeText } from './sniff.ts';
import { ExtractionError, type Extracted, type ExtractionLimits, type FileType } from './types.ts';

const PARSERS: Record<FileType, (bytes: Uint8Array, limits: ExtractionLimits) => Promise<Extracted>> = {
  pdf: async (bytes, limits) => (await import('./pdf.ts')).pdfToText(bytes, limits),
  docx: async (bytes, limits) => (await import('./docx.ts')).docxToText(bytes, limits),
  html: async (bytes) => (await import('./html.ts')).htmlToText(bytes),
  csv: async (bytes) => (await import('./csv.ts')).csvToText(bytes),
  md: async (bytes) => markdownToText(bytes),
  txt: async (bytes) => ({ text: decodeText(bytes) }),
};

const NAMES: Record<FileType, string> = {
  pdf: 'a PDF',
  docx: 'a Word document',
  html: 'an HTML page',
  csv: 'CSV',
  md: 'Markdown',
  txt: 'text',
};

export async function parseFile(bytes: Uint8Array, type: FileType, limits: ExtractionLimits): Promise<Extracted> {
  let extracted: Extracted;
  try {
    extracted = await PARSERS[type](bytes, limits);
  } catch (error) {
    throw asExtractionError(error, type);
  }
  const text = tidy(extracted.text);
  if (text === '') {
    const hint = type === 'pdf' ? '; scanned PDFs need OCR first' : '';
    throw new ExtractionError('NO_TEXT', `The file contains no extractable text${hint}.`);
  }
  const result: Extracted = { ...truncate(text, limits.maxChars) };
  if (extracted.pages !== undefined) result.pages = extracted.pages;
  if (extracted.title) result.title = extracted.title.replace(/\s+/g, ' ').trim().slice(0, 300);
  return result;
}

/** The page count of a file that has pages (PDF), null for the other types. */
export async function countPages(bytes: Uint8Array, type: FileType): Promise<number | null> {
  if (type !== 'pdf') return null;
  try {
    return await (await import('./pdf.ts')).pdfPageCount(bytes);
  } catch (error) {
    throw asExtractionError(error, type);
  }
}

function markdownToText(bytes: Uint8Array): Extracted {
  const text = decodeText(bytes);
  const title = firstTitle(text);
  return title ? { text, title } : { text };
}

export function asExtractionError(error: unknown, type: FileType): ExtractionError {
  if (error instanceof ExtractionError) return error;
  // Deep nesting and giant strings are complexity, not damage.
  if (error instanceof RangeError && /call stack|string length|string longer|array length|allocation/i.test(error.message)) {
    return new ExtractionError('TOO_COMPLEX', 'The file is too complex to process; it may be damaged.');
  }
  const detail = error instanceof Error && error.message ? ` (${error.message.slice(0, 200)})` : '';
  return new ExtractionError(
    'UNREADABLE',
    `The file could not be read as ${NAMES[type]}; it may be damaged${detail}.`,
  );
}

/** One blank line between blocks, no trailing spaces, no stray control characters. */
function tidy(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/\f/g, '\n\n') // form feeds separate pages in text exports
    .replace(/[\0\v]/g, '')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Cuts at the last line break before the limit, when there is one near it. */
function truncate(text: string, maxChars: number): Pick<Extracted, 'text' | 'truncated'> {
  if (text.length <= maxChars) return { text };
  let cut = text.lastIndexOf('\n', maxChars);
  if (cut < maxChars * 0.8) cut = maxChars;
  // Never split a surrogate pair.
  if (/[\uD800-\uDBFF]/.test(text[cut - 1] ?? '')) cut -= 1;
  return { text: text.slice(0, cut).trimEnd(), truncated: true };
}
