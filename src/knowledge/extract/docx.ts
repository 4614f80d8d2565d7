// Word documents: mammoth maps Word styles to HTML (Heading 1 → h1, numbered
// paragraphs → lists, tables), which keeps more structure than its raw-text mode.
import mammoth from 'mammoth';
import { parseHTML } from 'linkedom';
import { assertNesting, toMarkdown } from './markdown.ts';
import type { Extracted, ExtractionLimits } from './types.ts';
import { assertUnpackedSize } from './zip.ts';

// Images would arrive as base64 data URIs: megabytes of heap for no text.
const dropImages = mammoth.images.imgElement(async () => ({ src: '' }));

export async function docxToText(bytes: Uint8Array, limits: ExtractionLimits): Promise<Extracted> {
  // Parsing takes ~25× the XML's size in heap, so markup beyond a quarter of
  // the limit could never fit; the quarter also keeps this check's own
  // buffers below the sandbox's memory watchdog.
  assertUnpackedSize(bytes, Math.max(1, Math.floor(limits.maxMemoryMb / 4)));
  const { value: html } = await mammoth.convertToHtml(
    { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
    // Linked files (INCLUDETEXT fields, external images) would read the server's disk.
    { convertImage: dropImages, externalFileAccess: false },
  );
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`) as unknown as {
    document: Document;
  };
  assertNesting(document.body);
  const text = toMarkdown(document.body);
  const title = document.querySelector('h1')?.textContent?.trim() || undefined;
  return { text, title };
}
