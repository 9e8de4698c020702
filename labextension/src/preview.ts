// Stored artifact previews, tasks, logs and rich outputs as DOM nodes (see nbflow.render.report
// for the same rules in HTML), for the JupyterLab sidebar and the notebook widgets alike: a
// DataFrame's head as a table, an array's shape, dtype and first values, anything else as
// text. Previews are plain data made when the artifact was stored; no HTML in them is ever
// rendered (a name or value holding `<script>` shows as those characters), and images are
// <img> elements.

import type { ArtifactView, Display, FileRead, TaskDetails, TaskError, TaskView } from './views';
import { base64Utf8, cellText, formatDuration, formatSize, formatValue, h } from './dom';
import { cls, EXTENSION, Look, lookClipped as clipped, lookNote as note } from './look';

const TABLE_ROWS = 20;
const TABLE_COLUMNS = 30;
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml'];
const TEXT_TYPES = ['text/plain', 'text/markdown', 'text/latex', 'application/json'];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// eslint-disable-next-line no-control-regex -- ESC (\x1b) is what starts an ANSI colour code
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const READS_SHOWN = 50; // files read listed per task; a note counts the rest

/**
 * A stored preview (nbflow.store.blobs.previews): which fields it has depends on the kind of
 * value (a DataFrame's columns and head, an array's shape and values, a scalar's value...), so
 * each is checked where it is read.
 */
interface Preview {
  columns?: unknown;
  head?: unknown;
  index?: unknown;
  dtypes?: unknown;
  dtype?: unknown;
  shape?: unknown;
  values?: unknown;
  value?: unknown;
  repr?: unknown;
  length?: unknown;
  name?: unknown;
  type?: unknown;
  error?: unknown;
}

function shapeText(shape: unknown): string {
  if (!Array.isArray(shape)) {
    return '';
  }
  return shape.length ? shape.join(' × ') : 'scalar';
}

/** One stored preview as a node; never throws (a preview of an unexpected shape gets a note). */
export function renderPreview(preview: unknown, look: Look = EXTENSION): HTMLElement {
  try {
    return previewNode(preview, look);
  } catch (error) {
    return note(look, `preview could not be shown (${(error as Error)?.name})`);
  }
}

function previewNode(preview: unknown, look: Look): HTMLElement {
  if (preview === null || typeof preview !== 'object') {
    return clipped(look, 'code', {}, cellText(preview ?? ''));
  }
  const p = preview as Preview;
  const box = h('div', { class: cls(look, 'preview') });
  if (Array.isArray(p.columns) && Array.isArray(p.head)) {
    box.append(frameNode(p, p.columns, p.head, look));
  } else if (Array.isArray(p.head) && Array.isArray(p.index)) {
    box.append(seriesNode(p, p.head, p.index, look));
  } else if ('shape' in p && Array.isArray(p.values)) {
    box.append(arrayNode(p, p.values, look));
  } else if ('value' in p) {
    box.append(clipped(look, 'code', {}, String(p.repr ?? formatValue(p.value))));
  } else if ('repr' in p) {
    box.append(clipped(look, 'code', {}, String(p.repr)));
    if (typeof p.length === 'number') {
      box.append(h('span', { class: cls(look, 'dim') }, ` length ${p.length.toLocaleString()}`));
    }
  } else if (!p.error) {
    box.append(note(look, 'no preview'));
  }
  if (p.error) {
    box.append(note(look, String(p.error)));
  }
  return box;
}

