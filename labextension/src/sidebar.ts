// The "nbflow" side panel: the runs of a flow (status, start, duration, parameters) read
// through the REST API, so it needs no kernel; a click on a run shows its graph, ticking two
// or more and "Compare" opens them side by side in a tab of the main area (the panel is too
// narrow for a column per run). While a kernel is busy (or a run is running) it polls the
// newest runs and redraws the shown run, so a run's graph is seen growing.

import { caretDownEmptyIcon, refreshIcon, Toolbar, ToolbarButton } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import * as api from './api';
import type { RunRow, RunsPage } from './views';
import { fill, formatDuration, h, note, paramsText, whenShort, whenText } from './dom';
import { RunGraph } from './graph';
import { statusBadge } from './status';

// Runs listed at once: the first page is drawn in a few milliseconds however many runs the
// flow has; scrolling to the end of the list (or "More runs") lists the next page.
const PAGE = 50;
const POLL_MS = 750;
const STARTING_POLL_MS = 150; // until a run just started is listed: feedback within 0.3 s
const POLL_PAGE = 20; // newest runs asked for while polling

export class RunsPanel extends Panel {
  private _flow: string | null = null;
  private _notebookFlow: string | null = null;
  private _runs: RunRow[] = [];
  private _rows = new Map<string, HTMLTableRowElement>();
  private _total = 0;
  private _selected = new Set<string>();
  private _shown: number | 'latest' | null = null; // the run whose graph is drawn
  private _kernelBusy = false;
  private _timer: number | null = null;
  private _settle = 0;
  private _listings = 0;
  private _loading: Promise<void> | null = null;
  private _queued: 'all' | 'newest' | null = null;
  private _loaded = false;
  private _generation = 0; // bumped when the flow changes: late answers are dropped
  private _graph = new RunGraph();

  private _flowSelect = h('select', {
    'aria-label': 'flow',
    title: 'the flow whose runs are listed',
    'data-testid': 'nbflow-flow'
  });
  private _status = h('span', { class: 'nbflow-dim', 'data-testid': 'nbflow-status' });
  private _compareButton = h(
    'button',
    {
      type: 'button',
      class: 'jp-mod-styled jp-mod-accept nbflow-compare-button',
      title: 'tick two runs or more, then open them side by side in a tab',
      'data-testid': 'nbflow-compare-button',
      disabled: true
    },
    'Compare'
  );
  private _tbody = h('tbody');
  private _more = h(
    'button',
    { type: 'button', class: 'jp-mod-styled', hidden: true, 'data-testid': 'nbflow-more' },
    'More runs'
  );
  private _loadingMore: Promise<void> | null = null;
  private _detail = h('div', { class: 'nbflow-detail', 'data-testid': 'nbflow-detail' });
  // followLatest: the newest run before the one being started, and whether it is listed yet
  private _before: string | null = null;
  private _starting = false;
  // Counts the runs asked for (followLatest): an idle that came before the latest ask belongs
  // to the previous run and says nothing about whether this one started.
  private _asked = 0;

