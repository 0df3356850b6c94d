// A tiny element builder: the app is a handful of forms, not worth a framework's kilobytes on a phone.
type Child = Node | string | false | null | undefined;
type AttrValue = string | number | boolean | undefined | ((event: Event) => void);

/**
 * `h('button', { type: 'button', onclick: go }, 'Send')`. Attributes starting with "on" become listeners, `true`
 * and `false` set or omit a boolean attribute, everything else is an attribute (so `for`, `aria-*` work as in HTML).
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

let nextId = 0;
/** A document-unique id, to tie a label or a description to its control. */
export function uid(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}
