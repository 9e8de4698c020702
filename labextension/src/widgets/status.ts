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

export function badge(status: string): HTMLElement {
  const style = styleOf(status);
  return h(
    'span',
    {
      class: 'nbf-badge',
      'data-status': status,
      style: `background:${style.fill};color:${style.ink};border-color:${style.stroke}`
    },
    `${style.glyph} ${status}`
  );
}
