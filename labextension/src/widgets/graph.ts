// GraphWidget (nbflow.widgets.graph): the run's graph drawn from `view` (the run view) and
// `layout` (box and edge coordinates computed in Python), as nbflow.render.svg draws it; a click
// on a step asks Python for its tasks and shows them (../preview.ts) in the side panel.

import type { RunView, StepTasks, StepView, TaskCounts } from '../api';
import { fill, formatDuration, h, isNumber, note, s, whenText } from '../dom';
import { renderTaskDetails, TaskDetails } from '../preview';
import { listen, RenderProps, WIDGET } from './look';
import { badge, styleOf } from './status';

const PAD = 16;
const FAN = 8; // how far the stacked outlines behind a foreach step reach
const ARROW = 8;
const EDGE_COLOUR = '#6e7781';
const INK = '#1f2328';

type Counts = Record<'total' | 'done' | 'failed' | 'running' | 'skipped' | 'cached', number>;
type Step = StepView;
type View = Omit<RunView, 'svg'>; // nbflow.query.views.run_view
type Box = { name: string; x: number; y: number; width: number; height: number };
type Edge = { source: string; target: string; points: number[][] };
/** nbflow.render.layout's Layout.as_dict(). */
type Layout = { boxes: Box[]; edges: Edge[]; width: number; height: number };
/** Python's answer to a click on a step (nbflow.widgets.graph). */
type StepMessage =
  (StepTasks & { type: 'tasks' }) | { type: 'error'; step: string; message: string };
type Traits = { view: View; layout: Layout };

function fit(text: string, width: number, charWidth: number): string {
  const room = Math.max(Math.floor(width / charWidth), 1);
  return text.length <= room ? text : `${text.slice(0, room - 1)}…`;
}

