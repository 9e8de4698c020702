// What the notebook widgets share beyond ../dom.ts, ../preview.ts and ../compare.ts: their look
// (the `nbf-*` classes of nbflow/widgets/static/widgets.css, their test ids, status badges) and
// anywidget's model.

import { Look } from '../look';
import { plotNode } from './plot';
import { badge } from './status';

// Test ids that are not `kind` or `kind-name`.
const TEST_IDS: Record<string, string> = {
  compare: 'compare-view',
  timeline: 'compare-timeline',
  'artifact-row': 'artifact'
};

export const WIDGET: Look = {
  prefix: 'nbf',
  cutClass: 'nbf-cut',
  testid: (kind, name) => {
    const id = TEST_IDS[kind] ?? kind;
    return name === undefined ? id : `${id}-${name}`;
  },
  badge,
  heading: 'h4',
  wideTables: false,
  artifactKeys: true,
  plot: plotNode
};

/** anywidget's model, as far as the widgets use it. */
export interface Model {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  send(content: unknown): void;
  on(event: string, handler: (...args: any[]) => void): void;
  off(event: string, handler: (...args: any[]) => void): void;
}

export interface RenderProps {
  model: Model;
  el: HTMLElement;
}

/** Listen to the model until the view goes away; returns the cleanup anywidget calls. */
export function listen(model: Model, handlers: Record<string, (...args: any[]) => void>) {
  for (const [event, handler] of Object.entries(handlers)) {
    model.on(event, handler);
  }
  return (): void => {
    for (const [event, handler] of Object.entries(handlers)) {
      model.off(event, handler);
    }
  };
}
