import { describe, expect, it } from 'vitest';
import {
  ExtractionError,
  extractText,
  FILE_TYPES,
  parseFileType,
  type ExtractionLimits,
  type FileType,
} from '../src/knowledge/extract/extract.ts';
import {
  makeCsv,
  makeDocx,
  makeDocxBomb,
  makeHtml,
  makeMarkdown,
  makePdf,
  makePdfBomb,
  makeScannedPdf,
  makeXlsxLike,
  utf8,
} from './fixtures/make-files.ts';

const limits: ExtractionLimits = { maxPages: 50, timeoutMs: 20_000, maxMemoryMb: 256, maxChars: 1_000_000 };

/** The ExtractionError a rejected extraction carries (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<ExtractionError> {
  const error = await promise.then(
    (result) => {
      throw new Error(`expected a failure, got ${JSON.stringify(result).slice(0, 200)}`);
    },
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(ExtractionError);
  return error as ExtractionError;
}

describe('extracting text from uploaded files', () => {
  it('a PDF keeps the text of every page, with chapter headings as # lines', async () => {
    const result = await extractText(await makePdf(3), 'pdf', limits);

    expect(result.pages).toBe(3);
    expect(result.title).toBe('Harbour Operations Manual');
    expect(result.text).toMatch(/^# Chapter 1: Arrivals$/m);
    expect(result.text).toMatch(/^# Chapter 3: Departures$/m);
    // The two drawn lines of a paragraph are reflowed into one.
    expect(result.text).toContain(
      '\n\nPage 2 explains the procedure that every pilot on duty follows before a vessel enters the inner basin.\n\n',
    );
    expect(result.text).toContain('Marker sentence for page 3: the tide gauge reads in metres.');
  });

  it('a Word document keeps its headings, paragraphs, list items and table', async () => {
    const result = await extractText(await makeDocx(), 'docx', limits);

    expect(result.title).toBe('Crew Handbook');
    expect(result.text).toMatch(/^# Crew Handbook$/m);
    expect(result.text).toMatch(/^## Daily Routine$/m);
    expect(result.text).toContain('\n\nWelcome aboard the research vessel Calypso.\n\nSafety first: wear a life jacket on deck.\n\n');
    expect(result.text).toContain('- Muster at the bridge at 07:00\n- Check the bilge pumps\n  - Log the water temperature');
    expect(result.text).toContain('| Role | Name | Channel |\n| --- | --- | --- |\n| Captain | Ines Moreau | VHF 16 |');
    expect(result.text).toMatch(/Report every incident to the captain within one hour\.$/);
  });

  it('a web page keeps its article and drops navigation, header, footer, sidebar, styles and scripts', async () => {
    const result = await extractText(utf8(makeHtml()), 'html', limits);

    expect(result.title).toContain('Ferry Timetable Guide');
    expect(result.text).toMatch(/^# Ferry Timetable Guide\n\nThe river ferry carries commuters/);
    expect(result.text).toMatch(/^## Weekday Sailings$/m);
    expect(result.text).toMatch(/^## Weekend Sailings$/m);
    expect(result.text).toContain('first ferry leaves the north landing at 05:40');
    expect(result.text).toContain('- Peak sailings every ten minutes\n- Bicycles travel free outside peak hours');
    for (const marker of ['NAV', 'HEADER', 'FOOTER', 'SIDEBAR', 'SCRIPT', 'STYLE', 'BOTTOM-SCRIPT']) {
      expect(result.text).not.toContain(`${marker}-MARKER`);
    }
  });

  it('an HTML fragment without <html> or <body> still gives its text', async () => {
    const result = await extractText(utf8('<h2>Opening hours</h2><p>Daily <b>9 to 5</b>.</p>'), 'html', limits);

    expect(result.text).toBe('## Opening hours\n\nDaily 9 to 5.');
  });

  it('a CSV file becomes one "header: value" line per row, skipping empty cells', async () => {
    const result = await extractText(utf8(makeCsv()), 'csv', limits);

    expect(result.text).toBe(
      'Product: Anchor chain; Price: 129.90; In stock: yes\n\n' +
        'Product: Rope, braided 12 mm; Price: 4.50; In stock: no\n\n' +
        'Product: Fender; In stock: yes',
    );
  });

  it('a semicolon-separated CSV from a spreadsheet is read with its own delimiter', async () => {
    const result = await extractText(utf8('Name;Amount\nDock fee;12,50\n'), 'csv', limits);

    expect(result.text).toBe('Name: Dock fee; Amount: 12,50');
  });

  it('a Markdown file comes back as written, titled by its first heading', async () => {
    const result = await extractText(utf8(makeMarkdown()), 'md', limits);

    expect(result.text).toBe(makeMarkdown().trim());
    expect(result.title).toBe('Release Notes');
  });

  it('a text file saved as UTF-16 by Windows Notepad is decoded', async () => {
    const text = 'Übersicht der Liegeplätze';
    const bytes = new Uint8Array([0xff, 0xfe, ...new Uint8Array(new Uint16Array(Array.from(text, (c) => c.charCodeAt(0))).buffer)]);

    expect((await extractText(bytes, 'txt', limits)).text).toBe(text);
  });

  it('file types are recognised from names, extensions and MIME types', () => {
    expect(parseFileType('PDF')).toBe('pdf');
    expect(parseFileType('.htm')).toBe('html');
    expect(parseFileType('text/plain; charset=utf-8')).toBe('txt');
    expect(parseFileType('markdown')).toBe('md');
    expect(parseFileType('text/csv')).toBe('csv');
    expect(parseFileType('application/vnd.openxmlformats-officedocument.wordprocessingml.document')).toBe('docx');
    expect(parseFileType('xlsx')).toBeUndefined();
    expect(parseFileType('constructor')).toBeUndefined();
    expect(FILE_TYPES).toEqual(['pdf', 'txt', 'md', 'html', 'docx', 'csv']);
  });
});

describe('refusing files that cannot be extracted', () => {
  it('a Word document declared as PDF is refused, naming the type to send', async () => {
    const error = await failure(extractText(await makeDocx(), 'pdf', limits));

    expect(error.code).toBe('TYPE_MISMATCH');
    expect(error.message).toBe(
      'The file was declared as pdf but its content is a Word document (docx); send file_type=docx.',
    );
  });

  it.each<[string, () => Promise<Uint8Array> | Uint8Array, FileType, string]>([
    ['a PDF declared as docx', () => makePdf(1), 'docx', 'a PDF document (pdf); send file_type=pdf'],
    ['plain text declared as pdf', () => utf8('just some notes'), 'pdf', 'plain text; send file_type=txt, md or csv'],
    ['a web page declared as markdown', () => utf8(makeHtml()), 'md', 'an HTML page (html); send file_type=html'],
    ['a spreadsheet declared as docx', makeXlsxLike, 'docx', 'an Excel workbook (xlsx); export it as CSV'],
    ['Latin-1 text declared as txt', () => new Uint8Array([0x63, 0x61, 0x66, 0xe9]), 'txt', 'not UTF-8 text'],
  ])('%s is refused as a type mismatch', async (_name, make, declared, expected) => {
    const error = await failure(extractText(await make(), declared, limits));

    expect(error.code).toBe('TYPE_MISMATCH');
    expect(error.message).toContain(`declared as ${declared}`);
    expect(error.message).toContain(expected);
  });

  it('prose declared as CSV is refused because it does not parse as CSV', async () => {
    const prose = 'Dear crew,\nthe dock, the ramp, and the crane\nare closed "for repairs" today.\n';
    const error = await failure(extractText(utf8(prose), 'csv', limits));

    expect(error.code).toBe('TYPE_MISMATCH');
    expect(error.message).toMatch(/^The file was declared as csv but its content is plain text, not valid CSV \(.+\); /);
  });

  it('an unsupported file type is refused with the list of supported types', async () => {
    const error = await failure(extractText(utf8('a,b'), 'xlsx' as FileType, limits));

    expect(error.code).toBe('UNSUPPORTED_TYPE');
    expect(error.message).toBe('File type "xlsx" is not supported; supported types are pdf, txt, md, html, docx, csv.');
  });

  it('a PDF with more pages than allowed is refused, naming the limit', async () => {
    const error = await failure(extractText(await makePdf(3), 'pdf', { ...limits, maxPages: 2 }));

    expect(error.code).toBe('TOO_MANY_PAGES');
    expect(error.message).toContain('The PDF has 3 pages; at most 2 pages are allowed');
  });

  it('a damaged PDF is reported as unreadable', async () => {
    const damaged = utf8('%PDF-1.7\n' + 'this is not a PDF object table\n'.repeat(50));
    const error = await failure(extractText(damaged, 'pdf', limits));

    expect(error.code).toBe('UNREADABLE');
    expect(error.message).toMatch(/^The file could not be read as a PDF; it may be damaged/);
  });

  it('a Word document cut off during upload is reported as unreadable', async () => {
    const docx = await makeDocx();
    const error = await failure(extractText(docx.subarray(0, Math.floor(docx.length / 2)), 'docx', limits));

    expect(error.code).toBe('UNREADABLE');
    expect(error.message).toMatch(/^The file could not be read as a Word document; it may be damaged/);
  });

  it('a scanned PDF without a text layer is refused with a hint to run OCR', async () => {
    const error = await failure(extractText(await makeScannedPdf(), 'pdf', limits));

    expect(error.code).toBe('NO_TEXT');
    expect(error.message).toBe('The file contains no extractable text; scanned PDFs need OCR first.');
  });

  it('a DOCX bomb (300 KB unpacking to 100 MB) is refused before it is unpacked', async () => {
    const bomb = makeDocxBomb(100);
    expect(bomb.length).toBeLessThan(1024 * 1024);

    const error = await failure(extractText(bomb, 'docx', { ...limits, maxMemoryMb: 64 }));

    expect(error.code).toBe('TOO_COMPLEX');
    expect(error.message).toBe(
      'The document unpacks to more than 16 MB of content; it may be damaged or too complex.',
    );
  });

  it('a web page with a million elements exceeds the memory limit, fails alone, and the next file still works', async () => {
    const page = utf8(`<!doctype html><html><body>${'<p>a</p>'.repeat(1_000_000)}</body></html>`);
    const started = Date.now();

    const error = await failure(extractText(page, 'html', { ...limits, timeoutMs: 25_000, maxMemoryMb: 64 }));

    expect(error.code).toBe('TOO_COMPLEX');
    expect(error.message).toBe(
      'The file could not be processed within 25 s / 64 MB; it may be damaged or too complex.',
    );
    // The heap cap stopped it (~1 s); uncapped, parsing it takes ~27 s.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await extractText(utf8(makeMarkdown()), 'md', limits)).title).toBe('Release Notes');
  });

  it('a Word document whose parsing aborts its whole process fails alone and leaves the caller running', async () => {
    // 30 MB of XML in a 128 MB heap: Node does not end the worker here but
    // aborts its process (FATAL ERROR: Reached heap limit), every time.
    const error = await failure(extractText(makeDocxBomb(30), 'docx', { ...limits, maxMemoryMb: 128 }));

    expect(error.code).toBe('TOO_COMPLEX');
    expect(error.message).toBe(
      'The file could not be processed within 20 s / 128 MB; it may be damaged or too complex.',
    );
    expect((await extractText(utf8(makeMarkdown()), 'md', limits)).title).toBe('Release Notes');
  });

  it('a PDF whose content stream inflates to 256 MB is stopped at the memory limit', async () => {
    const bomb = makePdfBomb(256);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const started = Date.now();

    const error = await failure(extractText(bomb, 'pdf', { ...limits, timeoutMs: 25_000, maxMemoryMb: 64 }));

    expect(error.code).toBe('TOO_COMPLEX');
    expect(error.message).toContain('within 25 s / 64 MB');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a file that takes longer than the time limit is stopped', async () => {
    const error = await failure(extractText(await makePdf(1), 'pdf', { ...limits, timeoutMs: 5 }));

    expect(error.code).toBe('TOO_COMPLEX');
    expect(error.message).toBe(
      'The file could not be processed within 5 ms / 256 MB; it may be damaged or too complex.',
    );
  });

  it('a page nested a thousand levels deep is refused at once instead of occupying a worker', async () => {
    const page = `<!doctype html><html><body>${'<div>'.repeat(1000)}deep${'</div>'.repeat(1000)}</body></html>`;
    const started = Date.now();
    const error = await failure(extractText(utf8(page), 'html', limits));

    expect(error.code).toBe('TOO_COMPLEX');
    expect(error.message).toContain('more than 256 levels deep');
    // Readability alone needs ~18 s for this page.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an empty file is refused as having no text', async () => {
    const error = await failure(extractText(new Uint8Array(), 'txt', limits));

    expect(error.code).toBe('NO_TEXT');
    expect(error.message).toBe('The file is empty.');
  });

  it('text beyond the character limit is cut at a line break and marked as truncated', async () => {
    const text = Array.from({ length: 100 }, (_, i) => `Line ${i} of the harbour log.`).join('\n');
    const result = await extractText(utf8(text), 'txt', { ...limits, maxChars: 500 });

    expect(result.truncated).toBe(true);
    expect(result.text.length).toBeLessThanOrEqual(500);
    expect(result.text).toMatch(/^Line 0 .*\.$/s);
  });
});
