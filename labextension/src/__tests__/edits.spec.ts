import { bodySplice, type ICellInfo, planRequest, spliced } from '../edits';
import type { IApplyRequest, ITutorialRequest } from '../messages';

const replaced = (old: string, source: string) => {
  const splice = bodySplice(old, source);
  return splice === null ? null : spliced(old, splice);
};

describe('bodySplice', () => {
  it('keeps the magic line and replaces everything below it', () => {
    expect(replaced('%%cuda_optimize -n 3\nold()\nmore()\n', 'new()\n')).toBe(
      '%%cuda_optimize -n 3\nnew()\n'
    );
  });

  it('touches only the body, so the magic line and its options stay as they were', () => {
    const old = '%%cuda_optimize --budget 5\nold()';
    expect(bodySplice(old, 'new()')).toEqual({ from: 26, to: old.length, text: '\nnew()' });
  });

  it('adds a body to a cell that is only the magic line', () => {
    expect(replaced('%%cuda_optimize', 'k()')).toBe('%%cuda_optimize\nk()');
  });

  it('keeps blank lines before the magic, and CRLF line ends', () => {
    expect(replaced('\n  \n%%cuda_optimize\nold', 'new')).toBe('\n  \n%%cuda_optimize\nnew');
    expect(replaced('%%cuda_optimize\r\nold\r\n', 'new')).toBe('%%cuda_optimize\r\nnew');
  });

  it('refuses a cell whose magic line is gone', () => {
    expect(replaced('x = 1\n%%cuda_optimize\n', 'new')).toBeNull();
    expect(replaced('', 'new')).toBeNull();
  });
});

describe('planRequest', () => {
  const cells: ICellInfo[] = [
    { id: 'a', source: 'import numpy' },
    { id: 'b', source: '%%cuda_optimize\nold()' },
    { id: 'c', source: 'print(1)' }
  ];
  const apply = (mode: 'replace' | 'insert', cellId = 'b'): IApplyRequest => ({
    type: 'apply',
    request: 1,
    cell_id: cellId,
    source: 'new()',
    mode
  });
  const tutorial: ITutorialRequest = {
    type: 'tutorial',
    request: 2,
    anchor_id: 'c',
    markdown: '## Why',
    code: 'run()'
  };

  it('replaces the body of the cell named by id, wherever it is', () => {
    expect(planRequest(cells, apply('replace'))).toEqual({
      kind: 'splice',
      index: 1,
      splice: { from: 15, to: 21, text: '\nnew()' }
    });
  });

  it('inserts one code cell right below the named cell', () => {
    expect(planRequest(cells, apply('insert'))).toEqual({
      kind: 'insert',
      index: 2,
      cells: [{ cell_type: 'code', source: 'new()' }]
    });
  });

  it('inserts a tutorial as markdown then code below its anchor, even the last cell', () => {
    expect(planRequest(cells, tutorial)).toEqual({
      kind: 'insert',
      index: 3,
      cells: [
        { cell_type: 'markdown', source: '## Why' },
        { cell_type: 'code', source: 'run()' }
      ]
    });
  });

  it('says why when the cell is gone or no longer a magic cell', () => {
    expect(planRequest(cells, apply('replace', 'zz'))).toEqual({
      kind: 'error',
      message: 'cell zz is no longer in the notebook (deleted?); nothing was changed'
    });
    expect(planRequest(cells, { ...tutorial, anchor_id: 'zz' }).kind).toBe('error');
    expect(planRequest(cells, apply('replace', 'a'))).toEqual({
      kind: 'error',
      message: 'cell a no longer starts with a %%cuda_optimize line; nothing was changed'
    });
    // Inserting below a cell that lost its magic is still fine: nothing is overwritten.
    expect(planRequest(cells, apply('insert', 'a')).kind).toBe('insert');
  });
});
