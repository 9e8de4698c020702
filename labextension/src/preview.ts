// Stored artifact previews and tasks as DOM nodes, following nbflow/widgets/static/preview.js:
// a DataFrame's head as a table, an array's shape, dtype and first values, anything else as
// text. Previews are plain data made when the artifact was stored; no HTML in them is ever
// rendered (a name or value holding `<script>` shows as those characters).

import { Artifact, FileRead, TaskView } from './api';
import { cellText, clipped, formatDuration, formatSize, formatValue, h, note } from './dom';
import { statusBadge } from './status';

const TABLE_ROWS = 20;
const TABLE_COLUMNS = 30;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const READS_SHOWN = 50; // files read listed per task; a note counts the rest

type Preview = Record<string, any>;

function shapeText(shape: unknown): string {
  if (!Array.isArray(shape)) {
    return '';
  }
  return shape.length ? shape.join(' × ') : 'scalar';
}

/** One stored preview as a node; never throws. */
export function renderPreview(preview: unknown): HTMLElement {
  try {
    return previewNode(preview);
  } catch (error) {
    return note(`preview could not be shown (${(error as Error)?.name})`);
  }
}

function previewNode(preview: unknown): HTMLElement {
  if (preview === null || typeof preview !== 'object') {
    return clipped('code', {}, cellText(preview ?? ''));
  }
  const p = preview as Preview;
  const box = h('div', { class: 'nbflow-preview' });
  if (Array.isArray(p.columns) && Array.isArray(p.head)) {
    box.append(frameNode(p));
  } else if ('shape' in p && Array.isArray(p.values)) {
    const values = p.values.slice(0, TABLE_ROWS).map(cellText).join(', ');
    const more = p.values.length > TABLE_ROWS || sizeOf(p.shape) > p.values.length ? ', …' : '';
    box.append(
      h('div', { class: 'nbflow-dim' }, `array ${shapeText(p.shape)} ${p.dtype ?? ''}`),
      clipped('code', {}, `[${values}${more}]`)
    );
  } else if ('value' in p) {
    box.append(clipped('code', {}, String(p.repr ?? formatValue(p.value))));
  } else if ('repr' in p) {
    box.append(clipped('code', {}, String(p.repr)));
  } else if (!p.error) {
    box.append(note('no preview'));
  }
  if (p.error) {
    box.append(note(String(p.error)));
  }
  return box;
}

function sizeOf(shape: unknown): number {
  return Array.isArray(shape) ? shape.reduce((a: number, b: number) => a * b, 1) : 0;
}

function frameNode(p: Preview): HTMLElement {
  const columns: unknown[] = p.columns.slice(0, TABLE_COLUMNS);
  const index: unknown[] = Array.isArray(p.index) ? p.index : [];
  const rows: unknown[][] = p.head.filter(Array.isArray).slice(0, TABLE_ROWS);
  return h(
    'div',
    {},
    h('div', { class: 'nbflow-dim' }, `DataFrame ${shapeText(p.shape)}`),
    h(
      'div',
      { class: 'nbflow-wide' },
      h(
        'table',
        { class: 'nbflow-frame' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}),
            columns.map(c => h('th', {}, cellText(c)))
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
              row.slice(0, TABLE_COLUMNS).map(v => clipped('td', {}, cellText(v), 200))
            )
          )
        )
      )
    )
  );
}

/** One task: status, duration, its own artifacts with previews, the files it read, logs and
 * error. */
export function renderTask(task: TaskView): HTMLElement {
  const artifacts = task.artifacts ?? [];
  const own = artifacts.filter(a => a.kind !== 'inherited');
  const item = task.item_name ? artifacts.find(a => a.name === task.item_name) : undefined;
  const facts: (Node | string)[] = [statusBadge(task.status), ' ', h('code', {}, task.id)];
  if (typeof task.duration === 'number') {
    facts.push(` · ${formatDuration(task.duration)}`);
  }
  if (item) {
    facts.push(' · item ', renderPreview(item.preview));
  }
  if (task.origin) {
    facts.push(' · reused from ', h('code', {}, task.origin));
  }
  return h(
    'div',
    { class: 'nbflow-task', 'data-testid': 'nbflow-task' },
    h('div', { class: 'nbflow-task-facts' }, facts),
    task.error ? errorNode(task.error) : null,
    artifactTable(own),
    readsNode(task.reads),
    logNode('stdout', task.stdout),
    logNode('stderr', task.stderr)
  );
}

function artifactTable(artifacts: Artifact[]): HTMLElement {
  if (!artifacts.length) {
    return note('no artifacts of its own');
  }
  return h(
    'table',
    { class: 'nbflow-artifacts' },
    h(
      'tbody',
      {},
      artifacts.map(a =>
        h(
          'tr',
          { 'data-testid': 'nbflow-artifact' },
          h('th', {}, a.name),
          h('td', { class: 'nbflow-dim' }, String(a.type_name ?? '').replace(/^builtins\./, '')),
          h('td', {}, renderPreview(a.preview))
        )
      )
    )
  );
}

/** The files the task read, one line each: path (cut from the left when long, whole in its
 * tooltip), size and the start of the content hash. */
function readsNode(reads: FileRead[] | undefined): HTMLElement | null {
  if (!Array.isArray(reads) || !reads.length) {
    return null;
  }
  const left = reads.length - READS_SHOWN;
  return h(
    'div',
    { class: 'nbflow-reads', 'data-testid': 'nbflow-task-reads' },
    h('div', { class: 'nbflow-label' }, 'files read'),
    h('ul', {}, reads.slice(0, READS_SHOWN).map(readLine)),
    left > 0 ? note(`… ${left.toLocaleString()} more files`) : null
  );
}

function readLine(read: FileRead): HTMLElement {
  const path = String(read.path ?? '');
  const hash = String(read.hash ?? '');
  return h(
    'li',
    { 'data-testid': 'nbflow-task-read' },
    // Right-to-left, so the ellipsis of a path too long for the panel eats its start and
    // the file name stays in view; the <bdi> keeps the path's own characters in order.
    h('code', { class: 'nbflow-read-path', title: path }, h('bdi', {}, path)),
    h('span', { class: 'nbflow-dim nbflow-num' }, formatSize(read.size)),
    h('code', { class: 'nbflow-dim', title: `xxh3-128 ${hash}` }, hash.slice(0, 12))
  );
}

function errorNode(error: NonNullable<TaskView['error']>): HTMLElement {
  const data = typeof error === 'object' ? error : { evalue: String(error) };
  const line = `${data.ename || 'Error'}: ${data.evalue ?? ''}`.split('\n')[0];
  return h(
    'div',
    { class: 'nbflow-error', 'data-testid': 'nbflow-task-error' },
    h('strong', {}, line),
    data.traceback ? clipped('pre', {}, String(data.traceback).replace(ANSI, ''), 20000) : null
  );
}

function logNode(name: string, text: string | undefined): HTMLElement | null {
  if (!text) {
    return null;
  }
  return h(
    'div',
    { class: 'nbflow-log' },
    h('div', { class: 'nbflow-label' }, name),
    clipped('pre', {}, text.replace(ANSI, ''), 20000)
  );
}
