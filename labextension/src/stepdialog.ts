// "Make this a step…": a dialog that writes (or edits) the cell's `%%step` line: its name,
// its parents chosen among the steps above the cell (a step runs after what it reads, and the
// notebook reads top to bottom), foreach with the element's name (--as), and join. Options the dialog
// does not show (--when, --retry, ...) are kept as they are. "Remove step" takes the line
// out, so the cell is a plain cell again.

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { Widget } from '@lumino/widgets';

import { h } from './dom';
import { isIdentifier, parseStepLine, removeStepLine, setStepLine, StepLine } from './stepline';

const REMOVE = 'Remove step';

class StepForm extends Widget implements Dialog.IBodyWidget<StepLine> {
  private _name: HTMLInputElement;
  private _foreach: HTMLInputElement;
  private _as: HTMLInputElement;
  private _join: HTMLInputElement;
  private _parents: HTMLInputElement[];

  constructor(
    private _step: StepLine,
    above: string[],
    error: string
  ) {
    super();
    this.addClass('nbflow-step-form');
    this._name = h('input', {
      type: 'text',
      class: 'jp-mod-styled',
      value: _step.name,
      placeholder: 'a Python name, e.g. train',
      'data-testid': 'nbflow-step-name'
    });
    this._foreach = h('input', {
      type: 'text',
      class: 'jp-mod-styled',
      value: _step.foreach ?? '',
      placeholder: "a parent's artifact or a parameter",
      'data-testid': 'nbflow-step-foreach'
    });
    this._as = h('input', {
      type: 'text',
      class: 'jp-mod-styled',
      value: _step.as ?? '',
      placeholder: 'item',
      title: 'the name each element is bound to in the step (--as); item if left empty',
      'data-testid': 'nbflow-step-as'
    });
    this._join = h('input', { type: 'checkbox', 'data-testid': 'nbflow-step-join' });
    this._join.checked = _step.join;
    // Parents the line already names stay choosable, wherever they are.
    const choices = [...new Set([...above, ..._step.after])];
    this._parents = choices.map(name => {
      const box = h('input', {
        type: 'checkbox',
        value: name,
        'data-testid': `nbflow-parent-${name}`
      });
      box.checked = _step.after.includes(name);
      return box;
    });
    this.node.append(
      error ? h('p', { class: 'nbflow-error' }, error) : '',
      h('label', {}, 'Name', this._name),
      h(
        'fieldset',
        {},
        h('legend', {}, 'After (parents)'),
        this._parents.length
          ? this._parents.map(box => h('label', { class: 'nbflow-choice' }, box, box.value))
          : h('span', { class: 'nbflow-dim' }, 'no steps above this cell: this is a root step')
      ),
      h(
        'div',
        { class: 'nbflow-step-foreach' },
        h('label', {}, 'Foreach (one task per element of)', this._foreach),
        h('label', {}, 'as', this._as)
      ),
      h(
        'label',
        { class: 'nbflow-choice' },
        this._join,
        'Join (close the open foreach: one task gets all its inputs)'
      )
    );
  }

  getValue(): StepLine {
    const foreach = this._foreach.value.trim() || null;
    return {
      ...this._step,
      name: this._name.value.trim(),
      after: this._parents.filter(box => box.checked).map(box => box.value),
      foreach,
      as: foreach ? this._as.value.trim() || null : null,
      join: this._join.checked
    };
  }
}

/**
 * Ask for the step of `cell` and write its `%%step` line. `steps` are the notebook's step
 * names, `above` those of the cells above this one, in notebook order: the parents to choose
 * from, the last of them a new step's default parent.
 */
export async function editStep(cell: Cell, steps: string[], above: string[]): Promise<void> {
  const source = cell.model.sharedModel.getSource();
  const current = parseStepLine(source);
  let step: StepLine = current ?? {
    name: '',
    after: above.length ? [above[above.length - 1]] : [],
    foreach: null,
    as: null,
    join: false,
    rest: []
  };
  const others = steps.filter(name => name !== current?.name);
  let error = '';
  for (;;) {
    const buttons = [Dialog.cancelButton()];
    if (current) {
      buttons.push(Dialog.warnButton({ label: REMOVE }));
    }
    buttons.push(Dialog.okButton({ label: 'Save' }));
    const result = await showDialog({
      title: current ? `Step ${current.name}` : 'Make this a step',
      body: new StepForm(
        step,
        above.filter(name => name !== current?.name),
        error
      ),
      buttons,
      focusNodeSelector: 'input'
    });
    if (result.button.label === REMOVE) {
      removeStep(cell);
      return;
    }
    if (!result.button.accept || !result.value) {
      return;
    }
    step = result.value;
    error = problem(step, others);
    if (!error) {
      cell.model.sharedModel.setSource(setStepLine(cell.model.sharedModel.getSource(), step));
      return;
    }
  }
}

/** Take the `%%step` line out of the cell: a plain cell again, its code kept. */
export function removeStep(cell: Cell): void {
  const source = cell.model.sharedModel.getSource();
  const plain = removeStepLine(source);
  if (plain !== source) {
    cell.model.sharedModel.setSource(plain);
  }
}

function problem(step: StepLine, others: string[]): string {
  if (!isIdentifier(step.name)) {
    return `'${step.name}' is not a step name: use letters, digits and _ (not first).`;
  }
  if (others.includes(step.name)) {
    return `another cell is already the step '${step.name}'.`;
  }
  if (step.foreach && !isIdentifier(step.foreach)) {
    return `foreach '${step.foreach}': name a parent's artifact or a parameter.`;
  }
  if (step.as && !isIdentifier(step.as)) {
    return `as '${step.as}': the element's name must be a Python name.`;
  }
  return '';
}
