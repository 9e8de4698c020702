// RunBrowser (nbflow.widgets.browser): every run in a table (one column per parameter and per
// scalar result), sorted by a click on a column, filtered by text; selected runs are compared
// below the table (../compare.ts). Results not sent up front are asked for when their rows
// scroll into view.

import type { Comparison, RunRow } from '../views';
import { renderComparison } from '../compare';
import { cellText, clipped, fill, formatDuration, formatValue, h, whenText } from '../dom';
import { listen, RenderProps, WIDGET } from './look';
import { badge, paintStatuses } from './status';

/** A run as the browser lists it: `results` null until they are read (on scroll). */
type Row = RunRow;
type Results = Map<string, Record<string, unknown>>;
type Traits = { runs: Row[]; selected: string[]; comparison: Partial<Comparison> };
/** What Python sends (nbflow.widgets.browser). */
type Message =
  | { type: 'results'; results: Record<string, Record<string, unknown>> }
  | { type: 'compared' }
  | { type: 'error'; message: string };
type Column = { key: string; label: string; group?: string };

const FIXED_COLUMNS: Column[] = [
  { key: 'run', label: 'run' },
  { key: 'status', label: 'status' },
  { key: 'started', label: 'started' },
  { key: 'duration', label: 'duration' }
];

function namesOf(objects: unknown[]): string[] {
  const names = new Set<string>();
  for (const object of objects) {
    for (const name of Object.keys(object || {})) {
      names.add(name);
    }
  }
  return [...names];
}

function sortValue(row: Row, results: Results, key: string): unknown {
  if (key === 'run') {
    return row.run_id;
  }
  if (key === 'status') {
    return row.status;
  }
  if (key === 'started') {
    return row.started_at;
  }
  if (key === 'duration') {
    return row.duration;
  }
  if (key === 'tags') {
    return (row.tags || []).join(', ');
  }
  const [kind, name] = [key.slice(0, 2), key.slice(2)];
  const source: Record<string, unknown> =
    kind === 'p:' ? row.params || {} : results.get(row.id) || {};
  return name in source ? source[name] : undefined;
}

function missing(value: unknown): number {
  return value === undefined || value === null ? 1 : 0;
}

function compareValues(a: unknown, b: unknown): number {
  if (missing(a) || missing(b)) {
    return missing(a) - missing(b); // missing values last
  }
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  return cellText(a).localeCompare(cellText(b), undefined, { numeric: true });
}

function searchText(row: Row, results: Record<string, unknown> | undefined): string {
  const pairs = (values: Record<string, unknown> | undefined) =>
    Object.entries(values || {}).map(([k, v]) => `${k}=${cellText(v)}`);
  return [row.id, row.status, ...pairs(row.params), ...(row.tags || []), ...pairs(results)]
    .join(' ')
    .toLowerCase();
}