function frameNode(p: Preview, allColumns: unknown[], head: unknown[], look: Look): HTMLElement {
  const columns = allColumns.slice(0, TABLE_COLUMNS);
  const index: unknown[] = Array.isArray(p.index) ? p.index : [];
  const dtypes: unknown[] = Array.isArray(p.dtypes) ? p.dtypes : [];
  const rows: unknown[][] = head.filter(Array.isArray).slice(0, TABLE_ROWS);
  const table = h(
    'table',
    { class: cls(look, 'frame'), 'data-testid': look.testid('frame') },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}),
        columns.map(c => h('th', {}, cellText(c)))
      ),
      h(
        'tr',
        { class: cls(look, 'dtypes') },
        h('td', {}),
        dtypes.slice(0, columns.length).map(t => h('td', {}, String(t)))
      )
    ),
    h(
      'tbody',
      {},
      rows.map((row, i) =>
        h(
          'tr',
          {},
          h('th', {}, i < index.length ? cellText(index[i]) : ''),
          row.slice(0, TABLE_COLUMNS).map(cell => clipped(look, 'td', {}, cellText(cell), 200))
        )
      )
    )
  );
  return h(
    'div',
    {},
    h('div', { class: cls(look, 'dim') }, `DataFrame ${shapeText(p.shape)}`),
    h('div', { class: cls(look, 'wide') }, table),
    moreRows(p, rows, look)
  );
}

function seriesNode(p: Preview, allHead: unknown[], index: unknown[], look: Look): HTMLElement {
  const head = allHead.slice(0, TABLE_ROWS);
  const body = head.map((cell, i) =>
    h('tr', {}, h('th', {}, cellText(index[i] ?? '')), clipped(look, 'td', {}, cellText(cell), 200))
  );
  const name = p.name !== null && p.name !== undefined ? ` ${cellText(p.name)}` : '';
  return h(
    'div',
    {},
    h('div', { class: cls(look, 'dim') }, `Series${name} ${shapeText(p.shape)} ${p.dtype ?? ''}`),
    h('table', { class: cls(look, 'frame') }, h('tbody', {}, body)),
    moreRows(p, head, look)
  );
}

function moreRows(p: Preview, shown: unknown[], look: Look): HTMLElement | null {
  const rows = Array.isArray(p.shape) && typeof p.shape[0] === 'number' ? p.shape[0] : 0;
  return rows > shown.length
    ? note(look, `… ${(rows - shown.length).toLocaleString()} more rows`)
    : null;
}

function arrayNode(p: Preview, allValues: unknown[], look: Look): HTMLElement {
  const values = allValues.slice(0, TABLE_ROWS);
  const size = Array.isArray(p.shape)
    ? p.shape.reduce((a: number, b: unknown) => a * Number(b), 1)
    : values.length;
  const rest = size > values.length ? ', …' : '';
  return h(
    'div',
    {},
    h('div', { class: cls(look, 'dim') }, `array ${shapeText(p.shape)} ${p.dtype ?? ''}`),
    clipped(look, 'code', {}, `[${values.map(cellText).join(', ')}${rest}]`)
  );
}

// -- tasks ---------------------------------------------------------------------------------

/** One task as the sidebar lists it: status, duration, its own artifacts with previews, the
 * files it read, logs and error. */
export function renderTask(task: TaskDetails): HTMLElement {
  const look = EXTENSION;
  const artifacts = task.artifacts ?? [];
  const own = artifacts.filter(a => a.kind !== 'inherited');
  const item = task.item_name ? artifacts.find(a => a.name === task.item_name) : undefined;
  const facts: (Node | string)[] = [look.badge(task.status), ' ', h('code', {}, task.id)];
  if (typeof task.duration === 'number') {
    facts.push(` · ${formatDuration(task.duration)}`);
  }
  if (item) {
    facts.push(' · item ', renderPreview(item.preview, look));
  }
  if (task.origin) {
    facts.push(' · reused from ', h('code', {}, task.origin));
  }
  return h(
    'div',
    { class: 'nbflow-task', 'data-testid': look.testid('task') },
    h('div', { class: 'nbflow-task-facts' }, facts),
    task.error ? errorNode(task.error, look) : null,
    artifactTable(own, 'no artifacts of its own', look),
    readsNode(task.reads, look),
    logNode('stdout', task.stdout, look),
    logNode('stderr', task.stderr, look)
  );
}

