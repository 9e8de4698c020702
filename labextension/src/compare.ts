// A comparison of runs (GET /nbflow/api/compare, built by nbflow.widgets.compare.compare_view)
// as DOM, following nbflow/widgets/static/compare.js: parameters and scalar results side by
// side with differences marked, artifacts changed or not with their previews, and the step
// timeline as an image.

import { ArtifactRow, Comparison, Run, ValueRow } from './api';
import { clipped, formatValue, h, note, svgDataUri } from './dom';
import { renderPreview } from './preview';
import { statusBadge } from './status';

export function renderComparison(data: Comparison): HTMLElement {
  const runs = data.runs ?? [];
  if (!runs.length) {
    return note('no runs to compare');
  }
  return h(
    'div',
    { class: 'nbflow-compare', 'data-testid': 'nbflow-compare' },
    section('Parameters', valueTable(runs, data.params ?? [], 'param', 'no parameters')),
    section('Results', valueTable(runs, data.results ?? [], 'result', 'no scalar results')),
    section('Artifacts', artifactTable(runs, data.artifacts ?? [])),
    section('Step durations', timeline(data.timeline_svg))
  );
}

function section(title: string, content: HTMLElement): HTMLElement {
  return h('section', { class: 'nbflow-section' }, h('h3', {}, title), content);
}

function header(runs: Run[]): HTMLElement {
  return h(
    'thead',
    {},
    h(
      'tr',
      {},
      h('th', {}),
      h('th', {}),
      runs.map(run => h('th', { 'data-run': run.id }, run.id, ' ', statusBadge(run.status)))
    )
  );
}

function mark(differs: boolean, why: string): HTMLElement {
  return h('td', { class: 'nbflow-mark', title: differs ? why : '' }, differs ? '≠' : '');
}

function valueTable(runs: Run[], rows: ValueRow[], kind: string, empty: string): HTMLElement {
  if (!rows.length) {
    return note(empty);
  }
  return h(
    'div',
    { class: 'nbflow-wide' },
    h(
      'table',
      { class: 'nbflow-grid' },
      header(runs),
      h(
        'tbody',
        {},
        rows.map(row =>
          h(
            'tr',
            {
              class: row.differs ? 'nbflow-differs' : '',
              'data-testid': `nbflow-${kind}`,
              'data-name': row.name,
              'data-differs': String(Boolean(row.differs))
            },
            mark(row.differs, 'differs between the runs'),
            h('th', {}, row.name),
            row.values.map((value, i) =>
              clipped('td', {}, row.present[i] ? formatValue(value) : '-', 200)
            )
          )
        )
      )
    )
  );
}

function artifactTable(runs: Run[], rows: ArtifactRow[]): HTMLElement {
  if (!rows.length) {
    return note('no artifacts');
  }
  return h(
    'div',
    { class: 'nbflow-wide' },
    h(
      'table',
      { class: 'nbflow-grid' },
      header(runs),
      h(
        'tbody',
        {},
        rows.map(row =>
          h(
            'tr',
            {
              class: row.changed ? 'nbflow-differs' : '',
              'data-testid': 'nbflow-artifact-row',
              'data-name': row.name,
              'data-changed': String(Boolean(row.changed))
            },
            mark(row.changed, 'content changed between the runs'),
            h(
              'th',
              {},
              row.name,
              h('div', { class: 'nbflow-dim' }, row.changed ? 'changed' : 'same content')
            ),
            row.cells.map(cell =>
              h(
                'td',
                {},
                cell.key === null
                  ? h('span', { class: 'nbflow-dim' }, '-')
                  : renderPreview(cell.preview)
              )
            )
          )
        )
      )
    )
  );
}

function timeline(svg: string | undefined): HTMLElement {
  if (!svg) {
    return note('no timeline');
  }
  return h(
    'div',
    { class: 'nbflow-wide' },
    h('img', {
      src: svgDataUri(svg),
      alt: 'step durations of each run on one time axis',
      'data-testid': 'nbflow-timeline'
    })
  );
}
