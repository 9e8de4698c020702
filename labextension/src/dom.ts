// DOM helpers shared by the badges, the sidebar and the comparison, and by the notebook
// widgets (src/widgets/, bundled into nbflow/widgets/static): nothing here imports JupyterLab.
//
// Every string that comes from the store or the notebook reaches the page as text: element
// contents through text nodes, attributes through setAttribute. Nothing here parses HTML.

export type Child = Node | string | number | null | undefined | false | Child[];
export type Attrs = Record<
  string,
  string | number | boolean | null | undefined | ((event: never) => void)
>;

// The SVG namespace is a name, not an address: nothing is ever fetched from it.
const SVG_NS = 'http://www.w3.org/2000/svg';

/** h('td', {class: 'x'}, 'text', otherNode): an element whose strings become text nodes.
 * An `on<event>` attribute given a function listens to that event. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = setAttrs(document.createElement(tag), attrs);
  append(node, children);
  return node;
}

/** s('rect', {x: 1}): an SVG element, as h makes HTML ones. */
export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const node = setAttrs(document.createElementNS(SVG_NS, tag) as SVGElement, attrs);
  append(node, children);
  return node;
}

function setAttrs<E extends Element>(node: E, attrs: Attrs): E {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (typeof value === 'function') {
      if (name.startsWith('on')) {
        // The handler takes the event its name says (a KeyboardEvent for onkeydown).
        node.addEventListener(name.slice(2), value as EventListener);
      }
      continue;
    }
    node.setAttribute(name, value === true ? '' : String(value));
  }
  return node;
}

function append(node: Node, children: Child[]): Node {
  for (const child of children) {
    if (Array.isArray(child)) {
      append(node, child);
    } else if (child !== null && child !== undefined && child !== false) {
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

/** Replace a node's children. */
export function fill(node: Node, ...children: Child[]): void {
  while (node.firstChild) {
    node.removeChild(node.firstChild);
  }
  append(node, children);
}

/** A note; `prefix` is the class prefix of who draws it ('nbflow' in JupyterLab, 'nbf' in the
 * notebook widgets). */
export function note(text: string, prefix = 'nbflow'): HTMLElement {
  return h('p', { class: `${prefix}-note` }, text);
}

/** Text cut to `limit` characters, with a note (of class `cutClass`) of how much was left out. */
export function clipped(
  tag: 'td' | 'code' | 'pre' | 'span',
  attrs: Attrs,
  text: unknown,
  limit = 2000,
  cutClass = 'nbflow-dim'
): HTMLElement {
  const value = String(text ?? '');
  if (value.length <= limit) {
    return h(tag, attrs, value);
  }
  const more = `… ${(value.length - limit).toLocaleString()} more characters`;
  return h(tag, attrs, value.slice(0, limit), h('span', { class: cutClass }, more));
}

// The same wording as nbflow.render.svg.format_duration: '3 ms', '0.42 s', '3 min 2 s'.
export function formatDuration(seconds: unknown): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    return '';
  }
  if (seconds < 0.0995) {
    return seconds < 0.0005 ? '<1 ms' : `${(seconds * 1000).toFixed(0)} ms`;
  }
  if (seconds < 9.995) {
    return `${seconds.toFixed(2)} s`;
  }
  if (seconds < 59.95) {
    return `${seconds.toFixed(1)} s`;
  }
  const whole = Math.round(seconds);
  if (whole < 3600) {
    const rest = whole % 60;
    const minutes = Math.floor(whole / 60);
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  const hours = Math.floor(whole / 3600);
  const rest = whole % 3600;
  return rest >= 60 ? `${hours} h ${Math.floor(rest / 60)} min` : `${hours} h`;
}

// The same wording as `nbflow show` gives the files a run read: '812 bytes', '1.5 KB', '3.2 GB'.
export function formatSize(bytes: unknown): string {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) {
    return '';
  }
  if (bytes < 1024) {
    return `${bytes} bytes`;
  }
  let size = bytes / 1024;
  let unit = 'KB';
  for (const bigger of ['MB', 'GB', 'TB']) {
    if (size < 1024) {
      break;
    }
    size /= 1024;
    unit = bigger;
  }
  return `${size.toFixed(1)} ${unit}`;
}

// A parameter or result as Python writes it: strings quoted, so '1' and 1 differ.
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return 'None';
  }
  if (value === true) {
    return 'True';
  }
  if (value === false) {
    return 'False';
  }
  if (typeof value === 'number') {
    const exact = String(value);
    return exact.length <= 12 ? exact : value.toPrecision(6);
  }
  if (typeof value === 'string') {
    return `'${value}'`;
  }
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** A string as it is, anything else as formatValue shows it. */
export function cellText(value: unknown): string {
  return typeof value === 'string' ? value : formatValue(value);
}

