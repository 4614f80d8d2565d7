// What a file really is, judged from its bytes. Runs on the caller's thread, so
// it only looks at magic numbers, the ZIP directory and a short prefix; the
// expensive parsing happens in the worker.
import { isUtf8 } from 'node:buffer';
import { ExtractionError, type FileType } from './types.ts';
import { zipEntries } from './zip.ts';

export type SniffedType =
  | 'pdf'
  | 'docx'
  | 'html'
  | 'text'
  | 'xlsx'
  | 'pptx'
  | 'zip'
  | 'legacy-office'
  | 'image'
  | 'binary';

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

function startsWith(bytes: Uint8Array, prefix: ArrayLike<number>, at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function indexOf(bytes: Uint8Array, needle: Uint8Array, from = 0, to = bytes.length): number {
  return asBuffer(bytes.subarray(0, to)).indexOf(needle, from);
}

const ZIP = [0x50, 0x4b, 0x03, 0x04];
const OLE = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const IMAGES = [[0x89, 0x50, 0x4e, 0x47], [0xff, 0xd8, 0xff], ascii('GIF8'), ascii('II*\0'), ascii('MM\0*')];
const UTF16_LE = [0xff, 0xfe];
const UTF16_BE = [0xfe, 0xff];

export type Sniffed = {
  type: SniffedType;
  /** For messages, e.g. "a Word document (docx)". */
  description: string;
  /** Whether content like this may be declared as `declared`. */
  compatibleWith(declared: FileType): boolean;
};

export function sniffFileType(bytes: Uint8Array): Sniffed {
  const type = sniffType(bytes);
  return {
    type,
    description: DESCRIPTIONS[type][0],
    compatibleWith: (declared) => ACCEPTS[declared].includes(type),
  };
}

function sniffType(bytes: Uint8Array): SniffedType {
  // PDF readers accept junk before the header within the first KB, so do we,
  // unless the whole file is text that merely mentions "%PDF-".
  const pdfHeader = indexOf(bytes, ascii('%PDF-'), 0, 1024);
  if (pdfHeader === 0 || (pdfHeader > 0 && !isText(bytes))) return 'pdf';
  if (startsWith(bytes, ZIP)) return sniffZip(bytes);
  if (startsWith(bytes, OLE)) return 'legacy-office';
  if (IMAGES.some((magic) => startsWith(bytes, magic))) return 'image';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image';
  // Before the UTF-8 check: HTML names its own encoding (windows-1252 is common).
  if (looksLikeHtml(decodeText(bytes.subarray(0, 4096)))) return 'html';
  return isText(bytes) ? 'text' : 'binary';
}

const isUtf16 = (bytes: Uint8Array) => startsWith(bytes, UTF16_LE) || startsWith(bytes, UTF16_BE);

/** Valid UTF-8 (BOM optional) or BOM-marked UTF-16, without NUL characters. */
export function isText(bytes: Uint8Array): boolean {
  if (!isUtf16(bytes)) return isUtf8(bytes) && asBuffer(bytes).indexOf(0) === -1;
  try {
    const label = bytes[0] === 0xff ? 'utf-16le' : 'utf-16be';
    return !new TextDecoder(label, { fatal: true }).decode(bytes).includes('\0');
  } catch {
    return false;
  }
}

/** Decodes what sniffFileType accepted as text; drops the byte order mark. */
export function decodeText(bytes: Uint8Array): string {
  const label = !isUtf16(bytes) ? 'utf-8' : bytes[0] === 0xff ? 'utf-16le' : 'utf-16be';
  return new TextDecoder(label).decode(bytes);
}

function looksLikeHtml(text: string): boolean {
  // Only the very start counts: Markdown and text files often quote HTML later.
  const start = text
    .replace(/^(\s|<\?xml[^>]*>|<!--[\s\S]*?-->)*/, '')
    .toLowerCase();
  return /^<(!doctype html|html|head|body)[\s>]/.test(start);
}

/**
 * Names the Office format from the ZIP directory. A truncated upload has no
 * directory; the names still sit in the local headers, so a damaged DOCX is
 * reported as unreadable by the parser rather than as the wrong type.
 */
function sniffZip(bytes: Uint8Array): SniffedType {
  const names = zipEntries(bytes)?.map((entry) => entry.name);
  const has = (name: string) => (names ? names.includes(name) : indexOf(bytes, ascii(name)) !== -1);
  if (has('word/document.xml')) return 'docx';
  if (has('xl/workbook.xml')) return 'xlsx';
  if (has('ppt/presentation.xml')) return 'pptx';
  return 'zip';
}

const ACCEPTS: Record<FileType, readonly SniffedType[]> = {
  pdf: ['pdf'],
  docx: ['docx'],
  // An HTML fragment has no <html> or <body>, so any text may be declared html.
  html: ['html', 'text'],
  txt: ['text'],
  md: ['text'],
  csv: ['text'],
};

const DESCRIPTIONS: Record<SniffedType, [what: string, advice: string]> = {
  pdf: ['a PDF document (pdf)', 'send file_type=pdf'],
  docx: ['a Word document (docx)', 'send file_type=docx'],
  html: ['an HTML page (html)', 'send file_type=html'],
  text: ['plain text', 'send file_type=txt, md or csv'],
  xlsx: ['an Excel workbook (xlsx)', 'export it as CSV and send file_type=csv'],
  pptx: ['a PowerPoint presentation (pptx)', 'export it as PDF and send file_type=pdf'],
  zip: ['a ZIP archive', 'upload the documents inside it one by one'],
  'legacy-office': ['an old Office file (doc, xls or ppt)', 'save it as docx or PDF first'],
  image: ['an image', 'images are not supported; run OCR on it and upload the text'],
  binary: ['binary data, not UTF-8 text', 'if it is text, save it with UTF-8 encoding'],
};

/** Throws TYPE_MISMATCH unless the bytes can be what the uploader declared. */
export function assertDeclaredType(bytes: Uint8Array, declared: FileType): void {
  const actual = sniffFileType(bytes);
  if (!actual.compatibleWith(declared)) throw typeMismatch(declared, actual.type);
}

export function typeMismatch(declared: FileType, actual: SniffedType, detail = ''): ExtractionError {
  const [what, advice] = DESCRIPTIONS[actual];
  return new ExtractionError(
    'TYPE_MISMATCH',
    `The file was declared as ${declared} but its content is ${what}${detail}; ${advice}.`,
  );
}
