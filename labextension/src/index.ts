// nbflow's JupyterLab extension: "Run flow" and "Resume" on the notebook toolbar (also in
// the command palette and the Run menu), a badge on every `%%step` cell, "Make this a step…"
// in the cell's context menu, the "nbflow" side panel of runs, and comparisons of runs as
// document tabs. Everything it shows comes
// from the notebook's own cells and from the server extension's REST API (nbflow/server).
//
// The toolbar buttons, the Run menu items and the context-menu items are declared in the
// settings schema (schema/plugin.json: jupyter.lab.toolbars, jupyter.lab.menus), so users can
// move or hide them in Settings; this file registers the commands they run and the widget
// factories of the two toolbar buttons.

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  CommandToolbarButton,
  ICommandPalette,
  ISessionContextDialogs,
  IToolbarWidgetRegistry,
  Notification
} from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { redoIcon } from '@jupyterlab/ui-components';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { StepBadges } from './badges';
import { CompareTab, compareTab } from './comparetab';
import { flowIcon } from './icon';
import { listenForOpenCompare } from './opentab';
import { resumeFlow, runFlow } from './runflow';
import { RunsPanel } from './sidebar';
import { editStep, removeStep } from './stepdialog';
import { parseStepLine } from './stepline';

namespace CommandIDs {
  export const runFlow = 'nbflow:run-flow';
  export const resumeFlow = 'nbflow:resume-flow';
  export const editStep = 'nbflow:edit-step';
  export const removeStep = 'nbflow:remove-step';
  export const showRuns = 'nbflow:show-runs';
  export const compareRuns = 'nbflow:compare-runs';
}

const CATEGORY = 'nbflow';

