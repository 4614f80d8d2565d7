// HTML pages: readability picks the main content, markdown.ts writes it out.
import { isUtf8 } from 'node:buffer';
import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import { assertNesting, toMarkdown } from './markdown.ts';
import { decodeText } from './sniff.ts';
import type { Extracted } from './types.ts';

export function htmlToText(bytes: Uint8Array): Extracted {
  const document = parseDocument(decodeHtml(bytes));
  assertNesting(document.documentElement);
  const pageTitle = document.querySelector('title')?.textContent?.trim();
  dropPageChrome(document);
  const h1s = Array.from(document.querySelectorAll('h1'), (h) => h.textContent?.trim() ?? '');
  for (const heading of Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'))) {
    heading.setAttribute('data-level', heading.localName.slice(1));
  }

  const article = new Readability(document, { serializer: (node: Node) => node }).parse();
  const title = article?.title?.trim() || pageTitle || h1s[0] || undefined;
  // Readability returns null on pages it cannot score; their body, minus the
  // chrome removed above, is still better than nothing.
  const content = article?.content ?? document.body;
  let text = toMarkdown(content);

  // Readability removes the h1 that repeats the page title; the reader of a
  // chunk still needs it, so put the heading back on top.
  if (!/^# /m.test(text)) {
    const heading = h1s.find((h) => h && title?.toLowerCase().includes(h.toLowerCase())) ?? title;
    if (heading) text = `# ${heading}\n\n${text}`;
  }
  return { text, title };
}

/**
 * linkedom builds no implied <html>/<body> the way browsers do, so fragments
 * and pages that skip those tags get them added before parsing.
 */
function parseDocument(source: string): Document {
  const parse = (html: string) => (parseHTML(html) as unknown as { document: Document }).document;
  const parsed = parse(source);
  const root = parsed.documentElement;
  if (root?.localName === 'html' && Array.from(root.children).some((child) => child.localName === 'body')) {
    return parsed;
  }
  let inner = source.replace(/^\s*<!doctype[^>]*>/i, '').replace(/<\/?html[^>]*>/gi, '');
  if (!/<body[\s>]/i.test(inner)) {
    inner = /<\/head>/i.test(inner) ? `${inner.replace(/<\/head>/i, '</head><body>')}</body>` : `<body>${inner}</body>`;
  }
  return parse(`<!doctype html><html>${inner}</html>`);
}

/**
 * Navigation, site header/footer and sidebars are boilerplate outside the
 * article; readability usually drops them too, but not on short pages.
 */
function dropPageChrome(document: Document): void {
  for (const element of Array.from(document.querySelectorAll('nav, header, footer, aside'))) {
    if (element.localName === 'nav' || !element.parentElement?.closest('article, main')) element.remove();
  }
}

/** UTF-8 or a BOM wins; otherwise the page's own meta charset, as browsers do. */
function decodeHtml(bytes: Uint8Array): string {
  if (isUtf8(bytes) || (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return decodeText(bytes);
  }
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 2048));
  const label = /<meta[^>]+charset\s*=\s*["']?([\w-]+)/i.exec(head)?.[1] ?? 'windows-1252';
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}
