// The comparison's last section in the widgets: a chosen result plotted against a chosen
// parameter, one point per run in its status's colours.

import type { ComparedRun, ValueRow } from '../views';
import { fill, formatValue, h, isNumber, note, s } from '../dom';
import { styleOf } from './status';

const PLOT = { width: 420, height: 260, left: 56, right: 16, top: 14, bottom: 40 };
const INK_DIM = '#57606a';

function numericRows(rows: ValueRow[], count: number): ValueRow[] {
  return rows.filter(
    row => row.values.filter((v, i) => row.present[i] && isNumber(v)).length >= Math.min(count, 2)
  );
}

export function plotNode(
  runs: ComparedRun[],
  params: ValueRow[],
  results: ValueRow[]
): HTMLElement {
  const xs = numericRows(params, runs.length);
  const ys = numericRows(results, runs.length);
  if (!xs.length || !ys.length) {
    return note('needs a numeric parameter and a numeric result', 'nbf');
  }
  const xSelect = h(
    'select',
    { 'data-testid': 'plot-x' },
    xs.map(row => h('option', { value: row.name }, row.name))
  );
  const ySelect = h(
    'select',
    { 'data-testid': 'plot-y' },
    ys.map(row => h('option', { value: row.name }, row.name))
  );
  const differing = xs.findIndex(row => row.differs);
  if (differing >= 0) {
    xSelect.value = xs[differing].name;
  }
  const holder = h('div', { class: 'nbf-plot' });
  const draw = () => {
    const x = xs.find(row => row.name === xSelect.value) || xs[0];
    const y = ys.find(row => row.name === ySelect.value) || ys[0];
    fill(holder, scatter(runs, x, y));
  };
  xSelect.addEventListener('change', draw);
  ySelect.addEventListener('change', draw);
  draw();
  return h(
    'div',
    {},
    h('label', {}, 'result ', ySelect),
    h('label', {}, ' against parameter ', xSelect),
    holder
  );
}

// The range of `values`, widened a little so no point sits on an axis.
function extent(values: number[]): [number, number] {
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (low === high) {
    low -= Math.abs(low) * 0.1 || 1;
    high += Math.abs(high) * 0.1 || 1;
  }
  const margin = (high - low) * 0.08;
  return [low - margin, high + margin];
}

function scatter(runs: ComparedRun[], xRow: ValueRow, yRow: ValueRow): Element {
  const points = runs
    .map((run, i) => ({
      run,
      x: xRow.values[i] as number,
      y: yRow.values[i] as number,
      ok: xRow.present[i] && yRow.present[i]
    }))
    .filter(p => p.ok && isNumber(p.x) && isNumber(p.y));
  const { width, height, left, right, top, bottom } = PLOT;
  if (!points.length) {
    return note('no run has both values', 'nbf');
  }
  const svgNode = s('svg', {
    class: 'nbf-scatter',
    'data-testid': 'compare-plot',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`
  });
  const [x0, x1] = extent(points.map(p => p.x));
  const [y0, y1] = extent(points.map(p => p.y));
  const px = (v: number) => left + ((v - x0) / (x1 - x0)) * (width - left - right);
  const py = (v: number) => height - bottom - ((v - y0) / (y1 - y0)) * (height - top - bottom);
  svgNode.append(
    s('line', {
      x1: left,
      y1: height - bottom,
      x2: width - right,
      y2: height - bottom,
      stroke: '#8c959f',
      class: 'nbf-plot-axis'
    }),
    s('line', {
      x1: left,
      y1: top,
      x2: left,
      y2: height - bottom,
      stroke: '#8c959f',
      class: 'nbf-plot-axis'
    }),
    s(
      'text',
      {
        x: (left + width - right) / 2,
        y: height - 6,
        'text-anchor': 'middle',
        'font-size': 11,
        fill: INK_DIM,
        class: 'nbf-plot-label'
      },
      xRow.name
    ),
    s(
      'text',
      {
        x: 12,
        y: (top + height - bottom) / 2,
        'text-anchor': 'middle',
        'font-size': 11,
        fill: INK_DIM,
        class: 'nbf-plot-label',
        transform: `rotate(-90 12 ${(top + height - bottom) / 2})`
      },
      yRow.name
    )
  );
  const label = (value: number) => formatValue(Number(value.toPrecision(4)));
  const ends = (values: number[]) => [...new Set([Math.min(...values), Math.max(...values)])];
  for (const value of ends(points.map(p => p.x))) {
    svgNode.append(
      s(
        'text',
        {
          x: px(value),
          y: height - bottom + 14,
          'text-anchor': 'middle',
          'font-size': 11,
          fill: INK_DIM,
          class: 'nbf-plot-label'
        },
        label(value)
      )
    );
  }
  for (const value of ends(points.map(p => p.y))) {
    svgNode.append(
      s(
        'text',
        {
          x: left - 4,
          y: py(value) + 3,
          'text-anchor': 'end',
          'font-size': 11,
          fill: INK_DIM,
          class: 'nbf-plot-label'
        },
        label(value)
      )
    );
  }
  for (const p of points) {
    const style = styleOf(p.run.status);
    svgNode.append(
      s(
        'circle',
        {
          class: 'nbf-point',
          'data-run': p.run.id,
          cx: px(p.x),
          cy: py(p.y),
          r: 5,
          fill: style.stroke,
          stroke: style.ink
        },
        s(
          'title',
          {},
          `${p.run.id}: ${xRow.name}=${formatValue(p.x)}, ${yRow.name}=${formatValue(p.y)}`
        )
      )
    );
  }
  return svgNode;
}
