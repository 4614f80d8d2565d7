// Splits extracted text into passages along its structure: a passage never
// spans two sections, paragraphs stay whole where they fit, and consecutive
// passages of one section overlap a little so that a fact cut at a boundary is
// still found whole in one of them.

export type Passage = {
  /** The heading path the passage sits under, e.g. "Setup > Network"; empty before the first heading. */
  heading: string;
  content: string;
};

export type ChunkOptions = {
  /** Passages aim at this many characters (about 200 tokens). */
  targetChars: number;
  /** No passage is longer than this. */
  maxChars: number;
  /** Characters repeated from the end of the previous passage of the same section. */
  overlapChars: number;
};

export const DEFAULT_CHUNKING: ChunkOptions = { targetChars: 900, maxChars: 1400, overlapChars: 150 };

/** An ATX heading: up to three spaces, then one to six #. */
const HEADING = /^ {0,3}(#{1,6})\s+(.*)$/;
/** The opening or closing line of a fenced code block. */
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * Reads a text line by line and says which lines are code in a fenced block
 * (``` or ~~~, the fences included): a `#` there is a shell or Python comment,
 * not a heading.
 */
function fencedCode(): (line: string) => boolean {
  let open: string | null = null;
  return (line) => {
    const fence = FENCE.exec(line)?.[1];
    if (open === null) {
      if (fence) open = fence;
      return fence !== undefined;
    }
    // Closed by a fence of the same character, at least as long, with nothing after it.
    if (fence && fence[0] === open[0] && fence.length >= open.length && line.trim() === fence) open = null;
    return true;
  };
}

/** The first top-level heading of a Markdown text, outside code blocks. */
export function firstTitle(text: string): string | undefined {
  const inCode = fencedCode();
  for (const line of text.split(/\r?\n/)) {
    const heading = inCode(line) ? null : HEADING.exec(line.trimEnd());
    // Without the closing #s a heading may end with.
    const title = heading?.[1].length === 1 ? heading[2].replace(/[ \t#]+$/, '') : '';
    if (title) return title;
  }
  return undefined;
}

type Section = { heading: string; paragraphs: string[] };

function sections(text: string): Section[] {
  const result: Section[] = [];
  const path: string[] = [];
  let current: Section = { heading: '', paragraphs: [] };
  let paragraph: string[] = [];
  const endParagraph = () => {
    const joined = paragraph.join('\n').trim();
    if (joined) current.paragraphs.push(joined);
    paragraph = [];
  };
  const inCode = fencedCode();
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    const heading = inCode(line) ? null : HEADING.exec(line.trimEnd());
    if (heading) {
      endParagraph();
      if (current.paragraphs.length > 0) result.push(current);
      const level = heading[1].length;
      path.length = Math.min(path.length, level - 1);
      path[level - 1] = heading[2].trim();
      current = { heading: path.filter(Boolean).join(' > '), paragraphs: [] };
    } else if (line.trim() === '') {
      endParagraph();
    } else {
      paragraph.push(line.trimEnd());
    }
  }
  endParagraph();
  if (current.paragraphs.length > 0) result.push(current);
  return result;
}

/** Pieces no longer than max: sentences where possible, words where a sentence is too long. */
function pieces(paragraph: string, max: number): string[] {
  if (paragraph.length <= max) return [paragraph];
  const sentences = paragraph.match(/[^.!?。！？]+(?:[.!?。！？]+|$)\s*/g) ?? [paragraph];
  const out: string[] = [];
  for (const sentence of sentences) {
    if (sentence.length <= max) {
      out.push(sentence.trim());
      continue;
    }
    let line = '';
    for (const word of sentence.split(/\s+/)) {
      if (line && line.length + word.length + 1 > max) {
        out.push(line);
        line = '';
      }
      // A single "word" longer than max (a URL, base64) is cut as it is.
      for (let i = 0; i < word.length; i += max) {
        const part = word.slice(i, i + max);
        line = line ? `${line} ${part}` : part;
      }
    }
    if (line) out.push(line);
  }
  return out.filter(Boolean);
}

/** The end of a passage, starting at a word boundary, to repeat at the start of the next one. */
function tail(text: string, chars: number): string {
  if (chars <= 0 || text.length <= chars) return '';
  const cut = text.slice(-chars);
  const space = cut.search(/\s/);
  return space === -1 ? cut : cut.slice(space + 1);
}

export function chunkText(text: string, options: ChunkOptions = DEFAULT_CHUNKING): Passage[] {
  const passages: Passage[] = [];
  for (const section of sections(text)) {
    let current = '';
    let overlap = '';
    const emit = () => {
      if (!current.trim()) return;
      passages.push({ heading: section.heading, content: current.trim() });
      overlap = tail(current, options.overlapChars);
      current = '';
    };
    for (const paragraph of section.paragraphs) {
      // Pieces of one paragraph join with a space, paragraphs with a blank line.
      let separator = '\n\n';
      for (const piece of pieces(paragraph, options.maxChars - options.overlapChars - 2)) {
        if (current && current.length + piece.length + 2 > options.targetChars) emit();
        if (!current && overlap) current = `${overlap} `;
        else if (current) current += separator;
        current += piece;
        separator = ' ';
      }
    }
    emit();
  }
  return passages;
}

/**
 * Passages in a form that crosses a process boundary cheaply: the contents as
 * one string with their end offsets, the headings once each. Tens of thousands
 * of small objects took the receiving event loop hundreds of milliseconds to
 * deserialize; one string and two typed arrays take a few.
 */
export type PackedPassages = { contents: string; ends: Uint32Array; headings: string[]; headingOf: Uint32Array };

export function packPassages(passages: Passage[]): PackedPassages {
  const ends = new Uint32Array(passages.length);
  const headingOf = new Uint32Array(passages.length);
  const headingIndex = new Map<string, number>();
  let length = 0;
  passages.forEach((passage, i) => {
    length += passage.content.length;
    ends[i] = length;
    let index = headingIndex.get(passage.heading);
    if (index === undefined) headingIndex.set(passage.heading, (index = headingIndex.size));
    headingOf[i] = index;
  });
  return { contents: passages.map((passage) => passage.content).join(''), ends, headings: [...headingIndex.keys()], headingOf };
}

export function unpackPassages({ contents, ends, headings, headingOf }: PackedPassages): Passage[] {
  const passages: Passage[] = new Array(ends.length);
  for (let i = 0, start = 0; i < ends.length; start = ends[i], i++) {
    passages[i] = { heading: headings[headingOf[i]], content: contents.slice(start, ends[i]) };
  }
  return passages;
}
