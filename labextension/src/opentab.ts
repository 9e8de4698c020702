// "Open in a tab" for a comparison shown in a notebook's output (`%flow compare`, the run
// browser's Compare): the widget cannot reach JupyterLab's commands, so its button sends a DOM
// event that bubbles up to the document, where the extension (./index.ts) opens the
// comparison as a document tab. The extension marks the page when it listens, so outside
// JupyterLab (VS Code, an exported page) no button shows that would do nothing.

import { h } from './dom';

export const OPEN_COMPARE_EVENT = 'nbflow-open-compare';
const LISTENING = 'nbflowCompareTabs'; // document.body.dataset key

export interface OpenCompareDetail {
  runs: string[];
}

/** Called by the extension: from now on, comparisons offer "Open in a tab". */
export function listenForOpenCompare(open: (runs: string[]) => void): () => void {
  const onEvent = (event: Event) => {
    const runs = (event as CustomEvent<Partial<OpenCompareDetail>>).detail?.runs;
    if (Array.isArray(runs) && runs.length && runs.every(id => typeof id === 'string')) {
      open(runs);
    }
  };
  document.addEventListener(OPEN_COMPARE_EVENT, onEvent);
  document.body.dataset[LISTENING] = 'on';
  return () => {
    document.removeEventListener(OPEN_COMPARE_EVENT, onEvent);
    delete document.body.dataset[LISTENING];
  };
}

/** The button, or null where nothing listens. */
export function openInTabButton(runs: string[], className: string, testid: string) {
  if (document.body.dataset[LISTENING] !== 'on') {
    return null;
  }
  const button = h(
    'button',
    {
      type: 'button',
      class: className,
      'data-testid': testid,
      title: 'open this comparison in a tab of its own, beside the notebook'
    },
    'Open in a tab'
  );
  button.addEventListener('click', () =>
    button.dispatchEvent(
      new CustomEvent<OpenCompareDetail>(OPEN_COMPARE_EVENT, { bubbles: true, detail: { runs } })
    )
  );
  return h('div', { class: `${className}-bar` }, button);
}
