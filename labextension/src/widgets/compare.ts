// CompareWidget (nbflow.widgets.compare): the synced `comparison` drawn by ../compare.ts.

import type { Comparison } from '../views';
import { renderComparison } from '../compare';
import { fill, h } from '../dom';
import { listen, RenderProps, WIDGET } from './look';
import { paintStatuses } from './status';

function render({ model, el }: RenderProps<{ comparison: Partial<Comparison> }>): () => void {
  const root = h('div', { class: 'nbf' });
  el.append(root);
  const draw = () => {
    fill(root, renderComparison(model.get('comparison') || {}, WIDGET));
    paintStatuses(root);
  };
  draw();
  return listen(model, { 'change:comparison': draw });
}

export default { render };
