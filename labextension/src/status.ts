// Step and run statuses as badges. The colours live in style/base.css (the same as
// nbflow.render.svg.STATUS_STYLES, keyed by data-status); the glyphs are here, so a status reads
// without colour vision too.

import { h } from './dom';

const GLYPHS: Record<string, string> = {
  pending: '○',
  running: '▶',
  done: '✓',
  failed: '✗',
  skipped: '↷',
  cached: '↺',
  stale: '!',
  error: '✗'
};

export function glyph(status: string): string {
  return GLYPHS[status] ?? '?';
}

/** `✓ done` in the status's colours. */
export function statusBadge(status: string): HTMLElement {
  return h('span', { class: 'nbflow-status', 'data-status': status }, `${glyph(status)} ${status}`);
}