function activate(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  palette: ICommandPalette | null,
  toolbarRegistry: IToolbarWidgetRegistry | null,
  restorer: ILayoutRestorer | null,
  dialogs: ISessionContextDialogs | null
): void {
  const { commands } = app;
  const badges = new Map<NotebookPanel, StepBadges>();
  const failures = new Map<NotebookPanel, string>(); // the "run failed" note of each notebook
  const dismissFailure = (panel: NotebookPanel) => {
    const id = failures.get(panel);
    if (id) {
      Notification.dismiss(id);
      failures.delete(panel);
    }
  };
  const compareTabs = new Map<string, CompareTab>(); // by their runs, joined
  const sidebar = new RunsPanel(runs => void commands.execute(CommandIDs.compareRuns, { runs }));
  sidebar.title.icon = flowIcon;
  app.shell.add(sidebar, 'right', { rank: 700 });
  restorer?.add(sidebar, sidebar.id);

  /** The notebook a command is for: the one whose toolbar was used, else the current one. */
  const panelFor = (args: ReadonlyPartialJSONObject): NotebookPanel | null => {
    const id = args['panel'];
    return (id && tracker.find(panel => panel.id === id)) || tracker.currentWidget;
  };

  /**
   * The cell a step command is for: from the context menu, the cell right-clicked (a
   * right-click in a cell's editor does not make it the active cell); else the active one.
   */
  const cellFor = (args: ReadonlyPartialJSONObject): Cell | null => {
    const notebook = tracker.currentWidget?.content;
    if (!notebook) {
      return null;
    }
    const node = args['contextMenu']
      ? app.contextMenuHitTest(n => n.classList.contains('jp-Cell'))
      : undefined;
    return notebook.widgets.find(cell => node && cell.node === node) ?? notebook.activeCell;
  };

  const showSidebar = (panel: NotebookPanel, manager: StepBadges) => {
    sidebar.setNotebookFlow(manager.flow);
    app.shell.activateById(sidebar.id);
    panel.content.activate(); // the keyboard stays in the notebook
  };

  tracker.widgetAdded.connect((_, panel) => {
    const manager = new StepBadges(panel);
    badges.set(panel, manager);
    manager.flowChanged.connect(() => {
      if (tracker.currentWidget === panel) {
        sidebar.setNotebookFlow(manager.flow);
      }
    });
    manager.latestChanged.connect(() => commands.notifyCommandChanged(CommandIDs.resumeFlow));
    panel.sessionContext.statusChanged.connect((_, status) => {
      if (tracker.currentWidget === panel) {
        sidebar.setKernelBusy(status === 'busy');
      }
    });
    panel.disposed.connect(() => {
      manager.dispose();
      badges.delete(panel);
      dismissFailure(panel);
    });
  });

  tracker.currentChanged.connect((_, panel) => {
    const manager = panel && badges.get(panel);
    if (manager?.flow) {
      sidebar.setNotebookFlow(manager.flow);
    }
    commands.notifyCommandChanged(CommandIDs.resumeFlow);
  });

  // One click, one run: while a notebook's run goes on, both buttons are off and say so.
  const going = new Set<NotebookPanel>();
  const whileGoing = async (panel: NotebookPanel, work: () => Promise<void>) => {
    going.add(panel);
    commands.notifyCommandChanged(CommandIDs.runFlow);
    commands.notifyCommandChanged(CommandIDs.resumeFlow);
    try {
      await work();
    } finally {
      going.delete(panel);
      commands.notifyCommandChanged(CommandIDs.runFlow);
      commands.notifyCommandChanged(CommandIDs.resumeFlow);
    }
  };
  const isGoing = (args: ReadonlyPartialJSONObject) => {
    const panel = panelFor(args);
    return !!panel && going.has(panel);
  };

  commands.addCommand(CommandIDs.runFlow, {
    label: args => (isGoing(args) ? 'Running flow…' : 'Run flow'),
    caption:
      'Run every cell of the notebook as one new run of its flow, reusing unchanged tasks as ' +
      "%flow run does, and show the run's graph",
    icon: args => (args['panel'] || args['toolbar'] ? flowIcon : undefined),
    isEnabled: args => !!panelFor(args) && !isGoing(args),
    execute: async args => {
      const panel = panelFor(args);
      const manager = panel && badges.get(panel);
      if (!panel || !manager || going.has(panel)) {
        return;
      }
      let ok = true;
      await whileGoing(panel, async () => {
        await panel.context.ready;
        dismissFailure(panel);
        showSidebar(panel, manager);
        sidebar.followLatest();
        ok = await runFlow(panel, dialogs ?? undefined);
        await manager.update();
      });
      if (!ok && manager.latest?.status === 'failed') {
        const note = `Run flow: run ${manager.latest.id} failed. Fix the cell, then Resume.`;
        const id = Notification.warning(note, {
          autoClose: false,
          actions: [
            {
              label: 'Resume',
              callback: () => void commands.execute(CommandIDs.resumeFlow, { panel: panel.id })
            }
          ]
        });
        failures.set(panel, id);
      }
    }
  });

  commands.addCommand(CommandIDs.resumeFlow, {
    label: args => (isGoing(args) ? 'Running flow…' : 'Resume flow'),
    caption:
      'A new run that takes over the finished tasks of the latest failed (or incomplete) run ' +
      'and runs the rest',
    icon: args => (args['panel'] || args['toolbar'] ? redoIcon : undefined),
    isEnabled: args => {
      const panel = panelFor(args);
      return !!panel && !going.has(panel) && resumable(badges.get(panel)?.latest?.status);
    },
    execute: async args => {
      const panel = panelFor(args);
      const manager = panel && badges.get(panel);
      if (!panel || !manager || going.has(panel)) {
        return;
      }
      let outcome = { ok: false, text: '' };
      await whileGoing(panel, async () => {
        dismissFailure(panel);
        showSidebar(panel, manager);
        sidebar.followLatest();
        outcome = await resumeFlow(panel, manager.flow);
        await manager.update();
      });
      const text = outcome.text || (outcome.ok ? 'resumed' : 'resume failed');
      if (outcome.ok) {
        Notification.success(`Resume: ${text}`, { autoClose: 8000 });
      } else {
        Notification.error(`Resume: ${text}`, { autoClose: false });
      }
    }
  });

  commands.addCommand(CommandIDs.editStep, {
    label: args => {
      const cell = cellFor(args);
      return cell && parseStepLine(cell.model.sharedModel.getSource())
        ? 'Edit step…'
        : 'Make this a step…';
    },
    caption: "Write this cell's %%step line: name, parents, foreach, join",
    isEnabled: args => cellFor(args)?.model.type === 'code',
    execute: async args => {
      const panel = tracker.currentWidget;
      const cell = cellFor(args);
      if (!panel || !cell || cell.model.type !== 'code') {
        return;
      }
      // The notebook's steps in order, and those above this cell: its possible parents.
      const steps: string[] = [];
      let above: string[] = [];
      for (const other of panel.content.widgets) {
        const line =
          other.model.type === 'code' && parseStepLine(other.model.sharedModel.getSource());
        if (other === cell) {
          above = [...steps];
        }
        if (line && line.name) {
          steps.push(line.name);
        }
      }
      await editStep(cell, steps, above);
    }
  });

  commands.addCommand(CommandIDs.removeStep, {
    label: 'Remove step (make it a plain cell)',
    caption: 'Take the %%step line out of this cell; its code stays',
    isVisible: args => {
      const cell = cellFor(args);
      return !!cell && !!parseStepLine(cell.model.sharedModel.getSource());
    },
    execute: args => {
      const cell = cellFor(args);
      if (cell) {
        removeStep(cell);
      }
    }
  });

  commands.addCommand(CommandIDs.showRuns, {
    label: 'Show nbflow runs',
    caption: "The runs of the current notebook's flow",
    execute: () => {
      app.shell.activateById(sidebar.id);
      void sidebar.refresh();
    }
  });

  commands.addCommand(CommandIDs.compareRuns, {
    label: 'Compare runs',
    caption: 'Runs side by side in a tab: parameters, results, artifacts, step durations',
    isVisible: args => Array.isArray(args['runs']),
    execute: args => {
      const runs = (Array.isArray(args['runs']) ? args['runs'] : []).map(String);
      if (runs.length < 1) {
        return;
      }
      const key = runs.join(',');
      let tab = compareTabs.get(key);
      if (!tab || tab.isDisposed) {
        tab = compareTab(runs);
        compareTabs.set(key, tab);
        tab.disposed.connect(() => compareTabs.delete(key));
        app.shell.add(tab, 'main', { mode: 'split-right' });
      } else {
        void tab.content.load(); // the same runs again: fresh, in the tab already open
      }
      app.shell.activateById(tab.id);
    }
  });
  // "Open in a tab" on a comparison in a notebook's output (./opentab.ts).
  listenForOpenCompare(runs => void commands.execute(CommandIDs.compareRuns, { runs }));

  // The notebook toolbar's buttons (placed by the schema's jupyter.lab.toolbars): a button
  // for its own panel (the `panel` argument), with the data-testid the browser tests use.
  for (const [name, command] of [
    ['nbflow-run-flow', CommandIDs.runFlow],
    ['nbflow-resume-flow', CommandIDs.resumeFlow]
  ]) {
    toolbarRegistry?.addFactory<NotebookPanel>('Notebook', name, panel => {
      const button = new CommandToolbarButton({ commands, id: command, args: { panel: panel.id } });
      button.node.dataset.testid = name;
      return button;
    });
  }

  // Comparing takes runs as arguments, which the palette has none of.
  for (const command of Object.values(CommandIDs).filter(id => id !== CommandIDs.compareRuns)) {
    palette?.addItem({ command, category: CATEGORY });
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbflow:plugin',
  description: 'Run flow from the toolbar, step badges on the cells, runs in the sidebar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, IToolbarWidgetRegistry, ILayoutRestorer, ISessionContextDialogs],
  activate
};

export default plugin;

/** Resume takes over a run that failed or that ended without all its steps (`incomplete`). */
function resumable(status: string | undefined): boolean {
  return status === 'failed' || status === 'incomplete';
}
