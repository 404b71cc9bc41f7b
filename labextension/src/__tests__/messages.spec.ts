import { hello, parseMessage, refusal } from '../messages';

const apply = { type: 'apply', request: 3, cell_id: 'c1', source: 'x = 1', mode: 'replace' };
const tutorial = { type: 'tutorial', request: 4, anchor_id: 'c1', markdown: '# Hi', code: 'y' };

describe('parseMessage', () => {
  it('accepts a hello, an apply in both modes and a tutorial', () => {
    expect(parseMessage({ type: 'hello' })).toEqual({ kind: 'hello' });
    expect(parseMessage(apply)).toEqual({ kind: 'request', request: apply });
    const insert = { ...apply, mode: 'insert' };
    expect(parseMessage(insert)).toEqual({ kind: 'request', request: insert });
    expect(parseMessage(tutorial)).toEqual({ kind: 'request', request: tutorial });
  });

  it('drops what it cannot answer: no object, unknown type, no request number', () => {
    const unanswerable = [null, 'apply', [apply], { type: 'bye', request: 1 }, { ...apply, request: 1.5 }];
    for (const data of unanswerable) {
      const parsed = parseMessage(data);
      expect(parsed.kind).toBe('invalid');
      expect(parsed.kind === 'invalid' && parsed.reply).toBeNull();
    }
  });

  it('refuses a malformed request with a reply the kernel can match', () => {
    expect(parseMessage({ ...apply, mode: 'overwrite' })).toEqual({
      kind: 'invalid',
      message: 'unknown apply mode "overwrite"',
      reply: {
        type: 'applied',
        request: 3,
        ok: false,
        message: 'unknown apply mode "overwrite"'
      }
    });
    const noCode = parseMessage({ ...tutorial, code: 7 });
    expect(noCode.kind === 'invalid' && noCode.reply).toMatchObject({
      type: 'inserted',
      request: 4,
      ok: false
    });
    const noSource = parseMessage({ ...apply, source: undefined });
    expect(noSource.kind === 'invalid' && noSource.message).toBe(
      'the apply message has no string "source"'
    );
    const emptyAnchor = parseMessage({ ...tutorial, anchor_id: '' });
    expect(emptyAnchor.kind === 'invalid' && emptyAnchor.reply).toMatchObject({ ok: false });
  });
});

describe('replies', () => {
  it('say hello with the version and refuse with the right reply type', () => {
    expect(hello('0.1.0')).toEqual({ type: 'hello', version: '0.1.0' });
    expect(refusal(tutorial as never, 'gone')).toEqual({
      type: 'inserted',
      request: 4,
      ok: false,
      message: 'gone'
    });
  });
});
