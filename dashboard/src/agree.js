// Where members' replies agree: each reply cut into words, a word marked
// when no other reply has it. Linear in the texts' length (a set per
// reply), no backtracking, bounded: long texts are compared on their first
// `maxWords` words only and the rest is shown as it is.

import { html } from 'htm/preact';

const maxWords = 5000;

/// Lowercase letters and digits of a word, for comparing.
function norm(word) {
  return word.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
}

/// `texts` cut into segments `{ text, own }`: `own` when the word appears
/// in no other text. Fewer than two texts: nothing is marked.
export function agreement(texts) {
  const split = texts.map((t) => (t ?? '').split(/(\s+)/));
  const sets = split.map((parts) => {
    const words = new Set();
    for (let i = 0; i < parts.length && i < 2 * maxWords; i += 2) {
      const n = norm(parts[i]);
      if (n) words.add(n);
    }
    return words;
  });
  return split.map((parts, index) => {
    if (texts.length < 2) return [{ text: texts[index] ?? '', own: false }];
    const segments = [];
    for (let i = 0; i < parts.length; ++i) {
      const piece = parts[i];
      const n = i % 2 === 0 && i < 2 * maxWords ? norm(piece) : '';
      const own = n !== '' && !sets.some((s, j) => j !== index && s.has(n));
      const last = segments[segments.length - 1];
      if (last && last.own === own) last.text += piece;
      else segments.push({ text: piece, own });
    }
    return segments;
  });
}

/// A reply with the words only it has marked.
export function MarkedText({ segments }) {
  return html`<pre class="text">${segments.map((s) => (s.own ? html`<mark>${s.text}</mark>` : s.text))}</pre>`;
}
