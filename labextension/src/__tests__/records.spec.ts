import { YNotebook } from '@jupyter/ydoc';

import { liveModels, markedModel, showRecords, WIDGET_VIEW } from '../records';

// See apply.spec.ts: yjs warns about every cell @jupyter/ydoc builds before adding it.
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

const view = (model: string) => ({ version_major: 2, version_minor: 0, model_id: model });
// What the kernel leaves in the magic's cell when a session ends (_output.py).
const record = {
  output_type: 'display_data',
  data: {
    [WIDGET_VIEW]: view('m1'),
    'text/html': '<div>kernelmagic session s1: finished</div>',
    'text/plain': 'kernelmagic session s1: finished'
  },
  metadata: { kernelmagic: { record: 's1' } }
};
const live = {
  output_type: 'display_data',
  data: { [WIDGET_VIEW]: view('m2'), 'text/plain': 'kernelmagic session s2: a live widget' },
  metadata: { kernelmagic: { live: 's2' } }
};
const otherWidget = {
  output_type: 'display_data',
  data: { [WIDGET_VIEW]: view('m3'), 'text/plain': 'IntSlider(value=0)' },
  metadata: {}
};
const stderr = { output_type: 'stream', name: 'stderr', text: 'a warning\n' };

describe('showRecords', () => {
  let notebook: YNotebook;
  const outputs = (i: number) => (notebook.cells[i] as any).getOutputs();

  beforeEach(() => {
    notebook = YNotebook.create({
      data: {
        cells: [
          { id: 'a', cell_type: 'code', source: 'x', metadata: {}, outputs: [otherWidget] },
          {
            id: 'b',
            cell_type: 'code',
            source: '%%cuda_optimize',
            metadata: {},
            outputs: [record, stderr],
            execution_count: 3
          },
          { id: 'c', cell_type: 'markdown', source: '# notes', metadata: {} },
          { id: 'd', cell_type: 'code', source: '%%cuda_optimize', metadata: {}, outputs: [live] }
        ]
      }
    });
    notebook.undoManager.clear();
  });

  afterEach(() => notebook.dispose());

  it('drops the widget view of marked outputs whose model the kernel lacks', () => {
    expect(showRecords(notebook, new Set(['m3']))).toBe(2);
    const { [WIDGET_VIEW]: _, ...kept } = record.data;
    expect(outputs(1)).toEqual([{ ...record, data: kept }, stderr]); // order and rest kept
    expect(outputs(3)[0].data).toEqual({ 'text/plain': 'kernelmagic session s2: a live widget' });
    expect(outputs(0)).toEqual([otherWidget]); // not kernelmagic's: the widget manager's
    expect(notebook.cells[1].toJSON()).toMatchObject({
      execution_count: 3,
      source: '%%cuda_optimize'
    });
    expect(notebook.undoManager.canUndo()).toBe(false); // nothing for Z to take back
  });

  it('keeps the view of a model the kernel still holds', () => {
    expect(showRecords(notebook, new Set(['m1', 'm2']))).toBe(0);
    expect(outputs(1)).toEqual([record, stderr]);
    expect(outputs(3)).toEqual([live]);
    expect(showRecords(notebook, new Set(['m1']))).toBe(1);
    expect(outputs(1)).toEqual([record, stderr]);
    expect(showRecords(notebook, new Set())).toBe(1); // m2's view is gone already
  });
});

describe('markedModel', () => {
  it('names the model of a marked widget output only', () => {
    expect(markedModel(record as any)).toBe('m1');
    expect(markedModel(otherWidget as any)).toBeNull();
    expect(markedModel(stderr as any)).toBeNull();
    const closed = { ...record, data: { ...record.data, [WIDGET_VIEW]: view('') } };
    expect(markedModel(closed as any)).toBeNull();
  });
});

describe('liveModels', () => {
  const kernel = (status: string, comms: { [commId: string]: unknown }) => ({
    requested: [] as object[],
    requestCommInfo(content: { target_name: string }) {
      this.requested.push(content);
      return Promise.resolve({ content: { status, comms } });
    }
  });

  it("asks the kernel for its widget comms, whose ids are the models' ids", async () => {
    const k = kernel('ok', { m1: { target_name: 'jupyter.widget' } });
    expect(await liveModels(k)).toEqual(new Set(['m1']));
    expect(k.requested).toEqual([{ target_name: 'jupyter.widget' }]);
  });

  it('finds none without a kernel, and fails on an error reply', async () => {
    expect(await liveModels(null)).toEqual(new Set());
    await expect(liveModels(kernel('error', {}))).rejects.toThrow('comm_info');
  });
});
