// Who draws the shared renderers (preview.ts, compare.ts): the JupyterLab sidebar or a notebook
// widget (src/widgets/). The two draw the same things from the same data, but under their own
// CSS classes (style/base.css: `nbflow-*`; nbflow/widgets/static/widgets.css: `nbf-*`), with
// their own test ids and status badges, and with a few differences of layout kept as they were.

import type { ComparedRun, ValueRow } from './views';
import { clipped, note } from './dom';
import { statusBadge } from './status';

export interface Look {
  /** The CSS class prefix: `${prefix}-dim`, `${prefix}-note`, ... */
  prefix: string;
  /** The class of the "… more characters" note of cut text. */
  cutClass: string;
  /** The data-testid of a `kind` of node, of the one called `name` if given. */
  testid(kind: string, name?: string): string;
  badge(status: string): HTMLElement;
  /** The comparison: section titles as h3 or h4, tables in a horizontally scrolling box,
   * each artifact cell with its content key, and a last section plotting a result against a
   * parameter, if the look draws one. */
  heading: 'h3' | 'h4';
  wideTables: boolean;
  artifactKeys: boolean;
  plot?: (runs: ComparedRun[], params: ValueRow[], results: ValueRow[]) => HTMLElement;
  /** What goes above the comparison, if anything (the widgets' "Open in a tab"). */
  actions?: (runs: ComparedRun[]) => HTMLElement | null;
}

/** The JupyterLab extension's look. */
export const EXTENSION: Look = {
  prefix: 'nbflow',
  cutClass: 'nbflow-dim',
  testid: kind => `nbflow-${kind}`,
  badge: statusBadge,
  heading: 'h3',
  wideTables: true,
  artifactKeys: false
};

/** A class name in `look`: cls(look, 'dim') is 'nbflow-dim' or 'nbf-dim'. */
export function cls(look: Look, ...names: string[]): string {
  return names.map(name => `${look.prefix}-${name}`).join(' ');
}

export function lookNote(look: Look, text: string): HTMLElement {
  return note(text, look.prefix);
}

export function lookClipped(
  look: Look,
  tag: 'td' | 'code' | 'pre' | 'span',
  attrs: Record<string, string>,
  text: unknown,
  limit = 2000
): HTMLElement {
  return clipped(tag, attrs, text, limit, look.cutClass);
}
