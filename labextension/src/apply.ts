/**
 * Carry out a kernel's request on a notebook's shared model as one undoable edit, and say
 * how it went in the reply the kernel waits for.
 */

import type { INotebookModel } from '@jupyterlab/notebook';

import { planRequest } from './edits';
import { applied, cellOf, inserted, refusal, type Reply, type Request } from './messages';

export type SharedNotebook = INotebookModel['sharedModel'];

/** Whether the notebook holds the cell that `request` is about. */
export function holdsCell(notebook: SharedNotebook, request: Request): boolean {
  return notebook.cells.some(cell => cell.getId() === cellOf(request));
}

export function carryOut(notebook: SharedNotebook, request: Request): Reply {
  const cells = notebook.cells.map(cell => ({ id: cell.getId(), source: cell.getSource() }));
  const plan = planRequest(cells, request);
  if (plan.kind === 'error') {
    return refusal(request, plan.message);
  }
  if (plan.kind === 'splice') {
    // Through the cell's own transaction: Ctrl/Cmd-Z undoes the active cell's history, which
    // by default is kept per cell; with document-wide undo the cell defers to the notebook.
    const cell = notebook.cells[plan.index];
    const { from, to, text } = plan.splice;
    asOneUndoStep(cell, () => cell.updateSource(from, to, text));
    return applied(request.request, cell.getId());
  }
  // New cells can only be undone from the notebook's history (Z, "Undo Cell Operation").
  let ids: string[] = [];
  asOneUndoStep(notebook, () => {
    ids = notebook.insertCells(plan.index, plan.cells).map(cell => cell.getId());
  });
  return request.type === 'apply'
    ? applied(request.request, ids[0])
    : inserted(request.request, ids);
}

interface IUndoable {
  transact(edit: () => void): void;
}

/**
 * Run `edit` in one transaction, which the model's undo manager records as one step. The
 * manager also merges changes made within half a second of each other, so capturing is
 * stopped on both sides to keep the user's own edits out of that step.
 */
function asOneUndoStep(model: IUndoable, edit: () => void): void {
  // Not in the shared model interfaces, but every YNotebook and YCell has one.
  const manager = (model as { undoManager?: { stopCapturing(): void } | null }).undoManager;
  manager?.stopCapturing();
  model.transact(edit);
  manager?.stopCapturing();
}
