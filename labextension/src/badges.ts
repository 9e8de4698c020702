// A badge on each `%%step` cell: its name and parents (read from the cell's own source), and
// the status, duration and task counts of that step in the flow's latest run, marked stale
// when the cell's code changed since (POST /nbflow/api/check), or with the error that keeps
// the steps from making a graph (unknown parent, cycle...) on the offending cell.

import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import * as api from './api';
import { badgeTitle } from './badgetitle';
import type { CheckResult, CheckStep, RunReply, StepView } from './views';
import { fill, formatDuration, h } from './dom';
import { glyph } from './status';
import { flowName, parseStepLine, StepLine } from './stepline';

const CHECK_DELAY_MS = 500; // after the last edit
const POLL_MS = 700; // the latest run, while the kernel is busy
const SETTLE_MS = 200; // idle this long: the cells that ran are done

/** What one step cell's badge says. */
interface BadgeState {
  line: StepLine;
  checked?: CheckStep;
  errors: string[];
  run?: StepView;
}

export class StepBadges implements IDisposable {
  private _flow = '';
  private _latest: RunReply | null = null;
  private _check: CheckResult | null = null;
  private _checkTimer: number | null = null;
  private _pollTimer: number | null = null;
  private _settleTimer = 0;
  private _busy = false;
  private _updates = 0;
  private _disposed = false;
  private _latestChanged = new Signal<this, RunReply | null>(this);
  private _flowChanged = new Signal<this, string>(this);

