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
  not_run: '–',
  none: '–', // a badge's step that the latest run did not run
  incomplete: '◐',
  error: '✗'
};

export function glyph(status: string): string {
  return GLYPHS[status] ?? '?';
}

/** A status as a word to read: `not_run` is "not run" (nbflow.render.svg.status_word). */
export function statusWord(status: string): string {
  return status.replace(/_/g, ' ');
}

/** `✓ done` in the status's colours. */
export function statusBadge(status: string): HTMLElement {
  return h(
    'span',
    { class: 'nbflow-status', 'data-status': status },
    `${glyph(status)} ${statusWord(status)}`
  );
}