/** Epoch seconds as local 'YYYY-MM-DD HH:MM:SS ZONE'. */
export function whenText(epochSeconds: unknown): string {
  if (typeof epochSeconds !== 'number') {
    return '-';
  }
  return `${localTime(epochSeconds)} ${zoneName(epochSeconds)}`;
}

/** The local time of day when it is today, else the date and the minute; no zone (the
 *  column's tooltip, whenText, names it). */
export function whenShort(epochSeconds: unknown): string {
  if (typeof epochSeconds !== 'number') {
    return '-';
  }
  const full = localTime(epochSeconds);
  const today = localTime(Date.now() / 1000).slice(0, 10);
  return full.startsWith(today) ? full.slice(11) : full.slice(0, 16);
}

function localTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  );
}

// Made once: a new Intl.DateTimeFormat costs about as much as drawing a row of the runs list.
let zoneFormatter: Intl.DateTimeFormat | null = null;
function zoneFormat(): Intl.DateTimeFormat {
  zoneFormatter ??= new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' });
  return zoneFormatter;
}

/** The browser's time zone as it names it at that moment ("CET", "GMT+1", "UTC"): the same
 *  local times and zone names as the HTML report and the pictures, made on this machine. */
function zoneName(epochSeconds: number): string {
  const parts = zoneFormat().formatToParts(new Date(epochSeconds * 1000));
  return parts.find(part => part.type === 'timeZoneName')?.value ?? '';
}

/** Parameters as one short line: `lr=0.1, n=3`. */
export function paramsText(params: Record<string, unknown> | undefined): string {
  return Object.entries(params ?? {})
    .map(([name, value]) => `${name}=${formatValue(value)}`)
    .join(', ');
}

/** An SVG document as a data: URI for an <img>: drawn as an image, nothing in it runs. */
export function svgDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${base64Utf8(svg)}`;
}

/** Text as UTF-8, base64-encoded. */
export function base64Utf8(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let at = 0; at < bytes.length; at += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(binary);
}

export function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * An SVG picture (as nbflow.render.svg draws it) as an element of this page, so the page's
 * CSS variables theme it and its parts can be clicked. The text is parsed as XML, never as
 * HTML; anything that could run (scripts, foreign objects, event attributes, links) is taken
 * out first, although nbflow's pictures hold none: their strings are escaped when drawn.
 */
export function inlineSvg(svg: string): SVGSVGElement | null {
  if (!svg) {
    return null;
  }
  const parsed = new DOMParser().parseFromString(svg, 'image/svg+xml').documentElement;
  if (parsed.nodeName !== 'svg' || parsed.namespaceURI !== SVG_NS) {
    return null; // a parse error is a <parsererror> document
  }
  for (const node of Array.from(parsed.querySelectorAll('script, foreignObject, a, use'))) {
    node.remove();
  }
  for (const node of [parsed, ...Array.from(parsed.querySelectorAll('*'))]) {
    for (const attribute of Array.from(node.attributes)) {
      if (/^on/i.test(attribute.name) || /href$/i.test(attribute.name)) {
        node.removeAttribute(attribute.name);
      }
    }
  }
  return document.importNode(parsed, true) as unknown as SVGSVGElement;
}

/** The SVG text inside a `data:image/svg+xml;base64,` URI ('' for any other URI). */
export function svgOfDataUri(uri: unknown): string {
  const prefix = 'data:image/svg+xml;base64,';
  if (typeof uri !== 'string' || !uri.startsWith(prefix)) {
    return '';
  }
  try {
    const binary = atob(uri.slice(prefix.length));
    return new TextDecoder().decode(Uint8Array.from(binary, c => c.charCodeAt(0)));
  } catch {
    return '';
  }
}
