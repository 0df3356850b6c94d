// Bounds on the shape of a JSON text, checked by one flat scan before anything parses or validates it: a schema
// walks a value recursively, so unbounded nesting overflows the stack and a huge array costs CPU on every message.
// Isomorphic (the web app bundles it): no `node:` imports.

/** Deepest nesting of arrays and objects a signaling message may have. */
export const MAX_JSON_DEPTH = 32;
/** Most values (array elements and object members) a signaling message may hold. */
export const MAX_JSON_ITEMS = 2048;

export type JsonShapeProblem = { problem: 'too_deep' | 'too_many_items'; reason: string };

/**
 * Scan `text` without recursion and say whether its nesting or its number of values goes past the bounds. Strings
 * are skipped whole, so brackets and commas inside them do not count. The text need not be valid JSON: this only
 * bounds what the parser after it will build.
 */
export function checkJsonShape(
  text: string,
  maxDepth: number = MAX_JSON_DEPTH,
  maxItems: number = MAX_JSON_ITEMS,
): JsonShapeProblem | undefined {
  let depth = 0;
  let items = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Jump to the closing quote, the next one not escaped by an odd run of backslashes. indexOf rather than a
      // character loop: strings (SDP, candidates) are most of a signaling message, and this runs on every one.
      for (;;) {
        const close = text.indexOf('"', i + 1);
        if (close < 0) return undefined;
        let slashes = 0;
        while (text.charCodeAt(close - 1 - slashes) === 0x5c /* \ */) slashes++;
        i = close;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) {
        return { problem: 'too_deep', reason: `nested more than ${maxDepth} arrays or objects deep` };
      }
      items++;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      items++;
    }
    if (items > maxItems) return { problem: 'too_many_items', reason: `more than ${maxItems} values` };
  }
  return undefined;
}
