// WHATWG MIME Sniffing §4.4 "parse a MIME type" and §4.5 "serialize a MIME type", as browsers read a Content-Type
// (https://mimesniff.spec.whatwg.org/#parsing-a-mime-type). A value the parser rejects is no MIME type at all.

export interface MimeType {
  /** Lower-cased. */
  type: string;
  /** Lower-cased. */
  subtype: string;
  /** Names lower-cased, values as sent (quotes and escapes removed); the first of each name wins. */
  parameters: Map<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// HTTP quoted-string token code points: tab, space to tilde, and U+0080 to U+00FF.
const QUOTED_STRING_TOKEN = /^[\t\u0020-\u007e\u0080-\u00ff]*$/;
const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const TRAILING_HTTP_WHITESPACE = /[\t\n\r ]+$/;

export function parseMimeType(input: string): MimeType | undefined {
  const text = input.replace(HTTP_WHITESPACE, '');
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const type = text.slice(0, slash);
  if (!TOKEN.test(type)) return undefined;
  let position = text.indexOf(';', slash + 1);
  if (position < 0) position = text.length;
  const subtype = text.slice(slash + 1, position).replace(TRAILING_HTTP_WHITESPACE, '');
  if (!TOKEN.test(subtype)) return undefined;
  const mime: MimeType = { type: type.toLowerCase(), subtype: subtype.toLowerCase(), parameters: new Map() };

  while (position < text.length) {
    position++; // past ';'
    while (position < text.length && ' \t\n\r'.includes(text[position] as string)) position++;
    let end = position;
    while (end < text.length && text[end] !== ';' && text[end] !== '=') end++;
    const name = text.slice(position, end).toLowerCase();
    position = end;
    if (position < text.length && text[position] === ';') continue;
    position++; // past '='
    if (position >= text.length) break;
    let value: string;
    if (text[position] === '"') {
      [value, position] = collectQuotedString(text, position);
      while (position < text.length && text[position] !== ';') position++;
    } else {
      end = text.indexOf(';', position);
      if (end < 0) end = text.length;
      value = text.slice(position, end).replace(TRAILING_HTTP_WHITESPACE, '');
      position = end;
      if (value === '') continue;
    }
    if (name !== '' && TOKEN.test(name) && QUOTED_STRING_TOKEN.test(value) && !mime.parameters.has(name)) {
      mime.parameters.set(name, value);
    }
  }
  return mime;
}

/** Fetch's "collect an HTTP quoted string" with the extract-value flag: the value, and the position after it. */
function collectQuotedString(text: string, start: number): [string, number] {
  let value = '';
  let position = start + 1;
  for (;;) {
    let end = position;
    while (end < text.length && text[end] !== '"' && text[end] !== '\\') end++;
    value += text.slice(position, end);
    position = end;
    if (position >= text.length) break;
    const quoteOrBackslash = text[position];
    position++;
    if (quoteOrBackslash === '\\') {
      if (position >= text.length) {
        value += '\\';
        break;
      }
      value += text[position];
      position++;
    } else {
      break;
    }
  }
  return [value, position];
}

export function essence(mime: MimeType): string {
  return `${mime.type}/${mime.subtype}`;
}

/** The MIME type as a header value; a parameter whose value is not a token is quoted. */
export function serializeMimeType(mime: MimeType): string {
  let out = essence(mime);
  for (const [name, value] of mime.parameters) {
    out += `; ${name}=${TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`}`;
  }
  return out;
}
