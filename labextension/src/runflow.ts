// Run flow and Resume on a notebook. Run flow is Run All: executed top to bottom, the
// notebook's cells already make one new run (a root step cell starts it, the later step
// cells grow it), and each step's output lands in its own cell. Resume asks the kernel for
// `%flow resume`: a new run that takes over the finished tasks of the latest failed run.

import { ISessionContextDialogs } from '@jupyterlab/apputils';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';

export async function runFlow(
  panel: NotebookPanel,
  dialogs?: ISessionContextDialogs
): Promise<boolean> {
  // Clicked as the notebook opens: wait for its kernel, or Run All would ask for one.
  await Promise.all([panel.context.ready, panel.sessionContext.ready]);
  return NotebookActions.runAll(panel.content, panel.sessionContext, dialogs);
}

export interface Outcome {
  ok: boolean;
  /** What the kernel printed, or the error it raised. */
  text: string;
}

/**
 * `%flow resume` in the notebook's kernel for `flow`. The extension is loaded and the flow
 * named first, so it also works in a kernel that has run none of the notebook yet.
 */
export async function resumeFlow(panel: NotebookPanel, flow: string): Promise<Outcome> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    return { ok: false, text: 'the notebook has no kernel: start one, then Resume' };
  }
  const code = [
    "get_ipython().extension_manager.load_extension('nbflow')",
    `%flow name ${flow}`,
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
