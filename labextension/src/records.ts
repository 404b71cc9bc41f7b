/**
 * A saved session shows its static record once its widget is gone.
 *
 * The magic's cell keeps one output (kernelmagic/notebook/_output.py): the widget view,
 * and once the session ended the record as HTML beside it, marked in the output's metadata
 * under `kernelmagic`. A live JupyterLab prefers the widget view. Once the kernel no longer
 * holds the widget's model (the notebook reopened after a restart, another kernel, none),
 * JupyterLab's widget renderer would still pick the view and show "Error displaying widget:
 * model not found", never the HTML. So each time a notebook's kernel may have changed, the
 * view of every marked output whose model that kernel lacks is dropped: JupyterLab then
 * renders the record. The kernel is asked (comm info, as the widget manager itself asks
 * when it restores widgets), never guessed from the page's state: a page reloaded while its
 * kernel runs keeps the live widget.
 */

import type { ISharedCodeCell } from '@jupyter/ydoc';

import type { SharedNotebook } from './apply';

export const MARK = 'kernelmagic';
export const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';
const WIDGET_TARGET = 'jupyter.widget'; // each widget model is a comm to it, of the model's id

type Output = ReturnType<ISharedCodeCell['getOutputs']>[number];

/** What `liveModels` needs of a kernel connection. */
export interface ICommInfoSource {
  requestCommInfo(content: {
    target_name: string;
  }): Promise<{ content: { status: string; comms?: { [commId: string]: unknown } } }>;
}

/** The widget model a marked output shows, or null for any other output. */
export function markedModel(output: Output): string | null {
  const data = output.data as { [mime: string]: unknown } | undefined;
  const metadata = output.metadata as { [key: string]: unknown } | undefined;
  const view = data?.[WIDGET_VIEW] as { model_id?: unknown } | undefined;
  if (typeof metadata?.[MARK] !== 'object' || typeof view?.model_id !== 'string') {
    return null;
  }
  return view.model_id || null; // '' once a view was closed: nothing to render either way
}

/** The widget models a kernel holds; none without a kernel. */
export async function liveModels(
  kernel: ICommInfoSource | null | undefined
): Promise<Set<string>> {
  if (!kernel) {
    return new Set();
  }
  const reply = await kernel.requestCommInfo({ target_name: WIDGET_TARGET });
  if (reply.content.status !== 'ok') {
    throw new Error(`the kernel answered comm_info with ${reply.content.status}`);
  }
  return new Set(Object.keys(reply.content.comms ?? {}));
}

/**
 * Drop the widget view of each marked output whose model is not in `live`; the rest of the
 * output (record, text, metadata) stays. Returns how many outputs changed.
 */
export function showRecords(notebook: SharedNotebook, live: ReadonlySet<string>): number {
  let changed = 0;
  // Not undoable: this mirrors what the kernel holds, it is no edit of the user's.
  notebook.transact(() => {
    for (const cell of notebook.cells) {
      if (cell.cell_type !== 'code') {
        continue;
      }
      const code = cell as ISharedCodeCell;
      const outputs = code.getOutputs();
      const stale = outputs.map(output => {
        const model = markedModel(output);
        return model !== null && !live.has(model);
      });
      if (stale.includes(true)) {
        // The whole list: JupyterLab's output area appends each inserted output at its end,
        // so replacing one in the middle would reorder what the cell shows.
        code.setOutputs(outputs.map((output, i) => (stale[i] ? withoutView(output) : output)));
        changed += stale.filter(Boolean).length;
      }
    }
  }, false);
  return changed;
}

function withoutView(output: Output): Output {
  const data = { ...(output.data as { [mime: string]: unknown }) };
  delete data[WIDGET_VIEW];
  return { ...output, data } as Output;
}