function num(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function edgeNode(edge: Edge): Element | null {
  const points = edge.points.map(p => [p[0], p[1]]);
  if (points.length < 2) {
    return null;
  }
  const [xEnd, yEnd] = points[points.length - 1];
  const [xBefore, yBefore] = points[points.length - 2];
  const length = Math.hypot(xEnd - xBefore, yEnd - yBefore) || 1;
  points[points.length - 1] = [xEnd, yEnd - Math.min(ARROW, length)];
  const path = [`M${num(points[0][0])},${num(points[0][1])}`];
  for (let i = 1; i < points.length; i++) {
    const [x1, y1] = points[i - 1];
    const [x2, y2] = points[i];
    if (x1 === x2) {
      path.push(`L${num(x2)},${num(y2)}`);
    } else {
      const middle = (y1 + y2) / 2;
      path.push(`C${num(x1)},${num(middle)} ${num(x2)},${num(middle)} ${num(x2)},${num(y2)}`);
    }
  }
  const top = num(yEnd - ARROW);
  const head = `${num(xEnd - 4.5)},${top} ${num(xEnd + 4.5)},${top} ${num(xEnd)},${num(yEnd)}`;
  return s(
    'g',
    { class: 'nbf-edge', 'data-source': edge.source, 'data-target': edge.target },
    s('path', { d: path.join(' ') }),
    s('polygon', { points: head, fill: EDGE_COLOUR, stroke: 'none' })
  );
}

function counts(step: Step): Counts {
  const given: Partial<TaskCounts> = step.tasks && typeof step.tasks === 'object' ? step.tasks : {};
  const out = {} as Counts;
  for (const key of ['total', 'done', 'failed', 'running', 'skipped', 'cached'] as const) {
    const value = given[key];
    out[key] = isNumber(value) ? Math.max(Math.floor(value), 0) : 0;
  }
  return out;
}

function hoverText(step: Step, status: string, duration: string, tasks: Counts): string {
  const lines = [step.name, `status: ${status}`];
  if (duration) {
    lines.push(`duration: ${duration}`);
  }
  if (step.foreach) {
    lines.push(`foreach over ${step.foreach}`);
  }
  const env = Array.isArray(step.env) ? step.env.join(' ') : '';
  if (env || step.python) {
    const python = step.python ? ` (python ${step.python})` : '';
    lines.push(`environment: ${env || 'the flow’s'}${python}`);
  }
  const kinds = ['done', 'failed', 'running', 'skipped', 'cached'] as const;
  const parts = kinds.map(k => `${tasks[k]} ${k}`);
  lines.push(`tasks: ${tasks.total} (${parts.join(', ')})`);
  return lines.join('\n');
}

function progressNodes(tasks: Counts, width: number): Element[] {
  const finished = tasks.done + tasks.cached;
  const bar = width - 24 - 56;
  const nodes = [
    s(
      'text',
      {
        class: 'nbf-count',
        x: num(width - 12),
        y: 57,
        'font-size': 11,
        'text-anchor': 'end',
        fill: INK
      },
      tasks.total ? `${finished}/${tasks.total}` : `${finished}/?`
    ),
    s('rect', { x: 12, y: 50, width: num(bar), height: 5, rx: 2.5, fill: '#d0d7de' })
  ];
  let start = 12;
  const shares: [number, string][] = [
    [finished, 'done'],
    [tasks.failed, 'failed'],
    [tasks.running, 'running']
  ];
  for (const [share, status] of shares) {
    let length = tasks.total ? bar * Math.min(share / tasks.total, 1) : 0;
    length = Math.min(length, 12 + bar - start);
    if (length > 0) {
      nodes.push(
        s('rect', {
          class: 'nbf-progress',
          'data-status': status,
          x: num(start),
          y: 50,
          width: num(length),
          height: 5,
          fill: styleOf(status).stroke
        })
      );
      start += length;
    }
  }
  return nodes;
}

function stepNode(step: Step, box: Box, selected: boolean, pick: (name: string) => void): Element {
  const status: string = step.status || 'pending';
  const style = styleOf(status);
  const tasks = counts(step);
  const fanOut = tasks.total > 1 || Boolean(step.foreach);
  const duration = formatDuration(step.duration);
  const outline = {
    fill: style.fill,
    stroke: style.stroke,
    'stroke-dasharray': style.dash || null
  };
  const g = s('g', {
    class: `nbf-step${selected ? ' nbf-selected' : ''}`,
    'data-testid': `step-${box.name}`,
    'data-step': box.name,
    'data-status': status,
    transform: `translate(${num(box.x)} ${num(box.y)})`,
    tabindex: 0,
    role: 'button',
    'aria-label': `step ${box.name}: ${status}`,
    onclick: () => pick(box.name),
    onkeydown: (event: KeyboardEvent) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        pick(box.name);
      }
    }
  });
  g.append(s('title', {}, hoverText(step, status, duration, tasks)));
  if (fanOut) {
    for (const offset of [FAN, FAN / 2]) {
      g.append(
        s('rect', {
          class: 'nbf-fan',
          x: offset,
          y: offset,
          width: num(box.width),
          height: num(box.height),
          rx: 8,
          ...outline,
          'stroke-width': 1,
          opacity: 0.7
        })
      );
    }
  }
  g.append(
    s('rect', {
      class: 'nbf-box',
      width: num(box.width),
      height: num(box.height),
      rx: 8,
      ...outline,
      'stroke-width': status === 'failed' ? 2.5 : 1.5
    }),
    s(
      'text',
      { x: 12, y: 21, 'font-size': 13, 'font-weight': 600, fill: INK },
      fit(box.name, box.width - 24, 7.4)
    ),
    s(
      'text',
      { class: 'nbf-status', x: 12, y: 39, 'font-size': 11, fill: style.ink },
      `${style.glyph} ${fit(status, box.width / 2 - 12, 6.2)}`
    )
  );
  if (duration) {
    g.append(
      s(
        'text',
        {
          class: 'nbf-duration',
          x: num(box.width - 12),
          y: 39,
          'font-size': 11,
          'text-anchor': 'end',
          fill: INK
        },
        duration
      )
    );
  }
  if (fanOut) {
    g.append(...progressNodes(tasks, box.width));
  }
  return g;
}

