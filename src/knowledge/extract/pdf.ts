// PDFs carry positioned glyph runs, not paragraphs. Runs on one baseline form a
// line, lines close together form a paragraph, and paragraphs set clearly
// larger than the body text are taken as headings.
import { getDocumentProxy } from 'unpdf';
import { ExtractionError, tooManyPages, type Extracted, type ExtractionLimits } from './types.ts';

type Line = { text: string; size: number; y: number; end: number };
type Paragraph = { lines: string[]; size: number; bullet: boolean };

const BULLET = /^[•◦▪‣●○■□►➢✓]\s*/;
const LIGATURES: Record<string, string> = { 'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl', 'ﬅ': 'st', 'ﬆ': 'st' };

export async function pdfToText(bytes: Uint8Array, limits: ExtractionLimits): Promise<Extracted> {
  const pdf = await openPdf(bytes);
  try {
    const pages = pdf.numPages;
    if (pages > limits.maxPages) throw tooManyPages(pages, limits.maxPages);
    const paragraphs: Paragraph[] = [];
    let chars = 0;
    // Pages past the character limit would be cut off anyway.
    for (let number = 1; number <= pages && chars <= limits.maxChars; number++) {
      const page = await pdf.getPage(number);
      const content = await page.getTextContent();
      const lines = toLines(content.items.filter((item) => 'str' in item));
      for (const paragraph of toParagraphs(lines)) {
        paragraphs.push(paragraph);
        chars += paragraph.lines.reduce((sum, line) => sum + line.length, 0);
      }
      page.cleanup();
    }
    const blocks = withHeadings(paragraphs);
    const { info } = (await pdf.getMetadata().catch(() => ({ info: {} }))) as { info: Record<string, unknown> };
    const title =
      (typeof info.Title === 'string' && info.Title.trim()) ||
      blocks.find((block) => block.startsWith('#'))?.replace(/^#+ /, '') ||
      undefined;
    return { text: blocks.join('\n\n'), pages, title };
  } finally {
    await pdf.loadingTask.destroy();
  }
}

/** The page count alone: read from the page tree, without decoding any page. */
export async function pdfPageCount(bytes: Uint8Array): Promise<number> {
  const pdf = await openPdf(bytes);
  try {
    return pdf.numPages;
  } finally {
    await pdf.loadingTask.destroy();
  }
}

async function openPdf(bytes: Uint8Array) {
  try {
    // Errors only: pdf.js warns on stdout about every quirk of a damaged file.
    return await getDocumentProxy(bytes, { verbosity: 0 });
  } catch (error) {
    if ((error as Error)?.name === 'PasswordException') {
      throw new ExtractionError(
        'UNREADABLE',
        'The PDF is password-protected; remove the password and upload it again.',
      );
    }
    throw error;
  }
}

type Item = { str: string; transform: number[]; width: number; height: number; hasEOL: boolean };

function toLines(items: Item[]): Line[] {
  const lines: Line[] = [];
  let current: Line | undefined;
  for (const item of items) {
    const [, , c, d, x, y] = item.transform;
    const size = Math.hypot(c, d) || item.height;
    if (item.str !== '') {
      // Superscripts and kerning jitter stay on the line; half a glyph is a new one.
      if (current && Math.abs(y - current.y) <= Math.max(size, current.size) * 0.5) {
        const gap = x - current.end;
        if (gap > size * 0.15 && !/\s$/.test(current.text) && !/^\s/.test(item.str)) current.text += ' ';
        current.text += item.str;
        current.end = x + item.width;
        current.size = Math.max(current.size, size);
      } else {
        current = { text: item.str, size, y, end: x + item.width };
        lines.push(current);
      }
    }
    if (item.hasEOL) current = undefined;
  }
  for (const line of lines) {
    line.text = line.text.replace(/[\uFB00-\uFB06]/g, (c) => LIGATURES[c] ?? c).replace(/[\u00AD\0]/g, '').trim();
  }
  return lines.filter((line) => line.text !== '');
}

function toParagraphs(lines: Line[]): Paragraph[] {
  const paragraphs: Paragraph[] = [];
  let previous: Line | undefined;
  for (const line of lines) {
    const bullet = BULLET.test(line.text);
    const text = line.text.replace(BULLET, '');
    const current = paragraphs.at(-1);
    const size = Math.max(line.size, previous?.size ?? 0);
    const gap = previous ? previous.y - line.y : 0;
    const sameParagraph =
      current !== undefined &&
      previous !== undefined &&
      !bullet &&
      // Line spacing is ~1.2× the font size; paragraph spacing adds more.
      gap > 0 &&
      gap < size * 1.7 &&
      Math.abs(line.size - previous.size) < Math.min(line.size, previous.size) * 0.15;
    if (sameParagraph) {
      current.lines.push(text);
      current.size = Math.max(current.size, line.size);
    } else {
      paragraphs.push({ lines: [text], size: line.size, bullet });
    }
    previous = line;
  }
  return paragraphs;
}

function withHeadings(paragraphs: Paragraph[]): string[] {
  const body = bodySize(paragraphs);
  const isHeading = (p: Paragraph) =>
    !p.bullet && p.size >= body * 1.2 && p.lines.length <= 3 && joinLines(p.lines).length <= 200;
  const headingSizes = [...new Set(paragraphs.filter(isHeading).map((p) => round(p.size)))].sort((a, b) => b - a);
  return paragraphs.map((p) => {
    const text = joinLines(p.lines);
    if (p.bullet) return `- ${text}`;
    if (!isHeading(p)) return text;
    const level = Math.min(headingSizes.indexOf(round(p.size)) + 1, 3);
    return `${'#'.repeat(level)} ${text}`;
  });
}

const round = (size: number) => Math.round(size * 2) / 2;

/** The font size that carries the most characters. */
function bodySize(paragraphs: Paragraph[]): number {
  const chars = new Map<number, number>();
  for (const p of paragraphs) {
    const size = round(p.size);
    chars.set(size, (chars.get(size) ?? 0) + p.lines.reduce((sum, line) => sum + line.length, 0));
  }
  let best = 0;
  let most = -1;
  for (const [size, count] of chars) if (count > most) [best, most] = [size, count];
  return best;
}

/** Reflows a paragraph's lines, undoing end-of-line hyphenation. */
function joinLines(lines: string[]): string {
  let text = '';
  for (const line of lines) {
    if (/\p{L}-$/u.test(text) && /^\p{Ll}/u.test(line)) text = text.slice(0, -1) + line;
    else text = text ? `${text} ${line}` : line;
  }
  return text;
}
