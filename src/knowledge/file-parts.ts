// An uploaded file's bytes, stored in parts of bounded size (KnowledgeFilePart).
// One 19 MB file written or read in one statement held an embedded database
// for seconds, and converting its bytes to and from the driver's bytea format
// took another ~10 s on the event loop each way. Parts travel as base64 text,
// which Node and PostgreSQL both convert natively: a 128 KB part takes ~15 ms
// to write and ~5 ms to read here, and other queries run between parts (giveWay).
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { giveWay } from './pacing.ts';

export const PART_BYTES = 128 * 1024;

/** Stores the file's bytes as parts 0, 1, …; each part is its own short statement. */
export async function writeFileParts(prisma: PrismaClient, sourceId: string, bytes: Uint8Array): Promise<void> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let busy = 0;
  for (let part = 0; part * PART_BYTES < buffer.byteLength; part++) {
    if (part > 0) await giveWay(busy);
    const started = performance.now();
    const piece = buffer.subarray(part * PART_BYTES, (part + 1) * PART_BYTES).toString('base64');
    await prisma.$executeRaw`
      INSERT INTO "KnowledgeFilePart" ("sourceId", part, bytes) VALUES (${sourceId}::uuid, ${part}, decode(${piece}, 'base64'))
      ON CONFLICT ("sourceId", part) DO UPDATE SET bytes = EXCLUDED.bytes`;
    busy = performance.now() - started;
  }
}

/**
 * The file's bytes, read part by part into one buffer of `byteSize` bytes; null
 * when fewer were stored (the upload was cut short before it was stored whole).
 * Files uploaded before parts existed are read from the source row.
 */
export async function readFile(prisma: PrismaClient, source: { id: string; byteSize: number | null }): Promise<Uint8Array | null> {
  const size = source.byteSize ?? 0;
  const bytes = Buffer.allocUnsafe(size);
  let filled = 0;
  for (let part = 0, busy = 0; filled < size; part++) {
    if (part > 0) await giveWay(busy);
    const started = performance.now();
    const [row] = await prisma.$queryRaw<{ bytes: string }[]>`
      SELECT encode(bytes, 'base64') AS bytes FROM "KnowledgeFilePart" WHERE "sourceId" = ${source.id}::uuid AND part = ${part}`;
    busy = performance.now() - started;
    if (!row) break;
    filled += bytes.write(row.bytes, filled, 'base64');
  }
  if (filled === size && size > 0) return bytes;
  if (filled > 0) return null;
  const [legacy] = await prisma.$queryRaw<{ bytes: string | null }[]>`
    SELECT encode(content, 'base64') AS bytes FROM "KnowledgeSource" WHERE id = ${source.id}::uuid`;
  return legacy?.bytes ? Buffer.from(legacy.bytes, 'base64') : null;
}
