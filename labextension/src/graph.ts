// One run as the sidebar shows it: the server's SVG picture of its graph as an <img> (an image:
// nothing in it runs), and a compact list of its steps (status, duration, tasks done of
// total). A click on a step lists its tasks with their artifacts, logs and errors.

import * as api from './api';
import type { RunReply, StepView } from './views';
import { Child, fill, formatDuration, h, note, paramsText, svgDataUri, whenText } from './dom';
import { renderTask } from './preview';
import { statusBadge } from './status';

export class RunGraph {
  readonly node = h('div', { class: 'nbflow-run', 'data-testid': 'nbflow-run' });
  private _openStep: string | null = null;
  private _tasks = h('div', { class: 'nbflow-tasks', 'data-testid': 'nbflow-tasks' });
  private _view: RunReply | null = null;
  private _drawn = ''; // the view last drawn, as JSON: polling an unchanged run redraws nothing

  /** Draw `view`; the step whose tasks are open stays open (and is fetched again). */
  show(view: RunReply): void {
    const json = JSON.stringify(view);
    if (json === this._drawn) {
      return;
    }
    this._drawn = json;
    const sameRun = this._view?.id === view.id;
    this._view = view;
    if (!sameRun) {
      this._openStep = null;
    }
    const finished = view.steps.filter(s => ['done', 'cached', 'skipped'].includes(s.status));
    fill(
      this.node,
      h(
        'div',
        { class: 'nbflow-run-header' },
        h('strong', {}, view.id),
        ' ',
        statusBadge(view.status),
        h(
          'div',
          { class: 'nbflow-dim' },
          `${whenText(view.started_at)} · ${formatDuration(view.duration) || '-'} · ` +
            `${finished.length}/${view.steps.length} steps`
        ),
        view.params && Object.keys(view.params).length
          ? h('div', { class: 'nbflow-dim nbflow-params' }, paramsText(view.params))
          : null
      ),
      view.svg
        ? h(
            'div',
            { class: 'nbflow-picture' },
            h('img', {
              src: svgDataUri(view.svg),
              alt: `graph of run ${view.id}`,
              'data-testid': 'nbflow-graph'
            })
          )
        : null,
      this._stepList(view),
      this._tasks
    );
    if (this._openStep) {
      void this._loadTasks(this._openStep);
    } else {
      fill(this._tasks);
    }
  }

  private _stepList(view: RunReply): HTMLElement {
    const rows = view.steps.map(step => {
      const tasks = step.tasks;
      const finished = tasks ? tasks.done + tasks.cached : 0;
      const row = h(
        'tr',
        {
          class: step.name === this._openStep ? 'nbflow-open' : '',
          'data-testid': 'nbflow-step',
          'data-step': step.name,
          'data-status': step.status,
          title: stepTitle(step)
        },
        h('td', {}, statusBadge(step.status)),
        h('th', {}, step.name),
        h('td', { class: 'nbflow-num' }, formatDuration(step.duration)),
        h('td', { class: 'nbflow-num' }, tasks && tasks.total ? `${finished}/${tasks.total}` : '')
      );
      row.addEventListener('click', () => {
        this._openStep = step.name;
        for (const other of Array.from(row.parentElement?.children ?? [])) {
          other.classList.toggle('nbflow-open', other === row);
        }
        void this._loadTasks(step.name);
      });
      return row;
    });
    return h(
      'table',
      { class: 'nbflow-steps', 'data-testid': 'nbflow-steps' },
      h('tbody', {}, rows)
    );
  }

  private async _loadTasks(step: string): Promise<void> {
    const view = this._view;
    if (!view) {
      return;
    }
    let content: Child[];
    try {
      const found = await api.stepTasks(view.flow, view.run_id, step);
      content = found.tasks.length
        ? [found.tasks.map(renderTask), found.note ? note(found.note) : null]
        : [note(found.note || 'no tasks')];
    } catch (error) {
      content = [note(`tasks of ${step}: ${(error as Error).message}`)];
    }
    if (this._view === view && this._openStep === step) {
      fill(this._tasks, h('h3', {}, `Tasks of ${step}`), content);
    }
  }
}

/** A step row's hover text: what a click does, and the step's own environment if it has one. */
function stepTitle(step: StepView): string {
  const env = (step.env ?? []).join(' ');
  if (!env && !step.python) {
    return 'show its tasks';
  }
  const python = step.python ? ` (python ${step.python})` : '';
  return `show its tasks\nenvironment: ${env || 'the flow’s'}${python}`;
}
