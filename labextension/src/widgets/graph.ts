// GraphWidget (nbflow.widgets.graph): the run's graph as Python drew it (`svg`, from
// nbflow.render.svg, the same picture as the report's and the sidebar's), with `view` (the run
// view) for the header; a click on a step asks Python for its tasks and shows them
// (../preview.ts) in the side panel.

import type { RunView, StepTasks, StepView } from '../views';
import { fill, formatDuration, h, isNumber, note, whenText } from '../dom';
import { graphPicture } from '../picture';
import { renderTaskDetails } from '../preview';
import { listen, RenderProps, WIDGET } from './look';
import { badge, paintStatuses } from './status';

type View = RunView; // nbflow.query.views.run_view
/** Python's answer to a click on a step (nbflow.widgets.graph). */
type StepMessage = StepTasks | { type: 'error'; step: string; message: string };
type Traits = { view: View; svg: string };

/** The graph as nbflow.render.svg drew it (the `svg` trait), its steps made clickable. */
function graphNode(svg: string, selected: string | null, pick: (name: string) => void): Element {
  const picture = graphPicture(svg, {
    selected,
    selectedClass: 'nbf-selected',
    testid: 'graph-svg',
    stepTestid: name => `step-${name}`,
    pick
  });
  return picture ?? h('p', { class: 'nbf-note' }, 'no steps yet');
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

function findStep(view: Partial<View> | undefined, name: string | null): StepView | undefined {
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
    fill(canvas, graphNode(model.get('svg') || '', selected, pick));
    paintStatuses(canvas);
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
    const tasks = (message.tasks || []).map((task, i) =>
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
  return listen(model, { 'change:view': draw, 'change:svg': draw, 'msg:custom': onMessage });
}

export default { render };