function render({ model, el }: RenderProps<Traits>): () => void {
  const results: Results = new Map(); // run id -> its scalar results, once known
  const requested = new Set<string>();
  let selected = new Set<string>(model.get('selected') || []);
  let sort = { key: 'run', descending: true };
  let rows: Row[] = [];
  let columns: Column[] = [];
  let trs = new Map<string, HTMLElement>();

  const filter = h('input', {
    type: 'search',
    placeholder: 'filter runs (id, status, name=value, tag)',
    'data-testid': 'run-filter',
    'aria-label': 'filter runs'
  });
  const count = h('span', { class: 'nbf-dim', 'data-testid': 'run-count' });
  const compareButton = h(
    'button',
    { type: 'button', 'data-testid': 'compare-button', disabled: true },
    'Compare'
  );
  const refreshButton = h(
    'button',
    { type: 'button', 'data-testid': 'refresh-button', title: 'list the runs again' },
    '↻'
  );
  const status = h('span', { class: 'nbf-dim', 'data-testid': 'browser-status' });
  const thead = h('thead');
  const tbody = h('tbody');
  const scroller = h(
    'div',
    { class: 'nbf-scroll' },
    h('table', { class: 'nbf-grid nbf-runs', 'data-testid': 'run-table' }, thead, tbody)
  );
  const compareHolder = h('div', { 'data-testid': 'compare-holder' });
  el.append(
    h(
      'div',
      { class: 'nbf nbf-browser', 'data-testid': 'run-browser' },
      h(
        'div',
        { class: 'nbf-toolbar' },
        filter,
        ' ',
        compareButton,
        ' ',
        refreshButton,
        ' ',
        count,
        ' ',
        status
      ),
      scroller,
      compareHolder
    )
  );

  let pending: string[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | null = null;
  const observer =
    typeof IntersectionObserver === 'function'
      ? new IntersectionObserver(
          entries =>
            entries
              .filter(e => e.isIntersecting)
              .forEach(e => want((e.target as HTMLElement).dataset.run)),
          { root: scroller, rootMargin: '200px' }
        )
      : null;

  function want(id: string | undefined): void {
    if (!id || results.has(id) || requested.has(id)) {
      return;
    }
    requested.add(id);
    pending.push(id);
    if (flushTimer === null) {
      flushTimer = setTimeout(() => {
        model.send({ type: 'results', ids: pending });
        pending = [];
        flushTimer = null;
      }, 30);
    }
  }

  function load(): void {
    rows = model.get('runs') || [];
    const known = new Set(rows.map(row => row.id));
    for (const row of rows) {
      if (row.results !== null && row.results !== undefined) {
        results.set(row.id, row.results);
      }
    }
    selected = new Set([...selected].filter(id => known.has(id)));
    rebuild();
  }

  function rebuild(): void {
    const params = namesOf(rows.map(row => row.params));
    const resultNames = namesOf([...results.values()]);
    columns = [
      ...FIXED_COLUMNS,
      ...params.map(name => ({ key: `p:${name}`, label: name, group: 'param' })),
      { key: 'tags', label: 'tags' },
      ...resultNames.map(name => ({ key: `r:${name}`, label: name, group: 'result' }))
    ];
    fill(thead, headerRow());
    if (observer) {
      observer.disconnect();
    }
    trs = new Map(rows.map(row => [row.id, rowNode(row)]));
    show();
  }

  function headerRow(): HTMLElement {
    const all = h('input', {
      type: 'checkbox',
      'data-testid': 'select-all',
      'aria-label': 'select all shown runs'
    });
    all.addEventListener('change', () => {
      for (const row of visibleRows()) {
        if (all.checked) {
          selected.add(row.id);
        } else {
          selected.delete(row.id);
        }
      }
      syncSelection();
      for (const [id, tr] of trs) {
        tr.querySelector('input')!.checked = selected.has(id);
      }
    });
    const cells = columns.map(column => {
      const arrow = sort.key === column.key ? (sort.descending ? ' ▼' : ' ▲') : '';
      const th = h(
        'th',
        {
          class: column.group ? `nbf-${column.group}` : '',
          'data-testid': `col-${column.key}`,
          title: column.group ? `${column.group} ${column.label}` : ''
        },
        column.label,
        arrow
      );
      th.addEventListener('click', () => {
        sort = { key: column.key, descending: sort.key === column.key ? !sort.descending : false };
        // Sorting by a result needs every run's results, not only those scrolled past.
        if (column.group === 'result') {
          rows.forEach(row => want(row.id));
        }
        fill(thead, headerRow());
        show();
      });
      return th;
    });
    return h('tr', {}, h('th', {}, all), cells);
  }

  function rowNode(row: Row): HTMLElement {
    const box = h('input', {
      type: 'checkbox',
      'data-testid': `select-${row.id}`,
      'aria-label': `select run ${row.id}`
    });
    box.checked = selected.has(row.id);
    box.addEventListener('change', () => {
      if (box.checked) {
        selected.add(row.id);
      } else {
        selected.delete(row.id);
      }
      syncSelection();
    });
    const found = results.get(row.id);
    const cells = columns.map(column => {
      if (column.key === 'run') {
        return h('td', {}, row.id);
      }
      if (column.key === 'status') {
        return h('td', {}, badge(row.status));
      }
      if (column.key === 'started') {
        return h('td', { class: 'nbf-num' }, whenText(row.started_at));
      }
      if (column.key === 'duration') {
        return h('td', { class: 'nbf-num' }, formatDuration(row.duration) || '-');
      }
      if (column.key === 'tags') {
        return h('td', {}, (row.tags || []).join(', '));
      }
      if (column.group === 'result' && found === undefined) {
        return h('td', { class: 'nbf-dim' }, '…');
      }
      const value = sortValue(row, results, column.key);
      return clipped(
        'td',
        { class: typeof value === 'number' ? 'nbf-num' : '' },
        value === undefined ? '' : formatValue(value),
        60,
        'nbf-cut'
      );
    });
    return h(
      'tr',
      { 'data-testid': `run-${row.id}`, 'data-run': row.id, 'data-status': row.status },
      h('td', {}, box),
      cells
    );
  }

  function visibleRows(): Row[] {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = words.length
      ? rows.filter(row => words.every(w => searchText(row, results.get(row.id)).includes(w)))
      : [...rows];
    const direction = sort.descending ? -1 : 1;
    return shown
      .map((row, at) => ({ row, at, value: sortValue(row, results, sort.key) }))
      .sort((a, b) => {
        const last = missing(a.value) - missing(b.value);
        return last || direction * compareValues(a.value, b.value) || a.at - b.at;
      })
      .map(entry => entry.row);
  }

  function show(): void {
    const shown = visibleRows();
    fill(
      tbody,
      shown.map(row => trs.get(row.id))
    );
    count.textContent = `${shown.length.toLocaleString()} of ${rows.length.toLocaleString()} runs`;
    for (const row of shown) {
      if (results.has(row.id) || requested.has(row.id)) {
        continue;
      }
      if (observer) {
        observer.observe(trs.get(row.id)!);
      } else {
        want(row.id);
      }
    }
    updateButton();
  }

  function syncSelection(): void {
    model.set(
      'selected',
      rows.filter(row => selected.has(row.id)).map(row => row.id)
    );
    model.save_changes();
    updateButton();
  }

  function updateButton(): void {
    compareButton.disabled = selected.size < 2;
    compareButton.textContent = selected.size ? `Compare ${selected.size}` : 'Compare';
  }

  compareButton.addEventListener('click', () => {
    status.textContent = 'comparing…';
    model.send({
      type: 'compare',
      ids: rows.filter(row => selected.has(row.id)).map(row => row.id)
    });
  });
  refreshButton.addEventListener('click', () => model.send({ type: 'refresh' }));
  let filterTimer: ReturnType<typeof setTimeout> | undefined;
  filter.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(show, 80);
  });

  function onMessage(message: Message | null): void {
    if (!message) {
      return;
    }
    if (message.type === 'error') {
      status.textContent = String(message.message);
    }
    if (message.type === 'compared') {
      status.textContent = '';
    }
    if (message.type !== 'results') {
      return;
    }
    for (const [id, found] of Object.entries(message.results || {})) {
      results.set(id, found || {});
    }
    rebuild();
  }

  function drawComparison(): void {
    const data = model.get('comparison') || {};
    status.textContent = '';
    fill(compareHolder, data.runs && data.runs.length ? renderComparison(data, WIDGET) : null);
    paintStatuses(compareHolder);
  }

  load();
  drawComparison();
  const stop = listen(model, {
    'change:runs': load,
    'change:comparison': drawComparison,
    'msg:custom': onMessage
  });
  return () => {
    stop();
    if (observer) {
      observer.disconnect();
    }
    if (flushTimer !== null) {
      clearTimeout(flushTimer);
    }
    clearTimeout(filterTimer);
  };
}

export default { render };