function graphNode(
  view: Partial<View>,
  layout: Partial<Layout>,
  selected: string | null,
  pick: (name: string) => void
): Element {
  const width = (layout.width || 0) + FAN + 2 * PAD;
  const height = (layout.height || 0) + FAN + 2 * PAD;
  const root = s('svg', {
    class: 'nbf-graph-svg',
    'data-testid': 'graph-svg',
    width: num(width),
    height: num(height),
    viewBox: `0 0 ${num(width)} ${num(height)}`
  });
  const inner = s('g', { transform: `translate(${PAD} ${PAD})` });
  const edges = s('g', {
    class: 'nbf-edges',
    fill: 'none',
    stroke: EDGE_COLOUR,
    'stroke-width': 1.5
  });
  for (const edge of layout.edges || []) {
    const node = edgeNode(edge);
    if (node) {
      edges.append(node);
    }
  }
  inner.append(edges);
  const boxes = new Map((layout.boxes || []).map(box => [box.name, box]));
  const drawn = new Set<string>();
  for (const step of view.steps || []) {
    const box = boxes.get(step.name);
    if (!box || drawn.has(step.name)) {
      continue;
    }
    drawn.add(step.name);
    inner.append(stepNode(step, box, step.name === selected, pick));
  }
  root.append(inner);
  if (!drawn.size) {
    root.append(s('text', { x: PAD, y: PAD + 12, fill: INK }, 'no steps yet'));
  }
  return root;
}

function headerNode(view: Partial<View>): HTMLElement {
  const facts = [];
  if (isNumber(view.duration)) {
    facts.push(formatDuration(view.duration));
  }
  if (isNumber(view.started_at)) {
    facts.push(`started ${whenText(view.started_at)}`);
  }
  return h(
    'div',
    { class: 'nbf-header', 'data-testid': 'graph-header' },
    h('strong', {}, `run ${view.id ?? ''}`),
    ' ',
    badge(view.status || 'running'),
    h('span', { class: 'nbf-dim' }, ` ${facts.join(' · ')}`)
  );
}

function findStep(view: Partial<View> | undefined, name: string | null): Step | undefined {
  return (view?.steps || []).find(candidate => candidate.name === name);
}

function stepSignature(view: Partial<View>, name: string): string {
  const step = findStep(view, name);
  return step ? JSON.stringify([step.status, step.tasks, step.finished_at]) : '';
}

function render({ model, el }: RenderProps<Traits>): () => void {
  let selected: string | null = null;
  let shownFor = '';
  const header = h('div');
  const canvas = h('div', { class: 'nbf-canvas' });
  const panel = h(
    'aside',
    { class: 'nbf-panel', 'data-testid': 'step-panel' },
    note('Click a step to see its tasks, artifacts and logs.', 'nbf')
  );
  el.append(
    h(
      'div',
      { class: 'nbf nbf-graph', 'data-testid': 'graph' },
      header,
      h('div', { class: 'nbf-graph-body' }, canvas, panel)
    )
  );

  function request(name: string): void {
    shownFor = stepSignature(model.get('view') || {}, name);
    model.send({ type: 'step', name });
  }

  function pick(name: string): void {
    selected = name;
    const step = findStep(model.get('view'), name);
    fill(
      panel,
      h('h3', {}, name, ' ', badge(step?.status || 'pending')),
      h('p', { class: 'nbf-note', 'data-testid': 'panel-loading' }, 'loading…')
    );
    request(name);
    draw();
  }

  function draw(): void {
    const view = model.get('view') || {};
    fill(header, headerNode(view));
    fill(canvas, graphNode(view, model.get('layout') || {}, selected, pick));
    // A live run: the open step changed (more tasks finished), so ask for it again; the
    // panel keeps its content until the answer comes.
    if (selected !== null && stepSignature(view, selected) !== shownFor) {
      request(selected);
    }
  }

  function onMessage(message: StepMessage | null): void {
    if (!message || message.step !== selected) {
      return;
    }
    const step = findStep(model.get('view'), selected);
    const title = h('h3', {}, selected, ' ', badge(step?.status || 'pending'));
    if (message.type === 'error') {
      fill(panel, title, h('div', { class: 'nbf-error' }, String(message.message)));
      return;
    }
    const tasks = ((message.tasks || []) as TaskDetails[]).map((task, i) =>
      renderTaskDetails(task, i === 0 || task.status === 'failed', WIDGET)
    );
    const summary = `${message.total} task${message.total === 1 ? '' : 's'}`;
    fill(
      panel,
      title,
      h('div', { class: 'nbf-dim' }, summary),
      message.note ? note(message.note, 'nbf') : null,
      tasks
    );
  }

  draw();
  return listen(model, { 'change:view': draw, 'change:layout': draw, 'msg:custom': onMessage });
}

export default { render };
