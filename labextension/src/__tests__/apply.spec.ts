import { YNotebook } from '@jupyter/ydoc';

import { carryOut, holdsCell } from '../apply';
import type { Request } from '../messages';

// @jupyter/ydoc builds a new cell (its text, its own undo manager) before adding it to
// the document, and yjs warns about that for every cell; hide those, keep all others.
const UPSTREAM = ['Invalid access: Add Yjs type to a document', 'Not same Y.Doc'];
const warn = console.warn;
beforeAll(() =>
  jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (!UPSTREAM.some(text => args.map(String).join(' ').includes(text))) {
      warn(...args);
    }
  })
);
afterAll(() => jest.restoreAllMocks());

// JupyterLab keeps undo history per cell by default, across the document when asked to.
// Ctrl/Cmd-Z undoes the active cell's history (cell.undo()); command-mode Z, "Undo Cell
// Operation", undoes the notebook's (notebook.undo()), the only one that holds new cells.
describe.each([true, false])('carryOut (per-cell undo: %s)', disableDocumentWideUndoRedo => {
  let notebook: YNotebook;
  const sources = () => notebook.cells.map(cell => cell.getSource());
  const types = () => notebook.cells.map(cell => cell.cell_type);
  const original = ['import numpy', '%%cuda_optimize -n 2\nold()', '# end'];

  beforeEach(() => {
    notebook = YNotebook.create({
      disableDocumentWideUndoRedo,
      data: {
        cells: [
          { id: 'a', cell_type: 'code', source: original[0], metadata: {} },
          { id: 'b', cell_type: 'code', source: original[1], metadata: {} },
          { id: 'c', cell_type: 'markdown', source: original[2], metadata: {} }
        ]
      }
    });
    // Loading the notebook is not an edit the user could undo.
    notebook.undoManager.clear();
    notebook.cells.forEach(cell => cell.clearUndoHistory());
  });

  afterEach(() => notebook.dispose());

  const apply = (mode: 'replace' | 'insert', cellId = 'b'): Request => ({
    type: 'apply',
    request: 7,
    cell_id: cellId,
    source: 'new()\n',
    mode
  });

  it('replaces the body in place; Ctrl/Cmd-Z in that cell undoes it in one step', () => {
    expect(carryOut(notebook, apply('replace'))).toEqual({
      type: 'applied',
      request: 7,
      ok: true,
      cell_id: 'b'
    });
    expect(sources()).toEqual(['import numpy', '%%cuda_optimize -n 2\nnew()\n', '# end']);
    expect(notebook.cells[1].undo()).toBe(true);
    expect(sources()).toEqual(original);
    expect(notebook.cells[1].canUndo()).toBe(false);
  });

  it('keeps typing made just before a replace out of its undo step', () => {
    notebook.cells[1].updateSource(0, 0, '\n');
    carryOut(notebook, apply('replace'));
    notebook.cells[1].undo();
    expect(sources()[1]).toBe('\n' + original[1]);
  });

  it('inserts a code cell below; the notebook undo removes it in one step', () => {
    const reply = carryOut(notebook, apply('insert'));
    expect(reply).toMatchObject({ type: 'applied', request: 7, ok: true });
    expect(notebook.cells[2].getId()).toBe(reply.cell_id);
    expect(sources()).toEqual(['import numpy', '%%cuda_optimize -n 2\nold()', 'new()\n', '# end']);
    expect(types()[2]).toBe('code');
    expect(notebook.undo()).toBe(true);
    expect(sources()).toEqual(original);
    expect(notebook.canUndo()).toBe(false);
  });

  it('inserts a tutorial as markdown then code, removed together', () => {
    const reply = carryOut(notebook, {
      type: 'tutorial',
      request: 8,
      anchor_id: 'a',
      markdown: '## How',
      code: 'run()'
    });
    expect(reply).toEqual({
      type: 'inserted',
      request: 8,
      ok: true,
      cell_ids: [notebook.cells[1].getId(), notebook.cells[2].getId()]
    });
    expect(types()).toEqual(['code', 'markdown', 'code', 'code', 'markdown']);
    expect(sources().slice(1, 3)).toEqual(['## How', 'run()']);
    notebook.undo();
    expect(notebook.cells.map(cell => cell.getId())).toEqual(['a', 'b', 'c']);
  });

  it('keeps a cell operation made just before an insert out of its undo step', () => {
    notebook.insertCell(0, { cell_type: 'code', source: 'first' });
    carryOut(notebook, apply('insert'));
    notebook.undo();
    expect(sources()).toEqual(['first', ...original]);
  });

  it('refuses, changing nothing, when the cell was deleted', () => {
    notebook.deleteCell(1);
    notebook.undoManager.clear();
    expect(holdsCell(notebook, apply('replace'))).toBe(false);
    expect(carryOut(notebook, apply('replace'))).toEqual({
      type: 'applied',
      request: 7,
      ok: false,
      message: 'cell b is no longer in the notebook (deleted?); nothing was changed'
    });
    expect(notebook.canUndo()).toBe(false);
    expect(sources()).toEqual([original[0], original[2]]);
  });
});
