// A run's graph as nbflow.render.svg drew it, inline in the page (so the theme's colours reach
// it, see style/base.css) with each step a button: a click or Enter on a step calls `pick`.
// The sidebar's graph (./graph.ts) and the notebook widget's (./widgets/graph.ts) both use it.

import { inlineSvg } from './dom';

export interface PictureOptions {
  /** The step shown as chosen, and the class that marks it. */
  selected: string | null;
  selectedClass: string;
  /** The data-testid of the picture and of a step's group. */
  testid: string;
  stepTestid: (name: string) => string;
  pick: (name: string) => void;
}

export function graphPicture(svg: string, options: PictureOptions): SVGSVGElement | null {
  const root = inlineSvg(svg);
  if (!root) {
    return null;
  }
  root.setAttribute('data-testid', options.testid);
  root.setAttribute('role', 'group');
  for (const g of Array.from(root.querySelectorAll('g.nbflow-step[data-step]'))) {
    const name = g.getAttribute('data-step') || '';
    const status = g.getAttribute('data-status') || 'pending';
    g.classList.toggle(options.selectedClass, name === options.selected);
    g.setAttribute('data-testid', options.stepTestid(name));
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.setAttribute('aria-label', `step ${name}: ${status}, show its tasks`);
    g.addEventListener('click', () => options.pick(name));
    g.addEventListener('keydown', event => {
      const key = (event as KeyboardEvent).key;
      if (key === 'Enter' || key === ' ') {
        event.preventDefault();
        options.pick(name);
      }
    });
  }
  return root;
}
