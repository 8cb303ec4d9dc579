/**
 * A minimal, strict XML reader for the CAP subset: elements, attributes, text, CDATA, comments,
 * processing instructions and the five predefined entities plus character references. Namespace
 * prefixes are kept in `name` and stripped in `local`. A DOCTYPE is refused (no entity expansion,
 * so no billion-laughs or external entities). No installed package parses XML, hence this file.
 */
export interface XmlElement {
  name: string;
  local: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

export class XmlError extends Error {
  override readonly name = 'XmlError';
}

const NAME = /[A-Za-z_][\w.:-]*/y;

/** Parses a document and answers its root element; throws XmlError with the line of the problem. */
export function parseXml(source: string): XmlElement {
  let i = 0;
  const line = () => source.slice(0, i).split('\n').length;
  const fail = (what: string): never => {
    throw new XmlError(`line ${line()}: ${what}`);
  };
  const skipMisc = () => {
    for (;;) {
      while (i < source.length && /\s/.test(source[i]!)) i++;
      if (source.startsWith('<?', i)) {
        const end = source.indexOf('?>', i);
        if (end < 0) fail('a processing instruction is not closed');
        i = end + 2;
      } else if (source.startsWith('<!--', i)) {
        const end = source.indexOf('-->', i);
        if (end < 0) fail('a comment is not closed');
        i = end + 3;
      } else if (source.startsWith('<!DOCTYPE', i)) {
        fail('a DOCTYPE is not accepted');
      } else return;
    }
  };
  const readName = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(source);
    if (!m) fail(`expected a name, got ${JSON.stringify(source.slice(i, i + 10))}`);
    i += m![0].length;
    return m![0];
  };
  const element = (): XmlElement => {
    if (source[i] !== '<') fail('expected an element');
    i++;
    const name = readName();
    const attributes: Record<string, string> = {};
    for (;;) {
      while (/\s/.test(source[i] ?? '')) i++;
      if (source.startsWith('/>', i)) {
        i += 2;
        return { name, local: local(name), attributes, children: [], text: '' };
      }
      if (source[i] === '>') {
        i++;
        break;
      }
      const attr = readName();
      while (/\s/.test(source[i] ?? '')) i++;
      if (source[i] !== '=') fail(`attribute ${attr}: expected =`);
      i++;
      while (/\s/.test(source[i] ?? '')) i++;
      const quote = source[i];
      if (quote !== '"' && quote !== "'") fail(`attribute ${attr}: expected a quoted value`);
      const end = source.indexOf(quote!, i + 1);
      if (end < 0) fail(`attribute ${attr}: the value is not closed`);
      attributes[attr] = decode(source.slice(i + 1, end), fail);
      i = end + 1;
    }
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      if (i >= source.length) fail(`<${name}> is not closed`);
      if (source.startsWith('</', i)) {
        i += 2;
        const closing = readName();
        if (closing !== name) fail(`</${closing}> closes <${name}>`);
        while (/\s/.test(source[i] ?? '')) i++;
        if (source[i] !== '>') fail(`</${closing}: expected >`);
        i++;
        return { name, local: local(name), attributes, children, text };
      }
      if (source.startsWith('<!--', i)) {
        const end = source.indexOf('-->', i);
        if (end < 0) fail('a comment is not closed');
        i = end + 3;
      } else if (source.startsWith('<![CDATA[', i)) {
        const end = source.indexOf(']]>', i);
        if (end < 0) fail('a CDATA section is not closed');
        text += source.slice(i + 9, end);
        i = end + 3;
      } else if (source.startsWith('<?', i)) {
        const end = source.indexOf('?>', i);
        if (end < 0) fail('a processing instruction is not closed');
        i = end + 2;
      } else if (source[i] === '<') {
        children.push(element());
      } else {
        const end = source.indexOf('<', i);
        text += decode(source.slice(i, end < 0 ? source.length : end), fail);
        i = end < 0 ? source.length : end;
      }
    }
  };
  if (source.charCodeAt(0) === 0xfeff) i = 1;
  skipMisc();
  const root = element();
  skipMisc();
  if (i < source.length) fail('content after the root element');
  return root;
}

function local(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(text: string, fail: (what: string) => never): string {
  return text.replace(/&(#x[0-9A-Fa-f]+|#\d+|\w+);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) fail(`an entity reference ${whole} lacks its ;`);
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const value = ENTITIES[ref];
    if (value === undefined) fail(`unknown entity &${ref};`);
    return value!;
  });
}

/** Escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[c]!};`);
}

/** The first child with this local name. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.local === name);
}

/** Every child with this local name. */
export function children(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.local === name);
}
