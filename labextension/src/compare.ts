// A comparison of runs (built by nbflow.widgets.compare.compare_view: GET /nbflow/api/compare
// for the sidebar, the synced `comparison` for the notebook widgets) as DOM: parameters and
// scalar results side by side with differences marked, artifacts changed or not with their
// previews (a wide one, a DataFrame say, collapsed to a line that opens on a click), the step
// timeline as an inline picture (themed by the page) and, where the look has one, a chosen
// result plotted against a chosen parameter.

import type { ArtifactRow, CompareReply, ComparedRun, ValueRow } from './views';
import { formatValue, h, inlineSvg, svgOfDataUri } from './dom';
import { cls, EXTENSION, Look, lookClipped as clipped, lookNote as note } from './look';
import { renderPreview } from './preview';

/** The sidebar gets the timeline as SVG text (`timeline_svg`), the widgets as a data: URI
 * (`timeline`). */
export type ComparisonData = Partial<CompareReply>;

export function renderComparison(data: ComparisonData, look: Look = EXTENSION): HTMLElement {
  const runs = data.runs ?? [];
  if (!runs.length) {
    return note(look, 'no runs to compare');
  }
  const params = data.params ?? [];
  const results = data.results ?? [];
  const timeline = data.timeline_svg ?? svgOfDataUri(data.timeline);
  return h(
    'div',
    { class: cls(look, 'compare'), 'data-testid': look.testid('compare') },
    look.actions ? look.actions(runs) : null,
    section('Parameters', valueTable(runs, params, 'param', 'no parameters', look), look),
    section('Results', valueTable(runs, results, 'result', 'no scalar results', look), look),
    section('Artifacts', artifactTable(runs, data.artifacts ?? [], look), look),
    section('Step durations', timelineNode(timeline, look), look),
    look.plot ? section('Plot', look.plot(runs, params, results), look) : null
  );
}

function section(title: string, content: HTMLElement, look: Look): HTMLElement {
  return h('section', { class: cls(look, 'section') }, h(look.heading, {}, title), content);
}

function header(runs: ComparedRun[], look: Look): HTMLElement {
  return h(
    'thead',
    {},
    h(
      'tr',
      {},
      h('th', {}),
      h('th', {}),
      runs.map(run => h('th', { 'data-run': run.id }, run.id, ' ', look.badge(run.status)))
    )
  );
}

function mark(differs: boolean, why: string, look: Look): HTMLElement {
  return h('td', { class: cls(look, 'mark'), title: differs ? why : '' }, differs ? '≠' : '');
}

function grid(runs: ComparedRun[], body: HTMLElement[], look: Look): HTMLElement {
  const table = h('table', { class: cls(look, 'grid') }, header(runs, look), h('tbody', {}, body));
  return look.wideTables ? h('div', { class: cls(look, 'wide') }, table) : table;
}

function valueTable(
  runs: ComparedRun[],
  rows: ValueRow[],
  kind: string,
  empty: string,
  look: Look
): HTMLElement {
  if (!rows.length) {
    return note(look, empty);
  }
  const body = rows.map(row =>
    h(
      'tr',
      {
        class: row.differs ? cls(look, 'differs') : '',
        'data-testid': look.testid(kind, row.name),
        'data-name': row.name,
        'data-differs': String(Boolean(row.differs))
      },
      mark(row.differs, 'differs between the runs', look),
      h('th', {}, row.name),
      row.values.map((value, i) =>
        clipped(look, 'td', {}, row.present[i] ? formatValue(value) : '-', 200)
      )
    )
  );
  return grid(runs, body, look);
}

function artifactTable(runs: ComparedRun[], rows: ArtifactRow[], look: Look): HTMLElement {
  if (!rows.length) {
    return note(look, 'no artifacts');
  }
  const dim = cls(look, 'dim');
  const body = rows.map(row =>
    h(
      'tr',
      {
        class: row.changed ? cls(look, 'differs') : '',
        'data-testid': look.testid('artifact-row', row.name),
        'data-name': row.name,
        'data-changed': String(Boolean(row.changed))
      },
      mark(row.changed, 'content changed between the runs', look),
      h('th', {}, row.name, h('div', { class: dim }, row.changed ? 'changed' : 'same content')),
      row.cells.map(cell =>
        h(
          'td',
          {},
          cell.key === null
            ? h('span', { class: dim }, '-')
            : [
                look.artifactKeys
                  ? h(
                      'div',
                      { class: dim, title: cell.key },
                      `key ${String(cell.key).slice(0, 10)}`
                    )
                  : null,
                collapsed(cell.preview, look)
              ]
        )
      )
    )
  );
  return grid(runs, body, look);
}

/** A preview that takes more than a line (a table, an array, long text) as its one-line
 * summary that opens on a click; a short one as it is. */
function collapsed(preview: unknown, look: Look): HTMLElement {
  const summary = summaryOf(preview);
  if (summary === null) {
    return renderPreview(preview, look);
  }
  return h(
    'details',
    { class: cls(look, 'collapsed') },
    h('summary', { title: 'show the preview' }, summary),
    renderPreview(preview, look)
  );
}

const ONE_LINE = 60; // characters of text shown without collapsing

function summaryOf(preview: unknown): string | null {
  if (preview === null || typeof preview !== 'object') {
    const text = String(preview ?? '');
    return text.length > ONE_LINE || text.includes('\n') ? `${text.slice(0, ONE_LINE)}…` : null;
  }
  const p = preview as Record<string, unknown>;
  const shape = Array.isArray(p.shape) ? p.shape.join(' × ') : '';
  if (Array.isArray(p.columns)) {
    return `DataFrame ${shape}`;
  }
  if (Array.isArray(p.index)) {
    return `Series ${shape}`;
  }
  if (Array.isArray(p.values)) {
    return `array ${shape} ${String(p.dtype ?? '')}`.trim();
  }
  const text = String(p.repr ?? (p.value !== undefined ? formatValue(p.value) : ''));
  if (text.length > ONE_LINE || text.includes('\n')) {
    return `${text.split('\n')[0].slice(0, ONE_LINE)}…`;
  }
  return null;
}

function timelineNode(svg: string, look: Look): HTMLElement {
  // Built in Python by nbflow.render.svg.render_timeline_svg; drawn at its own size, so its
  // 11 px labels stay 11 px and a narrow view scrolls it sideways.
  const picture = inlineSvg(svg);
  if (!picture) {
    return note(look, 'no timeline');
  }
  picture.setAttribute('data-testid', look.testid('timeline'));
  picture.setAttribute('role', 'img');
  picture.setAttribute('aria-label', 'step durations of each run on one time axis');
  return h('div', { class: cls(look, 'wide', 'timeline') }, picture);
}
