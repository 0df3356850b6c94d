// Text for a terminal. What a peer sends (a file name, a folder's name, the reason it cancelled) is shown, never
// obeyed: control characters (an escape sequence can move the cursor, rewrite what was printed or retitle the
// window), format characters (a right-to-left override shows 'invoice\u202Efdp.exe' as 'invoiceexe.pdf'; zero-width
// ones hide a difference) and the line and paragraph separators are shown as escapes. Every line the CLI prints
// passes through here; the newline is kept, it is the CLI's own line break.

const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/** `text` with every control, format or separator character except '\n' written as `\xHH` or `\u{HHHH}`. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (char) => {
    if (char === '\n') return char;
    const code = char.codePointAt(0) as number;
    const hex = code.toString(16).toUpperCase();
    return code < 0x100 ? `\\x${hex.padStart(2, '0')}` : `\\u{${hex}}`;
  });
}

/**
 * One JSON line, with the same characters as JSON escapes (`\u202e`): a script parses the true name, a terminal that
 * shows the line acts on nothing. (JSON.stringify escapes C0 controls itself, but not C1, format characters or
 * U+2028/U+2029.)
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (char) => {
    // A character past U+FFFF is two UTF-16 units, each its own \uXXXX in JSON.
    let escaped = '';
    for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}
