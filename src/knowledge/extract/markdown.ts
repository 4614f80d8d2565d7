// Turns a DOM subtree (readability's article, mammoth's DOCX HTML) into the
// Markdown-ish text the knowledge base chunks: `#` headings, paragraphs and
// tables as blocks separated by blank lines, list items as `- ` lines.
// Only structure survives; inline formatting and links become plain text.
import { ExtractionError } from './types.ts';

const TEXT_NODE = 3;
const ELEMENT_NODE = 1;

// Never content, whatever page they appear in.
const SKIPPED = new Set([
  'script', 'style', 'noscript', 'template', 'svg', 'canvas', 'iframe', 'object', 'embed',
  'nav', 'form', 'button', 'select', 'input', 'textarea', 'head', 'title', 'meta', 'link', 'img',
]);

const BLOCKS = new Set([
  'address', 'article', 'aside', 'body', 'center', 'dd', 'details', 'dialog', 'div', 'dl', 'dt',
  'fieldset', 'figcaption', 'figure', 'footer', 'header', 'hgroup', 'hr', 'html', 'li', 'main',
  'p', 'section', 'summary', 'caption', 'tr', 'td', 'th', 'tbody', 'thead', 'tfoot',
]);

const tagOf = (node: Element) => node.localName.toLowerCase();
const collapse = (text: string) => text.replace(/\s+/g, ' ');

/** Deeper than any real page; the walkers here and readability recurse per level. */
export const MAX_NESTING = 256;

/**
 * Refuses absurdly deep trees up front: readability's cost grows steeply with
 * depth (1,000 nested divs, a 10 KB file, take it ~18 s) and recursion would
 * eventually overflow the stack.
 */
export function assertNesting(root: Node): void {
  const stack: [Node, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > MAX_NESTING) {
      throw new ExtractionError(
        'TOO_COMPLEX',
        `The file nests its content more than ${MAX_NESTING} levels deep; it may be damaged or too complex.`,
      );
    }
    for (let child = node.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === ELEMENT_NODE) stack.push([child, depth + 1]);
    }
  }
}

export function toMarkdown(root: Node): string {
  return blocksOf(root).join('\n\n');
}

function blocksOf(root: Node): string[] {
  const blocks: string[] = [];
  let inline = '';
  const flush = () => {
    const lines = inline.split('\n').map((line) => line.trim()).filter(Boolean);
    if (lines.length > 0) blocks.push(lines.join('\n'));
    inline = '';
  };
  const walk = (node: Node) => {
    for (const child of Array.from(node.childNodes)) {
      if (child.nodeType === TEXT_NODE) {
        inline += collapse(child.textContent ?? '');
        continue;
      }
      if (child.nodeType !== ELEMENT_NODE) continue;
      const element = child as Element;
      const tag = tagOf(element);
      if (SKIPPED.has(tag)) continue;
      if (tag === 'br') {
        inline += '\n';
      } else if (/^h[1-6]$/.test(tag)) {
        flush();
        const text = inlineText(element);
        if (text) blocks.push(`${'#'.repeat(headingLevel(element))} ${text}`);
      } else if (tag === 'ul' || tag === 'ol') {
        flush();
        const lines = listLines(element, 0);
        if (lines.length > 0) blocks.push(lines.join('\n'));
      } else if (tag === 'table') {
        flush();
        const table = tableText(element);
        if (table) blocks.push(table);
      } else if (tag === 'pre') {
        flush();
        const code = (element.textContent ?? '').replace(/\s+$/, '');
        if (code.trim()) blocks.push('```\n' + code + '\n```');
      } else if (tag === 'blockquote') {
        flush();
        for (const block of blocksOf(element)) blocks.push(block.replace(/^/gm, '> '));
      } else if (BLOCKS.has(tag)) {
        flush();
        walk(element);
        flush();
      } else {
        walk(element);
      }
    }
  };
  walk(root);
  flush();
  return blocks;
}

/**
 * Readability turns every h1 into h2; the HTML parser records the original
 * level in data-level before it runs.
 */
function headingLevel(element: Element): number {
  const recorded = Number(element.getAttribute('data-level'));
  return recorded >= 1 && recorded <= 6 ? recorded : Number(tagOf(element)[1]);
}

/** The text of an element on one line, leaving out nested lists. */
function inlineText(node: Node): string {
  let text = '';
  const walk = (parent: Node) => {
    for (const child of Array.from(parent.childNodes)) {
      if (child.nodeType === TEXT_NODE) text += child.textContent ?? '';
      if (child.nodeType !== ELEMENT_NODE) continue;
      const tag = tagOf(child as Element);
      if (SKIPPED.has(tag) || tag === 'ul' || tag === 'ol') continue;
      // Block children (mammoth wraps table cells and list items in <p>) and
      // line breaks must not glue words together.
      if (tag === 'br' || BLOCKS.has(tag)) text += ' ';
      walk(child);
      if (BLOCKS.has(tag)) text += ' ';
    }
  };
  walk(node);
  return collapse(text).trim();
}

function listLines(list: Element, depth: number): string[] {
  const ordered = tagOf(list) === 'ol';
  const lines: string[] = [];
  let number = Number(list.getAttribute('start')) || 1;
  for (const item of Array.from(list.children)) {
    const tag = tagOf(item);
    if (tag === 'ul' || tag === 'ol') {
      lines.push(...listLines(item, depth + 1));
      continue;
    }
    if (tag !== 'li') continue;
    const text = inlineText(item);
    const marker = ordered ? `${number++}.` : '-';
    if (text) lines.push(`${'  '.repeat(depth)}${marker} ${text}`);
    for (const nested of Array.from(item.children)) {
      if (tagOf(nested) === 'ul' || tagOf(nested) === 'ol') lines.push(...listLines(nested, depth + 1));
    }
  }
  return lines;
}

/** A Markdown table; the first row serves as header, as it does in most files. */
function tableText(table: Element): string {
  const rows: string[][] = [];
  const collect = (parent: Element) => {
    for (const child of Array.from(parent.children)) {
      const tag = tagOf(child);
      if (tag === 'tr') {
        const cells = Array.from(child.children)
          .filter((cell) => tagOf(cell) === 'td' || tagOf(cell) === 'th')
          .map((cell) => inlineText(cell).replace(/\|/g, '\\|'));
        if (cells.some(Boolean)) rows.push(cells);
      } else if (tag === 'thead' || tag === 'tbody' || tag === 'tfoot') {
        collect(child);
      }
    }
  };
  collect(table);
  if (rows.length === 0) return '';
  const width = Math.max(...rows.map((row) => row.length));
  const line = (row: string[]) =>
    `| ${Array.from({ length: width }, (_, i) => row[i] ?? '').join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header), line(Array(width).fill('---')), ...body.map(line)].join('\n');
}
