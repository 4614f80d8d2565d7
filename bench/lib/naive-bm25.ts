// The baseline that retrieval must never rank below: textbook BM25 (k1 = 1.2,
// b = 0.75) over fixed 1,200-character chunks of each document's raw text,
// computed here in plain TypeScript. Naive on purpose: lower-cased alphanumeric
// tokens, a short list of English stop words, no stemming, no field weights.

const K1 = 1.2;
const B = 0.75;
const CHUNK_CHARS = 1200;

const STOP_WORDS = new Set(
  ('a an and are as at be but by can do does for from has have how i if in into is it its my of on or so such that the their ' +
    'then there these this to was what when where which who why will with you your').split(' '),
);

function tokens(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((token) => !STOP_WORDS.has(token));
}

type Chunk = { documentId: string; length: number; frequencies: Map<string, number> };

export function naiveBm25(documents: Array<{ id: string; text: string }>) {
  const chunks: Chunk[] = [];
  const documentFrequency = new Map<string, number>();
  for (const document of documents) {
    for (let at = 0; at < document.text.length; at += CHUNK_CHARS) {
      const words = tokens(document.text.slice(at, at + CHUNK_CHARS));
      const frequencies = new Map<string, number>();
      for (const word of words) frequencies.set(word, (frequencies.get(word) ?? 0) + 1);
      for (const word of frequencies.keys()) documentFrequency.set(word, (documentFrequency.get(word) ?? 0) + 1);
      chunks.push({ documentId: document.id, length: words.length, frequencies });
    }
  }
  const averageLength = chunks.reduce((sum, chunk) => sum + chunk.length, 0) / chunks.length;
  const idf = (word: string) => {
    const df = documentFrequency.get(word) ?? 0;
    return Math.log(1 + (chunks.length - df + 0.5) / (df + 0.5));
  };

  return {
    /** Document ids, best first, of the chunks that share a term with the question. */
    search(question: string): string[] {
      const terms = [...new Set(tokens(question))];
      const scored: Array<{ documentId: string; score: number }> = [];
      for (const chunk of chunks) {
        let score = 0;
        for (const term of terms) {
          const tf = chunk.frequencies.get(term);
          if (!tf) continue;
          score += (idf(term) * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * chunk.length) / averageLength));
        }
        if (score > 0) scored.push({ documentId: chunk.documentId, score });
      }
      scored.sort((a, b) => b.score - a.score);
      return [...new Set(scored.map((hit) => hit.documentId))];
    },
  };
}
