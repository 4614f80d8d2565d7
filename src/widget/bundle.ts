// Builds /widget.js from the widget's TypeScript sources once per process, with
// no build step: Node strips the types (module.stripTypeScriptTypes), the files
// are joined inside one function (so the page gets no global), and the result
// is compressed once with brotli and gzip for the wire.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import path from 'node:path';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';

/** In order: the labels and the styles are constants the widget reads. */
const SOURCES = ['labels.ts', 'styles.ts', 'widget.ts'];

export type WidgetBundle = {
  /** The script as served without compression. */
  source: Buffer;
  gzip: Buffer;
  brotli: Buffer;
  /** A hash of the uncompressed script; each encoding's ETag adds its own suffix. */
  hash: string;
};

/**
 * Node 24 marks the function experimental and says so on stderr the first time
 * it runs; the warning tells a user of the gateway nothing, so it is dropped
 * (only that one: every other warning still goes out).
 */
function stripTypes(code: string): string {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (/stripTypeScriptTypes/.test(text)) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return stripTypeScriptTypes(code, { mode: 'strip' });
  } finally {
    process.emitWarning = emitWarning;
  }
}

export function buildWidgetBundle(folder = import.meta.dirname): WidgetBundle {
  // labels.ts and styles.ts export their constant for widget.ts's types only; in the bundle they are locals.
  const parts = SOURCES.map((file) => `// ${file}\n${stripTypes(readFileSync(path.join(folder, file), 'utf8')).replace(/^export const /gm, 'const ')}`);
  const script = `/*! assistant-gateway chat widget */\n(() => {\n'use strict';\n${parts.join('\n')}\n})();\n`;
  const source = Buffer.from(script);
  return {
    source,
    gzip: gzipSync(source, { level: 9 }),
    brotli: brotliCompressSync(source, {
      params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_SIZE_HINT]: source.length },
    }),
    hash: createHash('sha256').update(source).digest('base64url').slice(0, 27),
  };
}
