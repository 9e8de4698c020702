// A comparison of runs (built by nbflow.widgets.compare.compare_view: GET /nbflow/api/compare
// for the sidebar, the synced `comparison` for the notebook widgets) as DOM: parameters and
// scalar results side by side with differences marked, artifacts changed or not with their
// previews, the step timeline as an image and, where the look has one, a chosen result
// plotted against a chosen parameter.

import type { ArtifactRow, CompareReply, ComparedRun, ValueRow } from './views';
import { formatValue, h, svgDataUri } from './dom';
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
  const timeline = data.timeline_svg ? svgDataUri(data.timeline_svg) : data.timeline;
  return h(
    'div',
    { class: cls(look, 'compare'), 'data-testid': look.testid('compare') },
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
                renderPreview(cell.preview, look)
              ]
        )
      )
    )
  );
  return grid(runs, body, look);
}

function timelineNode(uri: string | undefined, look: Look): HTMLElement {
  // Built in Python by nbflow.render.svg.render_timeline_svg; shown as an image, so nothing in
  // it runs.
  if (typeof uri !== 'string' || !uri.startsWith('data:image/svg+xml;base64,')) {
    return note(look, 'no timeline');
  }
  return h(
    'div',
    { class: cls(look, 'wide') },
    h('img', {
      src: uri,
      alt: 'step durations of each run on one time axis',
      'data-testid': look.testid('timeline')
    })
  );
}