  /** `openCompare` shows runs side by side (a tab of the main area, see ./comparetab.ts). */
  constructor(private _openCompare: (runs: string[]) => void) {
    super();
    this.id = 'nbflow-sidebar';
    this.addClass('nbflow-sidebar');
    this.title.caption = "nbflow: the runs of this notebook's flow";
    this._compareButton.addEventListener('click', () => this._compare());
    this._more.addEventListener('click', () => void this._loadMore());
    // The next page comes when the end of the list scrolls into view.
    new IntersectionObserver(entries => {
      if (entries.some(entry => entry.isIntersecting) && !this._more.hidden) {
        void this._loadMore();
      }
    }).observe(this._more);
    this._flowSelect.addEventListener('change', () => this._setFlow(this._flowSelect.value));
    this._tbody.addEventListener('click', event => this._onRowClick(event));
    this._tbody.addEventListener('change', event => this._onTick(event));
    this.addWidget(this._toolbar());
    const body = new Widget();
    body.addClass('nbflow-body');
    body.node.append(
      this._status,
      h(
        'div',
        { class: 'nbflow-runlist' },
        h(
          'table',
          { class: 'nbflow-runs', 'data-testid': 'nbflow-runs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['', 'run', 'status', 'started', 'duration', 'parameters'].map(label =>
                h('th', { class: label ? `nbflow-col-${label}` : null }, label)
              )
            )
          ),
          this._tbody
        ),
        this._more
      ),
      this._detail
    );
    this.addWidget(body);
  }

  /** JupyterLab's toolbar: the flow (a styled select), refresh, Compare. */
  private _toolbar(): Toolbar {
    const toolbar = new Toolbar();
    toolbar.addClass('nbflow-toolbar');
    const select = new Widget({
      node: h(
        'div',
        { class: 'jp-HTMLSelect jp-DefaultStyle nbflow-flow-select' },
        this._flowSelect,
        caretDownEmptyIcon.element({ tag: 'span', stylesheet: 'select', right: '4px', top: '4px' })
      )
    });
    const refresh = new ToolbarButton({
      icon: refreshIcon,
      tooltip: 'List the runs again',
      onClick: () => void this.refresh()
    });
    refresh.node.dataset.testid = 'nbflow-refresh';
    toolbar.addItem('flow', select);
    toolbar.addItem('refresh', refresh);
    toolbar.addItem('compare', new Widget({ node: this._compareButton }));
    return toolbar;
  }

  get flow(): string | null {
    return this._flow;
  }

  /** The flow of the notebook in front; the panel follows it. */
  setNotebookFlow(flow: string | null): void {
    if (flow === this._notebookFlow) {
      return;
    }
    this._notebookFlow = flow;
    if (flow) {
      this._setFlow(flow);
    }
  }

  /** Show the newest run from now on and redraw it as it grows (Run flow, Resume). Until the
   *  new run is listed (its first step cell may come after slow imports) the panel says it is
   *  starting, at once, and looks for it more often; never the previous run's graph. */
  followLatest(): void {
    this._shown = 'latest';
    this._before = this._runs[0]?.id ?? null;
    this._starting = true;
    this._asked += 1;
    this._markShown();
    this._graph.node.remove();
    fill(
      this._detail,
      h(
        'p',
        { class: 'nbflow-note', 'data-testid': 'nbflow-starting' },
        'Starting a run: its graph appears as its first step starts…'
      )
    );
    this._startPolling();
  }

  /** Whether the notebook in front has a busy kernel: while it does, the panel polls. */
  setKernelBusy(busy: boolean): void {
    const was = this._kernelBusy;
    this._kernelBusy = busy;
    window.clearTimeout(this._settle);
    if (busy) {
      this._startPolling();
    } else if (was) {
      // Idle: soon once more, to show how the run ended (Run All's cells go busy and idle
      // one after another, so the fetch waits a moment for the next cell).
      const asked = this._asked;
      this._settle = window.setTimeout(() => {
        if (this.isVisible) {
          void this._load('newest').then(() => this._noRunStarted(asked));
        }
      }, 200);
    }
  }

  /** The kernel went idle and no new run was listed: say so rather than "starting" forever
   *  (an error in a plain cell above every step, or no step cell at all). */
  private _noRunStarted(asked: number): void {
    if (asked !== this._asked) {
      return; // Run flow was pressed again after that idle: its kernel has yet to go busy
    }
    if (this._starting && !this._kernelBusy && this._runs[0]?.id === this._before) {
      this._starting = false;
      fill(this._detail, note('No new run started: no step cell ran.'));
    }
  }

  /** List the runs again, and the flows to choose from. */
  refresh(): Promise<void> {
    void this._loadFlows();
    return this._load('all');
  }

  /**
   * Fetch the runs: 'all' lists them afresh, 'newest' (a poll) updates the newest ones in
   * place. One fetch at a time, so an older answer never overwrites a newer one; a request
   * made meanwhile runs once the current one is done.
   */
  private _load(kind: 'all' | 'newest'): Promise<void> {
    if (this._loading) {
      this._queued = this._queued === 'all' || kind === 'all' ? 'all' : 'newest';
      return this._loading;
    }
    this._loading = this._fetch(kind).finally(() => {
      this._loading = null;
      const next = this._queued;
      this._queued = null;
      if (next) {
        void this._load(next);
      } else if (this._kernelBusy || this._runs.some(r => r.status === 'running')) {
        this._startPolling();
      }
    });
    return this._loading;
  }

  private async _fetch(kind: 'all' | 'newest'): Promise<void> {
    const flow = this._flow;
    const generation = this._generation;
    if (!flow) {
      this._status.textContent = 'open a notebook with %%step cells';
      return;
    }
    if (kind === 'all') {
      this._status.textContent = 'loading…';
    }
    try {
      const page = await api.runs(flow, kind === 'all' ? PAGE : POLL_PAGE);
      if (generation !== this._generation) {
        return;
      }
      if (kind === 'all') {
        this._runs = page.runs;
        this._total = page.total;
        this._renderRows();
        this._status.textContent = this._countText();
        this._tbody.dataset.listing = String(++this._listings); // how many times listed
      } else {
        this._merge(page);
      }
      if (this._shown === null && page.runs.length) {
        this._shown = 'latest';
      }
      await this._drawShown();
    } catch (error) {
      if (generation !== this._generation || kind === 'newest') {
        return; // a failed poll (server restarting) is tried again while polling goes on
      }
      this._runs = [];
      this._total = 0;
      this._renderRows();
      // 404: the datastore has no such flow yet, which is no error here.
      const unknown = error instanceof api.ApiError && error.status === 404 && error.fromApi;
      this._status.textContent = unknown ? this._countText() : (error as Error).message;
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._loaded) {
      this._loaded = true;
      void this.refresh();
    }
  }

  dispose(): void {
    this._stopPolling();
    window.clearTimeout(this._settle);
    super.dispose();
  }

  private _setFlow(flow: string): void {
    if (flow === this._flow) {
      return;
    }
    this._flow = flow;
    this._generation++;
    this._runs = [];
    this._selected.clear();
    this._shown = null;
    fill(this._detail);
    this._renderRows();
    if (this.isVisible) {
      this._loaded = true;
      void this.refresh();
    } else {
      this._loaded = false;
    }
  }

  private async _loadFlows(): Promise<void> {
    let names: string[] = [];
    try {
      names = (await api.flows()).flows.map(f => f.name);
    } catch {
      // The runs list says what is wrong; the choice of flows just stays short.
    }
    const all = [
      ...new Set([this._notebookFlow, this._flow, ...names].filter(Boolean) as string[])
    ];
    fill(
      this._flowSelect,
      all.map(name =>
        h(
          'option',
          { value: name, title: name === this._notebookFlow ? "this notebook's flow" : '' },
          name
        )
      )
    );
    this._flowSelect.value = this._flow ?? '';
  }

  private _countText(): string {
    if (!this._runs.length) {
      return `no runs of ${this._flow} yet: Run flow makes one`;
    }
    return `${this._total.toLocaleString()} run${this._total === 1 ? '' : 's'} of ${this._flow}`;
  }

  // -- the list ---------------------------------------------------------------------------

  private _renderRows(): void {
    this._rows.clear();
    fill(this._tbody);
    this._appendRows(this._runs);
    this._markShown();
    this._updateCompareButton();
  }

  /** Rows for `runs` at the end of the list, in one insertion. */
  private _appendRows(runs: RunRow[]): void {
    const fragment = document.createDocumentFragment();
    for (const run of runs) {
      const row = this._row(run);
      this._rows.set(run.id, row);
      fragment.appendChild(row);
    }
    this._tbody.appendChild(fragment);
    this._more.hidden = this._runs.length >= this._total;
    this._more.textContent =
      `More runs (${this._runs.length.toLocaleString()} of ` +
      `${this._total.toLocaleString()} listed)`;
  }

  private _row(run: RunRow): HTMLTableRowElement {
    const box = h('input', { type: 'checkbox', 'aria-label': `select run ${run.id}` });
    box.checked = this._selected.has(run.id);
    const params = paramsText(run.params);
    const results = paramsText(run.results ?? {});
    // The cell is cut to the panel's width; its tooltip has every parameter and result.
    const full = [`parameters: ${params || 'none'}`, results ? `results: ${results}` : '']
      .filter(Boolean)
      .join('\n');
    return h(
      'tr',
      { 'data-testid': 'nbflow-run-row', 'data-run': run.id, 'data-status': run.status },
      h('td', {}, box),
      h(
        'td',
        { class: 'nbflow-num', title: `started ${whenText(run.started_at)}` },
        String(run.run_id)
      ),
      h('td', {}, statusBadge(run.status)),
      h(
        'td',
        { class: 'nbflow-num nbflow-col-started', title: whenText(run.started_at) },
        whenShort(run.started_at)
      ),
      h('td', { class: 'nbflow-num nbflow-col-duration' }, formatDuration(run.duration) || '-'),
      h('td', { class: 'nbflow-params', title: full }, params || '-')
    );
  }

  /** Newest runs from a poll: rows updated in place, new ones put on top. */
  private _merge(page: RunsPage): void {
    const fresh: RunRow[] = [];
    for (const run of page.runs) {
      const at = this._runs.findIndex(r => r.id === run.id);
      if (at < 0) {
        fresh.push(run);
        continue;
      }
      this._runs[at] = run;
      const row = this._row(run);
      this._rows.get(run.id)?.replaceWith(row);
      this._rows.set(run.id, row);
    }
    if (fresh.length) {
      this._runs = [...fresh, ...this._runs];
      const fragment = document.createDocumentFragment();
      for (const run of fresh) {
        const row = this._row(run);
        this._rows.set(run.id, row);
        fragment.appendChild(row);
      }
      this._tbody.insertBefore(fragment, this._tbody.firstChild);
    }
    this._total = Math.max(page.total, this._runs.length);
    this._status.textContent = this._countText();
    this._markShown();
  }

  private _loadMore(): Promise<void> {
    // One page at a time: a click and the scroll observer together ask for it once.
    this._loadingMore ??= this._nextPage().finally(() => (this._loadingMore = null));
    return this._loadingMore;
  }

  private async _nextPage(): Promise<void> {
    await this._loading; // after any listing under way, which would replace the rows
    const flow = this._flow;
    if (!flow || this._runs.length >= this._total) {
      return;
    }
    const page = await api.runs(flow, PAGE, this._runs.length);
    if (flow === this._flow) {
      const fresh = page.runs.filter(r => !this._rows.has(r.id));
      this._runs = [...this._runs, ...fresh];
      this._total = page.total;
      this._appendRows(fresh);
      this._markShown();
    }
  }

  private _onRowClick(event: Event): void {
    const target = event.target as HTMLElement;
    const row = target.closest('tr');
    if (!row || target instanceof HTMLInputElement) {
      return;
    }
    const run = this._runs.find(r => r.id === row.dataset.run);
    if (run) {
      this._shown = run.run_id;
      void this._drawShown();
    }
  }

  private _onTick(event: Event): void {
    const box = event.target as HTMLInputElement;
    const id = box.closest('tr')?.dataset.run;
    if (id) {
      if (box.checked) {
        this._selected.add(id);
      } else {
        this._selected.delete(id);
      }
      this._updateCompareButton();
    }
  }

  private _updateCompareButton(): void {
    const count = [...this._selected].filter(id => this._rows.has(id)).length;
    this._compareButton.disabled = count < 2;
    this._compareButton.textContent = count ? `Compare ${count}` : 'Compare';
  }

  private _markShown(): void {
    // While a run starts, the newest row listed is the previous run, which is not shown.
    const latest = this._starting && this._runs[0]?.id === this._before ? null : this._runs[0]?.id;
    const shownId = this._shown === 'latest' ? latest : `${this._flow}/${String(this._shown)}`;
    for (const [id, row] of this._rows) {
      row.classList.toggle('nbflow-shown', id === shownId);
    }
  }

  // -- the detail: a run's graph, or a comparison -----------------------------------------

  private async _drawShown(): Promise<void> {
    const flow = this._flow;
    const shown = this._shown;
    // 'latest' of a flow with no run listed yet (Run flow just pressed) would be a 404: the
    // graph waits for the list's next poll to show the run.
    if (shown === 'latest' && this._starting) {
      if (!this._runs.length || this._runs[0].id === this._before) {
        return; // the new run is not listed yet: the "starting" note stays
      }
      this._starting = false;
    }
    if (!flow || shown === null || (shown === 'latest' && !this._runs.length)) {
      return;
    }
    this._markShown();
    try {
      const view = await api.run(flow, shown);
      if (flow === this._flow && shown === this._shown) {
        this._graph.show(view);
        if (this._graph.node.parentElement !== this._detail) {
          fill(this._detail, this._graph.node);
        }
      }
    } catch (error) {
      if (flow === this._flow && shown === this._shown) {
        fill(this._detail, note((error as Error).message));
      }
    }
  }

  private _compare(): void {
    // In the order of the list (newest first), as the run browser does.
    const ids = this._runs.map(r => r.id).filter(id => this._selected.has(id));
    if (ids.length >= 2) {
      this._openCompare(ids);
    }
  }

  // -- live updates -------------------------------------------------------------------------

  private _startPolling(): void {
    if (this._timer === null && !this.isDisposed) {
      this._timer = window.setTimeout(
        () => {
          this._timer = null;
          if (this.isVisible) {
            void this._load('newest');
          } else {
            this._loaded = false; // drawn afresh when shown
          }
        },
        this._starting ? STARTING_POLL_MS : POLL_MS
      );
    }
  }

  private _stopPolling(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }
}
