// One run as the sidebar shows it: a header (id, status, when, how long, parameters), the
// server's SVG picture of its graph inline (themed by style/base.css; at its own size, so a
// wide graph scrolls sideways instead of shrinking its text), and a compact list of its steps
// (status, duration, tasks done of total). A click on a step, in the picture or in the list,
// lists its tasks with their artifacts, logs and errors.

import * as api from './api';
import type { RunReply, StepView } from './views';
import { Child, fill, formatDuration, h, note, paramsText, whenText } from './dom';
import { graphPicture } from './picture';
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
    // A redraw of the same run (polling) keeps where the picture was scrolled to.
    const scrolled = sameRun ? this.node.querySelector('.nbflow-picture')?.scrollLeft : undefined;
    const picture = graphPicture(view.svg ?? '', {
      selected: this._openStep,
      selectedClass: 'nbflow-selected',
      testid: 'nbflow-graph',
      stepTestid: () => 'nbflow-graph-step',
      pick: name => this._open(name)
    });
    fill(
      this.node,
      header(view),
      picture
        ? h('div', { class: 'nbflow-picture', title: 'click a step to see its tasks' }, picture)
        : null,
      this._stepList(view),
      this._tasks
    );
    const box = this.node.querySelector<HTMLElement>('.nbflow-picture');
    if (box) {
      // A new run wider than the panel opens at its middle, where its roots and joins are.
      requestAnimationFrame(() => {
        box.scrollLeft = scrolled ?? (box.scrollWidth - box.clientWidth) / 2;
      });
    }
    if (this._openStep) {
      void this._loadTasks(this._openStep);
    } else {
      fill(this._tasks);
    }
  }

  /** Open the tasks of step `name`, marked in the picture and in the list. */
  private _open(name: string): void {
    this._openStep = name;
    for (const marked of Array.from(this.node.querySelectorAll('[data-step]'))) {
      const chosen = marked.getAttribute('data-step') === name;
      marked.classList.toggle(marked.tagName === 'TR' ? 'nbflow-open' : 'nbflow-selected', chosen);
    }
    void this._loadTasks(name, true);
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
      row.addEventListener('click', () => this._open(step.name));
      return row;
    });
    return h(
      'table',
      { class: 'nbflow-steps', 'data-testid': 'nbflow-steps' },
      h('tbody', {}, rows)
    );
  }

  private async _loadTasks(step: string, reveal = false): Promise<void> {
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
      if (reveal) {
        this._tasks.scrollIntoView({ block: 'nearest' });
      }
    }
  }
}

/** The run's id and status, when it started, how long it took, how many steps finished, and
 * its parameters (cut to the panel's width; the whole line is the tooltip). */
function header(view: RunReply): HTMLElement {
  const finished = view.steps.filter(s => ['done', 'cached', 'skipped'].includes(s.status));
  const params = paramsText(view.params);
  return h(
    'div',
    { class: 'nbflow-run-header', 'data-testid': 'nbflow-run-header' },
    h('strong', {}, view.id),
    ' ',
    statusBadge(view.status),
    h(
      'div',
      { class: 'nbflow-dim' },
      `${whenText(view.started_at)} · ${formatDuration(view.duration) || '-'} · ` +
        `${finished.length}/${view.steps.length} steps`
    ),
    params ? h('div', { class: 'nbflow-dim nbflow-params', title: params }, params) : null
  );
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
