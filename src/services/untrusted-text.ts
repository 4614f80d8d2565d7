// Text that enters the system prompt from outside the persona (documents of the
// knowledge base, their titles, a user's stored traits) must not be able to
// close the <reference> block it sits in, or open a fake one, and so speak as
// the system. The exact tag is easy to catch; what a model also reads as that
// tag is not: `</ reference>`, fullwidth `＜/reference＞`, a zero-width space
// or a Cyrillic "е" inside the word, `&lt;/reference&gt;`. So the text is
// normalised first (NFKC folds fullwidth and compatibility forms into plain
// ones), and every tag opener is compared after dropping invisible characters
// and mapping look-alike letters to Latin ones (the `confusables` package's
// table), whatever bracket or entity it starts with.
import { remove as unconfuse } from 'confusables';

/** Characters that read as "<": ASCII and look-alike brackets, and their HTML entities. */
const OPENER = String.raw`(?:[<‹〈⟨❮˂ᐸ]|&(?:lt|LT);?|&#0*60;?|&#[xX]0*3[cC];?)`;
/** An optional "/" as a character or an entity. */
const SLASH = String.raw`(?:\/|&#0*47;?|&#[xX]0*2[fF];?|&sol;)?`;
/** Spaces and invisible format characters (zero-width spaces and joiners, bidi controls). */
const GAP = String.raw`[\s\p{Cf}]*`;
const TAG = new RegExp(`${OPENER}${GAP}${SLASH}${GAP}([\\p{L}\\p{M}\\p{Cf}]{9,40})`, 'gu');

const readsAsReference = (word: string) => unconfuse(word.replace(/\p{Cf}/gu, '')).toLowerCase().startsWith('reference');

/** The text as it may stand inside a reference block: unable to open or close one. */
export function defuse(text: string): string {
  return text.normalize('NFKC').replace(TAG, (match, word: string) => (readsAsReference(word) ? `(${word}` : match));
}
