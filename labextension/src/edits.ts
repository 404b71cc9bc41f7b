/**
 * What a request does to the notebook, worked out from plain cell data (ids and sources)
 * so that it can be tested without JupyterLab; apply.ts carries the plan out.
 */

import { cellOf, type Request } from './messages';

export interface ICellInfo {
  id: string;
  source: string;
}

/** Replace `source.slice(from, to)` by `text`. */
export interface ISplice {
  from: number;
  to: number;
  text: string;
}

// A type, not an interface, so that it fits the shared model's loosely typed cell input.
export type NewCell = {
  cell_type: 'code' | 'markdown';
  source: string;
};

export type Plan =
  | { kind: 'splice'; index: number; splice: ISplice }
  | { kind: 'insert'; index: number; cells: NewCell[] }
  | { kind: 'error'; message: string };

/** The edit that carries out `request` on a notebook whose cells are `cells`, in order. */
export function planRequest(cells: readonly ICellInfo[], request: Request): Plan {
  const id = cellOf(request);
  const index = cells.findIndex(cell => cell.id === id);
  if (index < 0) {
    return error(`cell ${id} is no longer in the notebook (deleted?); nothing was changed`);
  }
  if (request.type === 'tutorial') {
    return {
      kind: 'insert',
      index: index + 1,
      cells: [
        { cell_type: 'markdown', source: request.markdown },
        { cell_type: 'code', source: request.code }
      ]
    };
  }
  if (request.mode === 'insert') {
    const cells: NewCell[] = [{ cell_type: 'code', source: request.source }];
    return { kind: 'insert', index: index + 1, cells };
  }
  const splice = bodySplice(cells[index].source, request.source);
  if (splice === null) {
    return error(
      `cell ${id} no longer starts with a %%cuda_optimize line; nothing was changed`
    );
  }
  return { kind: 'splice', index, splice };
}

/**
 * The splice that keeps a magic cell's first line and puts `source` below it, or null when
 * the cell does not start with a cell magic: keeping "the first line" of a cell whose magic
 * was removed would glue the new kernel onto whatever code the user wrote there. Blank
 * lines before the magic are kept, as IPython allows them.
 */
export function bodySplice(old: string, source: string): ISplice | null {
  const magic = /^(?:[ \t]*\r?\n)*%%[^\n]*/.exec(old);
  if (magic === null) {
    return null;
  }
  return { from: magic[0].length, to: old.length, text: '\n' + source };
}

/** `old` with `splice` applied: what the cell will hold. */
export function spliced(old: string, splice: ISplice): string {
  return old.slice(0, splice.from) + splice.text + old.slice(splice.to);
}

function error(message: string): Plan {
  return { kind: 'error', message };
}
