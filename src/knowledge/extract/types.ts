// The vocabulary shared by the caller side (extract.ts) and the worker side
// (worker.ts and the parsers), so neither has to import the other.

export const FILE_TYPES = ['pdf', 'txt', 'md', 'html', 'docx', 'csv'] as const;
export type FileType = (typeof FILE_TYPES)[number];

export type Extracted = {
  /** Markdown-ish: `#` heading lines, paragraphs separated by blank lines. */
  text: string;
  /** Only for PDFs: the page count of the whole file. */
  pages?: number;
  title?: string;
  /** Set when the text was cut at `maxChars`. */
  truncated?: true;
};

export type ExtractionLimits = {
  maxPages: number;
  timeoutMs: number;
  maxMemoryMb: number;
  maxChars: number;
};

export type ExtractionErrorCode =
  | 'TYPE_MISMATCH'
  | 'UNSUPPORTED_TYPE'
  | 'TOO_MANY_PAGES'
  | 'TOO_COMPLEX'
  | 'UNREADABLE'
  | 'NO_TEXT';

/** Over the page limit, said the same way at upload and during extraction. */
export function tooManyPages(pages: number, maxPages: number): ExtractionError {
  return new ExtractionError(
    'TOO_MANY_PAGES',
    `The PDF has ${pages} pages; at most ${maxPages} pages are allowed per file (KNOWLEDGE_MAX_PAGES). Split it into smaller files.`,
  );
}

/** A file that cannot become text; the message is meant for the uploader. */
export class ExtractionError extends Error {
  readonly code: ExtractionErrorCode;

  constructor(code: ExtractionErrorCode, message: string) {
    super(message);
    this.name = 'ExtractionError';
    this.code = code;
  }
}

const ALIASES: Record<string, FileType> = {
  pdf: 'pdf',
  'application/pdf': 'pdf',
  'application/x-pdf': 'pdf',
  txt: 'txt',
  text: 'txt',
  'text/plain': 'txt',
  md: 'md',
  markdown: 'md',
  'text/markdown': 'md',
  'text/x-markdown': 'md',
  html: 'html',
  htm: 'html',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  docx: 'docx',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  csv: 'csv',
  'text/csv': 'csv',
  'application/csv': 'csv',
};

const keyOf = (value: string) => value.split(';')[0].trim().toLowerCase().replace(/^\./, '');

/**
 * Accepts what clients actually send: a type name, a file extension (with or
 * without the dot) or a Content-Type header including its parameters.
 * Undefined when unsupported; unsupportedType() words the refusal.
 */
export function parseFileType(value: string): FileType | undefined {
  return Object.hasOwn(ALIASES, keyOf(value)) ? ALIASES[keyOf(value)] : undefined;
}

export function isFileType(value: unknown): value is FileType {
  return typeof value === 'string' && (FILE_TYPES as readonly string[]).includes(value);
}

export function unsupportedType(value: string): ExtractionError {
  const key = keyOf(value);
  // Old binary Office files are the most common wrong guess; say what works.
  const hint =
    key === 'doc' || key === 'application/msword' ? ' Save it as .docx or PDF first.' : '';
  return new ExtractionError(
    'UNSUPPORTED_TYPE',
    `File type "${value}" is not supported; supported types are ${FILE_TYPES.join(', ')}.${hint}`,
  );
}
