// Statuses in the colours and glyphs of nbflow.render.svg.STATUS_STYLES.
//
// STYLES and UNKNOWN_STYLE are not in the bundle: nbflow/widgets/_assets.py puts them before
// it, from nbflow.render.svg, so the widgets draw exactly the colours of the SVG pictures.

import { h } from '../dom';

export interface Style {
  fill: string;
  stroke: string;
  ink: string;
  glyph: string;
  dash: string;
}

declare const STYLES: Record<string, Style>;
declare const UNKNOWN_STYLE: Style;

export function styleOf(status: string): Style {
  return STYLES[status] || UNKNOWN_STYLE;
}

/** A status badge: its hue is the status's stroke; widgets.css mixes the fill and the ink from
 * it and the theme's colours, so it reads in a dark theme too. */
export function badge(status: string): HTMLElement {
  const style = styleOf(status);
  return h(
    'span',
    { class: 'nbf-badge', 'data-status': status, style: `--nbflow-stroke:${style.stroke}` },
    `${style.glyph} ${status}`
  );
}

/** Give every element under `root` that has a status (the inline SVG pictures' steps and
 * rows) its status's hue, from which widgets.css mixes its themed fill and ink. */
export function paintStatuses(root: Element): void {
  for (const node of Array.from(root.querySelectorAll('[data-status]'))) {
    const status = node.getAttribute('data-status') || '';
    (node as HTMLElement | SVGElement).style.setProperty('--nbflow-stroke', styleOf(status).stroke);
  }
}
