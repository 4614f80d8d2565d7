// Just enough ZIP reading to judge a DOCX before handing it to mammoth: the
// entry names (for sniffing) and how far the XML parts really inflate.
import { inflateRawSync } from 'node:zlib';
import { ExtractionError } from './types.ts';

export type ZipEntry = { name: string; method: number; compressedSize: number; headerOffset: number };

const DEFLATE = 8;

/**
 * The central directory, or undefined when it is missing or broken (a
 * truncated upload); callers then leave the verdict to the real parser.
 */
export function zipEntries(bytes: Uint8Array): ZipEntry[] | undefined {
  if (bytes.length < 22) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end record sits in the last 22 bytes plus an optional comment (< 64 KB).
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end === -1) return undefined;
  const count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (offset + 46 > bytes.length || view.getUint32(offset, true) !== 0x02014b50) return undefined;
    const nameLength = view.getUint16(offset + 28, true);
    entries.push({
      name: decoder.decode(bytes.subarray(offset + 46, offset + 46 + nameLength)),
      method: view.getUint16(offset + 10, true),
      compressedSize: view.getUint32(offset + 20, true),
      headerOffset: view.getUint32(offset + 42, true),
    });
    offset += 46 + nameLength + view.getUint16(offset + 30, true) + view.getUint16(offset + 32, true);
  }
  return entries;
}

/**
 * Inflates the XML parts with a hard output cap. The worker's heap limit does
 * not cover ArrayBuffers, and the ZIP library inflates into those: without
 * this check a 3 MB DOCX that unpacks to 1 GB took the process to 3 GB of
 * memory before failing. Declared sizes are not trusted, only real output.
 */
export function assertUnpackedSize(bytes: Uint8Array, budgetMb: number): void {
  const entries = zipEntries(bytes);
  if (entries === undefined) return;
  let remaining = budgetMb * 1024 * 1024;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const entry of entries) {
    // Media are never unpacked (images are dropped), so only markup counts.
    if (entry.method !== DEFLATE || !/\.(xml|rels)$/i.test(entry.name)) continue;
    const at = entry.headerOffset;
    if (at + 30 > bytes.length || view.getUint32(at, true) !== 0x04034b50) continue;
    const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
    let size: number;
    try {
      size = inflateRawSync(bytes.subarray(start, start + entry.compressedSize), {
        maxOutputLength: remaining + 1,
      }).length;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE') continue; // damaged: mammoth will say so
      size = remaining + 1;
    }
    remaining -= size;
    if (remaining < 0) {
      throw new ExtractionError(
        'TOO_COMPLEX',
        `The document unpacks to more than ${budgetMb} MB of content; it may be damaged or too complex.`,
      );
    }
  }
}