  constructor(readonly panel: NotebookPanel) {
    void panel.context.ready.then(() => {
      if (this._disposed) {
        return;
      }
      this._flow = this._computeFlow();
      this._flowChanged.emit(this._flow);
      panel.model?.contentChanged.connect(this._onEdit, this);
      panel.context.pathChanged.connect(this._onEdit, this);
      panel.sessionContext.statusChanged.connect(this._onKernelStatus, this);
      this.render();
      if (this.hasSteps()) {
        void this.update();
      }
    });
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The flow this notebook's cells make (as the kernel names it). */
  get flow(): string {
    return this._flow;
  }

  /** The flow's latest run, as last fetched (null: none yet, or not fetched). */
  get latest(): RunReply | null {
    return this._latest;
  }

  get latestChanged(): ISignal<this, RunReply | null> {
    return this._latestChanged;
  }

  get flowChanged(): ISignal<this, string> {
    return this._flowChanged;
  }

  hasSteps(): boolean {
    return this._codeCells().some(cell => parseStepLine(cell.model.sharedModel.getSource()));
  }

  /** Check the cells and fetch the latest run, then redraw every badge. */
  async update(): Promise<void> {
    const flow = this._flow;
    const seq = ++this._updates;
    const cells = this._codeCells().map(cell => ({
      id: cell.model.id,
      source: cell.model.sharedModel.getSource()
    }));
    const [checked, latest] = await Promise.all([
      api.check(flow, cells).catch(() => null),
      this._fetchLatest(flow)
    ]);
    if (this._disposed || flow !== this._flow || seq !== this._updates) {
      return; // a later update is on its way
    }
    this._check = checked;
    this._setLatest(latest);
    this.render();
  }

  /** Draw the badges from what is known now; plain cells lose theirs. */
  render(): void {
    const states = this._states();
    // A step not in the latest run yet is pending while that run goes on.
    const running = this._latest?.status === 'running';
    const runId = this._latest?.id ?? null;
    for (const cell of this.panel.content.widgets) {
      const state = states.get(cell.model.id);
      if (!cell.isPlaceholder()) {
        drawBadge(cell, state, running, runId);
      } else if (state) {
        // Not yet drawn (notebook windowing): badge it once it is.
        void cell.ready.then(() =>
          drawBadge(cell, this._states().get(cell.model.id), running, runId)
        );
      }
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._clearTimers();
    Signal.clearData(this);
  }

  private _codeCells(): Cell[] {
    return this.panel.content.widgets.filter(cell => cell.model.type === 'code');
  }

  private _computeFlow(): string {
    const sources = this._codeCells().map(cell => cell.model.sharedModel.getSource());
    return flowName(sources, this.panel.context.path);
  }

  private _states(): Map<string, BadgeState> {
    const states = new Map<string, BadgeState>();
    const runSteps = new Map((this._latest?.steps ?? []).map(step => [step.name, step]));
    const checked = new Map((this._check?.steps ?? []).map(step => [step.cell_id, step]));
    for (const cell of this._codeCells()) {
      const line = parseStepLine(cell.model.sharedModel.getSource());
      if (line) {
        const found = checked.get(cell.model.id);
        states.set(cell.model.id, {
          line,
          checked: found,
          errors: found?.error ? [found.error] : [],
          run: runSteps.get(line.name)
        });
      }
    }
    // Graph errors name their cell; one that names none goes on the first step cell.
    for (const error of this._check?.errors ?? []) {
      const target = (error.cell_id && states.get(error.cell_id)) || states.values().next().value;
      if (target && !target.errors.includes(error.message)) {
        target.errors.push(error.message);
      }
    }
    return states;
  }

  private async _fetchLatest(flow: string): Promise<RunReply | null> {
    try {
      // Until a run is known, ask how many there are first: 'latest' of a flow that has none
      // would be a 404 in the browser's console at every edit.
      const known = this._latest?.id.startsWith(`${flow}/`) ?? false;
      if (!known && !(await api.runs(flow, 1)).total) {
        return null;
      }
      return await api.run(flow, 'latest');
    } catch {
      return null; // 404: no run yet; any other failure: badges without run status
    }
  }

  private _setLatest(latest: RunReply | null): void {
    const before = this._latest;
    this._latest = latest;
    if (before?.id !== latest?.id || before?.status !== latest?.status) {
      this._latestChanged.emit(latest);
    }
  }

  private _onEdit(): void {
    const flow = this._computeFlow();
    if (flow !== this._flow) {
      this._flow = flow;
      this._latest = null;
      this._flowChanged.emit(flow);
    }
    if (this._checkTimer !== null) {
      window.clearTimeout(this._checkTimer);
    }
    this._checkTimer = window.setTimeout(() => {
      this._checkTimer = null;
      this.render(); // names and parents follow the source at once; the check follows
      if (this.hasSteps()) {
        void this.update();
      }
    }, CHECK_DELAY_MS);
  }

  private _onKernelStatus(_: unknown, status: string): void {
    const busy = status === 'busy';
    if (busy === this._busy) {
      return;
    }
    this._busy = busy;
    window.clearTimeout(this._settleTimer);
    if (!this.hasSteps()) {
      return;
    }
    if (busy) {
      if (this._pollTimer === null) {
        this._poll();
      }
    } else {
      // Idle a moment (Run All's cells go busy and idle one after another): the cells that
      // ran may be new code, so check them again, with the run's final state.
      this._settleTimer = window.setTimeout(() => {
        window.clearTimeout(this._pollTimer ?? undefined);
        this._pollTimer = null;
        void this.update();
      }, SETTLE_MS);
    }
  }

  /** While the kernel is busy: the latest run, every POLL_MS. */
  private _poll(): void {
    this._pollTimer = window.setTimeout(async () => {
      const flow = this._flow;
      const seq = this._updates;
      const latest = await this._fetchLatest(flow);
      this._pollTimer = null;
      if (this._disposed || !this._busy || flow !== this._flow || seq !== this._updates) {
        return;
      }
      this._setLatest(latest);
      this.render();
      this._poll();
    }, POLL_MS);
  }

  private _clearTimers(): void {
    for (const timer of [this._checkTimer, this._pollTimer, this._settleTimer]) {
      window.clearTimeout(timer ?? undefined);
    }
    this._checkTimer = this._pollTimer = null;
  }
}

/** Set, update or remove the badge in a cell's header. */
function drawBadge(
  cell: Cell,
  state: BadgeState | undefined,
  running: boolean,
  runId: string | null
): void {
  const header = cell.node.querySelector(':scope > .jp-CellHeader');
  let badge = header?.querySelector<HTMLElement>(':scope > .nbflow-badge') ?? null;
  if (!state || !header || cell.model.type !== 'code') {
    badge?.remove();
    header?.classList.remove('nbflow-has-badge');
    return;
  }
  if (!badge) {
    badge = h('div', { class: 'nbflow-badge', 'data-testid': 'nbflow-badge' });
    header.appendChild(badge);
    header.classList.add('nbflow-has-badge');
  }
  const { line, errors, checked } = state;
  // What the latest run did with this step; a step it never ran (`not_run`, `pending`) has no
  // status of its own there, and is never stale: stale is "its code changed since it ran".
  const ran = state.run && !['not_run', 'pending'].includes(state.run.status);
  const run = ran ? state.run : undefined;
  const stale = checked?.changed === true && !!run;
  const status = errors.length
    ? 'error'
    : stale
      ? 'stale'
      : (run?.status ?? (running ? 'pending' : 'none'));
  badge.dataset.step = line.name;
  badge.dataset.status = status;
  badge.dataset.stale = String(stale);
  const facts: (HTMLElement | null)[] = [];
  if (run && !errors.length) {
    const tasks = run.tasks;
    const finished = tasks.done + tasks.cached;
    facts.push(
      run.duration !== null ? fact(formatDuration(run.duration)) : null,
      tasks.total > 1 || line.foreach ? fact(`${finished}/${tasks.total} tasks`) : null,
      tasks.cached && status !== 'cached' ? fact(`↺ ${tasks.cached} cached`) : null,
      tasks.failed && status !== 'failed' ? fact(`✗ ${tasks.failed} failed`) : null
    );
  }
  const statusText =
    status === 'none' ? 'not run' : status === 'stale' ? `stale (was ${run?.status})` : status;
  fill(
    badge,
    h('span', { class: 'nbflow-status', 'data-status': status }, `${glyph(status)} ${statusText}`),
    h('span', { class: 'nbflow-badge-name' }, line.name || '(no name)'),
    line.after.length ? fact(`after ${line.after.join(', ')}`) : fact('root step'),
    line.foreach ? fact(`foreach ${line.foreach}`) : null,
    line.join ? fact('join') : null,
    facts,
    errors.length
      ? h(
          'div',
          { class: 'nbflow-badge-error', 'data-testid': 'nbflow-badge-error' },
          errors.join('\n')
        )
      : null
  );
  badge.title = badgeTitle(status, runId, run, errors);
}

function fact(text: string): HTMLElement {
  return h('span', { class: 'nbflow-fact' }, text);
}
