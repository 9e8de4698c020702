// Run flow and Resume on a notebook. Run flow is Run All: executed top to bottom, the
// notebook's cells already make one new run (a root step cell starts it, the later step
// cells grow it), and each step's output lands in its own cell. Around it the kernel's
// Run flow mode is on (nbflow.kernel.magics.run_flow_mode): step cells then reuse unchanged tasks
// as `%flow run` does, where a step cell run by hand always runs; the switch also hands the
// kernel the notebook's cells, whose steps are registered at the first step cell, so the run
// knows the whole flow from its start (its graph, its "k/n steps"). Resume first registers the
// step cells as they stand in the editor (nbflow.kernel.magics.register_cells), then asks the
// kernel for `%flow resume`: a new run that takes over the finished tasks of the latest failed
// run and runs the rest with the code the user sees, a fixed cell included.

import { ISessionContextDialogs } from '@jupyterlab/apputils';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';

export async function runFlow(
  panel: NotebookPanel,
  dialogs?: ISessionContextDialogs
): Promise<boolean> {
  // Clicked as the notebook opens: wait for its kernel, or Run All would ask for one.
  await Promise.all([panel.context.ready, panel.sessionContext.ready]);
  const on = await runFlowMode(panel, true);
  try {
    return await NotebookActions.runAll(panel.content, panel.sessionContext, dialogs);
  } finally {
    // Also after a failed or interrupted Run All: then cells run by hand always run again.
    if (on) {
      await runFlowMode(panel, false);
    }
  }
}

/**
 * Switch the kernel's Run flow mode, silently (no cell output, no history, no execution
 * count). Needs no loaded extension, so the notebook's own `%load_ext nbflow` stays quiet.
 * False where it could not be set (no kernel, nbflow not importable there): Run All then
 * runs the cells as it always did.
 */
async function runFlowMode(panel: NotebookPanel, on: boolean): Promise<boolean> {
  const code =
    "__import__('nbflow.kernel.magics').kernel.magics.run_flow_mode(get_ipython(), " +
    (on ? `True, __import__('json').loads(${cellSources(panel)})` : 'False') +
    ')';
  // A request that reaches the kernel just as it drops the queue after a failed cell is
  // aborted, not run: it is sent again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      return false;
    }
    try {
      const future = kernel.requestExecute({
        code,
        silent: true,
        store_history: false,
        stop_on_error: false
      });
      const reply = await future.done;
      const status = reply.content.status as string;
      if (status === 'ok') {
        return true;
      }
      if (status !== 'aborted' && status !== 'abort') {
        console.warn(`nbflow: Run flow mode not switched ${on ? 'on' : 'off'}`, reply.content);
        return false;
      }
    } catch (error) {
      console.warn(`nbflow: Run flow mode not switched ${on ? 'on' : 'off'}`, error);
      return false;
    }
    await new Promise(resolve => setTimeout(resolve, 200));
  }
  return false;
}

export interface Outcome {
  ok: boolean;
  /** What the kernel printed, or the error it raised. */
  text: string;
}

/**
 * `%flow resume` in the notebook's kernel for `flow`. The extension is loaded, the flow named
 * and the notebook's step cells registered as the editor holds them first, so it also works
 * in a kernel that has run none of the notebook yet, and runs a cell fixed since it failed.
 */
export async function resumeFlow(panel: NotebookPanel, flow: string): Promise<Outcome> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    return { ok: false, text: 'the notebook has no kernel: start one, then Resume' };
  }
  const sources = cellSources(panel);
  const code = [
    "get_ipython().extension_manager.load_extension('nbflow')",
    `%flow name ${flow}`,
    "__import__('nbflow.kernel.magics').kernel.magics.register_cells(" +
      `get_ipython(), __import__('json').loads(${sources}))`,
    '%flow resume'
  ].join('\n');
  const future = kernel.requestExecute({ code, silent: false, store_history: false });
  const printed: string[] = [];
  let error = '';
  future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
    if (KernelMessage.isStreamMsg(msg)) {
      printed.push(msg.content.text);
    } else if (KernelMessage.isErrorMsg(msg)) {
      error = `${msg.content.ename}: ${msg.content.evalue}`;
    }
  };
  const reply = await future.done;
  const ok = reply.content.status === 'ok';
  const text = ok ? printed.join('').trim() : error || printed.join('').trim();
  return { ok, text };
}

/** The notebook's code cells (id and source, in order) as a Python string literal of JSON. */
function cellSources(panel: NotebookPanel): string {
  const cells = panel.content.widgets
    .filter(cell => cell.model.type === 'code')
    .map(cell => ({ id: cell.model.id, source: cell.model.sharedModel.getSource() }));
  // A JSON string is a Python string literal too: the sources reach the kernel as they are.
  return JSON.stringify(JSON.stringify(cells));
}
