// What a step badge's tooltip says: its status in words, with the run it comes from and what
// that run did (tasks, duration), so a glance at a cell answers "what does this badge mean".
// No JupyterLab imports: the browser tests call it in node, as they do ./stepline.ts.

import type { StepView } from './views';
import { formatDuration } from './dom';

function tasksText(step: StepView): string {
  const total = step.tasks?.total ?? 0;
  return `${total} task${total === 1 ? '' : 's'}`;
}

function facts(step: StepView): string {
  const duration = formatDuration(step.duration);
  return [tasksText(step), duration].filter(Boolean).join(', ');
}

/**
 * The tooltip of a badge showing `status` (a task status, or 'stale', 'error', 'none'); `run`
 * is the id of the run the step's status comes from, `step` that run's step, `errors` what
 * keeps the cell from being a step of the graph.
 */
export function badgeTitle(
  status: string,
  run: string | null,
  step: StepView | undefined,
  errors: string[] = []
): string {
  const where = run ? ` in run ${run}` : '';
  switch (status) {
    case 'error':
      return `error: ${errors[0] ?? 'this step cannot be part of the graph'}`;
    case 'none':
      return 'not run: this step has no run yet; run the cell, or Run flow';
    case 'stale':
      return (
        `stale: the code changed since it ran${where}` +
        (step ? ` (${step.status}, ${facts(step)})` : '') +
        '; run the cell (or Run flow) again'
      );
    case 'pending':
      return `pending: waiting to run${where}`;
  }
  if (!step) {
    return `${status}${where}`;
  }
  const tasks = step.tasks;
  switch (status) {
    case 'done':
      return `done: ran${where}, ${facts(step)}`;
    case 'cached':
      return `cached: reused from an earlier run${where}, ${facts(step)}, nothing ran again`;
    case 'running':
      return `running${where}: ${tasks.done + tasks.cached} of ${tasks.total} tasks finished`;
    case 'failed':
      return (
        `failed${where}: ${tasks.failed} of ${tasks.total} tasks failed` +
        '; the nbflow panel shows the error (click the step)'
      );
    case 'skipped':
      return `skipped${where}: its --when condition was false, so it did not run`;
    default:
      return `${status}${where}, ${facts(step)}`;
  }
}
