// What the notebook widgets share beyond ../dom.ts, ../preview.ts and ../compare.ts: their look
// (the `nbf-*` classes of nbflow/widgets/static/widgets.css, their test ids, status badges) and
// anywidget's model.

import { Look } from '../look';
import { openInTabButton } from '../opentab';
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
  wideTables: true,
  artifactKeys: true,
  plot: plotNode,
  actions: runs =>
    openInTabButton(
      runs.map(run => run.id),
      'nbf-open-tab',
      'compare-open-tab'
    )
};

/** A handler of a model event; its arguments are the event's (a message for `msg:custom`). */
// `never[]`: any handler is accepted, whatever arguments it declares.
export type Handler = (...args: never[]) => void;

/**
 * anywidget's model, as far as the widgets use it. `Traits`: the synced traits of the Python
 * widget. A trait is undefined until Python sets it, and a message is whatever Python sent, so
 * the widgets check what they read.
 */
export interface Model<Traits> {
  get<K extends keyof Traits>(name: K): Traits[K] | undefined;
  set<K extends keyof Traits>(name: K, value: Traits[K]): void;
  save_changes(): void;
  send(content: unknown): void;
  on(event: string, handler: Handler): void;
  off(event: string, handler: Handler): void;
}

export interface RenderProps<Traits> {
  model: Model<Traits>;
  el: HTMLElement;
}

/** Listen to the model until the view goes away; returns the cleanup anywidget calls. */
export function listen<Traits>(model: Model<Traits>, handlers: Record<string, Handler>) {
  for (const [event, handler] of Object.entries(handlers)) {
    model.on(event, handler);
  }
  return (): void => {
    for (const [event, handler] of Object.entries(handlers)) {
      model.off(event, handler);
    }
  };
}
