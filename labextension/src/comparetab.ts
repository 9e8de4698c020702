// A comparison of runs as a document tab in JupyterLab's main area: the room a comparison
// needs (a column per run) is the main area's, not the side panel's. Each table scrolls
// sideways inside the tab (style/base.css: .nbflow-compare-panel), so the tab reads at any
// width. Opened by the sidebar's Compare and by "Open in a tab" on `%flow compare`'s output;
// the same runs asked for again bring their tab to the front.

import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import * as api from './api';
import { renderComparison } from './compare';
import { fill, note } from './dom';
import { flowIcon } from './icon';

class ComparePanel extends Widget {
  constructor(readonly runs: string[]) {
    super();
    this.addClass('nbflow-compare-panel');
    this.node.dataset.testid = 'nbflow-compare-tab';
    this.node.dataset.runs = runs.join(',');
    void this.load();
  }

  /** Fetch the comparison (again) and draw it. */
  async load(): Promise<void> {
    fill(this.node, note(`comparing ${this.runs.length} runs…`));
    try {
      fill(this.node, renderComparison(await api.compare(this.runs)));
    } catch (error) {
      fill(this.node, note(`compare: ${(error as Error).message}`));
    }
  }
}

export type CompareTab = MainAreaWidget<ComparePanel>;

/** A new tab comparing `runs` (ids as "flow/3"), in the order given. */
export function compareTab(runs: string[]): CompareTab {
  const tab = new MainAreaWidget({ content: new ComparePanel(runs) });
  tab.id = `nbflow-compare-${runs.join('-').replace(/[^\w-]/g, '_')}`;
  tab.title.label = `Compare ${shortIds(runs)}`;
  tab.title.caption = `nbflow: runs ${runs.join(', ')} side by side`;
  tab.title.icon = flowIcon;
  tab.title.closable = true;
  return tab;
}

/** "quickstart/2, 1": the flow named once when every run is of the same flow. */
function shortIds(runs: string[]): string {
  const flows = new Set(runs.map(id => id.split('/')[0]));
  if (flows.size !== 1) {
    return runs.join(', ');
  }
  const [flow] = flows;
  return `${flow}/${runs.map(id => id.slice(flow.length + 1)).join(', ')}`;
}