/** One task as the graph widget's panel shows it: a <details> (open if `open`) whose summary
 * holds the facts, and whose body adds the artifacts inherited from earlier steps and the
 * task's rich outputs. */
export function renderTaskDetails(task: TaskDetails, open: boolean, look: Look): HTMLElement {
  const facts: (Node | string)[] = [look.badge(task.status), ' ', h('code', {}, task.id)];
  if (task.attempt !== undefined && task.attempt > 1) {
    facts.push(` attempt ${task.attempt}`);
  }
  if (typeof task.duration === 'number') {
    facts.push(` · ${formatDuration(task.duration)}`);
  }
  if (task.origin) {
    facts.push(' · reused from ', h('code', {}, task.origin));
  }
  const artifacts = Array.isArray(task.artifacts) ? task.artifacts : [];
  const item = task.item_name ? artifacts.find(a => a.name === task.item_name) : undefined;
  if (item) {
    facts.push(' · item ', clipped(look, 'code', {}, shortPreview(item.preview), 80));
  }
  const own = artifacts.filter(a => a.kind !== 'inherited');
  const inherited = artifacts.filter(a => a.kind === 'inherited');
  const body = h(
    'div',
    { class: cls(look, 'task-body') },
    task.error ? errorNode(task.error, look) : null,
    artifactTable(own, 'no artifacts of its own', look),
    inherited.length
      ? h(
          'details',
          {},
          h('summary', {}, `${inherited.length} artifact(s) from earlier steps`),
          artifactTable(inherited, '', look)
        )
      : null,
    readsNode(task.reads, look),
    logNode('stdout', task.stdout, look),
    logNode('stderr', task.stderr, look),
    (task.displays || []).map(shown => displayNode(shown, look)),
    task.displays_left_out ? note(look, `${task.displays_left_out} more outputs left out`) : null
  );
  return h(
    'details',
    { class: cls(look, 'task'), 'data-testid': look.testid('task', task.id), open },
    h('summary', {}, facts),
    body
  );
}

function shortPreview(preview: unknown): string {
  if (!preview || typeof preview !== 'object') {
    return cellText(preview ?? '');
  }
  const p = preview as Preview;
  if ('columns' in p) {
    return `DataFrame ${shapeText(p.shape)}`;
  }
  if ('shape' in p) {
    return `${p.type ?? ''} ${shapeText(p.shape)}`;
  }
  return String(p.repr ?? formatValue(p.value));
}

function artifactTable(artifacts: ArtifactView[], empty: string, look: Look): HTMLElement | null {
  if (!artifacts.length) {
    return empty ? note(look, empty) : null;
  }
  return h(
    'table',
    { class: cls(look, 'artifacts') },
    h(
      'tbody',
      {},
      artifacts.map(a =>
        h(
          'tr',
          { 'data-testid': look.testid('artifact', a.name) },
          h('th', { title: a.name }, a.name),
          typeCell(String(a.type_name ?? '').replace(/^builtins\./, ''), look),
          h('td', {}, renderPreview(a.preview, look))
        )
      )
    )
  );
}

/** A type name, never broken: cut where the column is narrow, whole in its tooltip. */
function typeCell(name: string, look: Look): HTMLElement {
  return h('td', { class: cls(look, 'dim', 'type'), title: name }, name);
}

/** The files the task read, one line each: path (cut from the left when long, whole in its
 * tooltip), size and the start of the content hash. */
function readsNode(reads: FileRead[] | undefined, look: Look): HTMLElement | null {
  if (!Array.isArray(reads) || !reads.length) {
    return null;
  }
  const left = reads.length - READS_SHOWN;
  return h(
    'div',
    { class: cls(look, 'reads'), 'data-testid': look.testid('task-reads') },
    h('div', { class: cls(look, 'label') }, 'files read'),
    h(
      'ul',
      {},
      reads.slice(0, READS_SHOWN).map(read => readLine(read, look))
    ),
    left > 0 ? note(look, `… ${left.toLocaleString()} more files`) : null
  );
}

