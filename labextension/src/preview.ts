// Stored artifact previews and tasks as DOM nodes, following nbflow/widgets/static/preview.js:
// a DataFrame's head as a table, an array's shape, dtype and first values, anything else as
// text. Previews are plain data made when the artifact was stored; no HTML in them is ever
// rendered (a name or value holding `<script>` shows as those characters).

import { Artifact, TaskView } from './api';
import { cellText, clipped, formatDuration, formatValue, h, note } from './dom';
import { statusBadge } from './status';

const TABLE_ROWS = 20;
const TABLE_COLUMNS = 30;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

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

/** One task: status, duration, its own artifacts with previews, logs and error. */
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