function readLine(read: FileRead, look: Look): HTMLElement {
  const path = String(read.path ?? '');
  const hash = String(read.hash ?? '');
  return h(
    'li',
    { 'data-testid': look.testid('task-read') },
    // Right-to-left, so the ellipsis of a path too long for the panel eats its start and
    // the file name stays in view; the <bdi> keeps the path's own characters in order.
    h('code', { class: cls(look, 'read-path'), title: path }, h('bdi', {}, path)),
    h('span', { class: cls(look, 'dim', 'num') }, formatSize(read.size)),
    h('code', { class: cls(look, 'dim'), title: `xxh3-128 ${hash}` }, hash.slice(0, 12))
  );
}

function errorNode(error: NonNullable<TaskView['error']>, look: Look): HTMLElement {
  // An error is an object; a string (from a record older than error objects) is its value.
  const data: Partial<TaskError> =
    typeof error === 'object' && error ? error : { evalue: String(error) };
  const line = `${data.ename || 'Error'}: ${data.evalue ?? ''}`.split('\n')[0];
  return h(
    'div',
    { class: cls(look, 'error'), 'data-testid': look.testid('task-error') },
    h('strong', {}, line),
    data.traceback
      ? clipped(look, 'pre', {}, String(data.traceback).replace(ANSI, ''), 20000)
      : null
  );
}

function logNode(name: string, text: string | undefined, look: Look): HTMLElement | null {
  if (!text) {
    return null;
  }
  return h(
    'div',
    { class: cls(look, 'log') },
    h('div', { class: cls(look, 'label') }, name),
    clipped(
      look,
      'pre',
      { 'data-testid': look.testid(name) },
      String(text).replace(ANSI, ''),
      20000
    )
  );
}

/** One stored MIME bundle: an image as an <img>, anything else as text. Stored HTML is shown
 * as its text/plain alternative or, when there is none, as its source. */
function displayNode(shown: Display, look: Look): HTMLElement {
  // nbflow.widgets.tasks made each entry one string; anything else is not shown.
  const data: Record<string, string> = {};
  for (const [mime, value] of Object.entries((shown && shown.data) || {})) {
    if (typeof value === 'string') {
      data[mime] = value;
    }
  }
  const notes = ((shown && shown.notes) || []).map(text => note(look, text));
  const output = cls(look, 'output');
  for (const mime of IMAGE_TYPES) {
    if (mime in data) {
      return h(
        'div',
        { class: output },
        imageNode(mime, data[mime], data['text/plain'], look),
        notes
      );
    }
  }
  const plain = data['text/plain'];
  if ('text/html' in data && (!plain || /^<[\w.]+ object( at 0x[0-9a-f]+)?>$/.test(plain.trim()))) {
    return h(
      'div',
      { class: output },
      h('div', { class: cls(look, 'label') }, 'HTML output, shown as its source'),
      clipped(look, 'pre', {}, data['text/html']),
      notes
    );
  }
  for (const mime of TEXT_TYPES) {
    if (mime in data) {
      return h('div', { class: output }, clipped(look, 'pre', {}, data[mime]), notes);
    }
  }
  return h(
    'div',
    { class: output },
    notes.length ? notes : note(look, `kinds not shown: ${Object.keys(data).join(', ')}`)
  );
}

function imageNode(mime: string, value: unknown, alt: unknown, look: Look): HTMLElement {
  let encoded = String(value);
  if (mime === 'image/svg+xml') {
    encoded = base64Utf8(encoded); // an <img>: no script in it runs
  }
  encoded = encoded.replace(/\s+/g, '');
  if (!BASE64.test(encoded)) {
    return note(look, 'image data is not base64; left out');
  }
  return h('img', {
    src: `data:${mime};base64,${encoded}`,
    alt: alt ? String(alt) : mime,
    'data-testid': look.testid('task-image')
  });
}
