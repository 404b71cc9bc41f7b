/**
 * The comm protocol with the kernel (kernelmagic/notebook/lab.py): what may arrive, checked at
 * the edge so the rest of the extension works with typed values, and the replies.
 */

export const TARGET = 'kernelmagic';

export type ApplyMode = 'replace' | 'insert';

export interface IApplyRequest {
  type: 'apply';
  request: number;
  cell_id: string;
  source: string;
  mode: ApplyMode;
}

export interface ITutorialRequest {
  type: 'tutorial';
  request: number;
  anchor_id: string;
  markdown: string;
  code: string;
}

export type Request = IApplyRequest | ITutorialRequest;

export type Reply = { [key: string]: string | number | boolean | string[] };

/**
 * What to do with one message: answer a hello, carry out a request, or refuse it. A refusal
 * carries a reply when the message named a request number, because the kernel waits on it.
 */
export type Parsed =
  | { kind: 'hello' }
  | { kind: 'request'; request: Request }
  | { kind: 'invalid'; message: string; reply: Reply | null };

const REPLY_TYPE = { apply: 'applied', tutorial: 'inserted' } as const;

// The first field of each is the id of the cell the request is about.
const FIELDS = {
  apply: ['cell_id', 'source', 'mode'],
  tutorial: ['anchor_id', 'markdown', 'code']
} as const;

/** Check a message from the kernel; nothing that fails here reaches the notebook. */
export function parseMessage(data: unknown): Parsed {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return invalid('the message is not an object', null);
  }
  const message = data as { [key: string]: unknown };
  const type = message.type;
  if (type === 'hello') {
    return { kind: 'hello' };
  }
  if (type !== 'apply' && type !== 'tutorial') {
    return invalid(`unknown message type ${JSON.stringify(type)}`, null);
  }
  const request = message.request;
  if (!Number.isInteger(request)) {
    return invalid(`a ${type} message without an integer request number`, null);
  }
  const refuse = (why: string) =>
    invalid(why, failed(REPLY_TYPE[type], request as number, why));
  for (const field of FIELDS[type]) {
    if (typeof message[field] !== 'string') {
      return refuse(`the ${type} message has no string "${field}"`);
    }
  }
  if (type === 'apply' && message.mode !== 'replace' && message.mode !== 'insert') {
    return refuse(`unknown apply mode ${JSON.stringify(message.mode)}`);
  }
  const idField = FIELDS[type][0];
  if (message[idField] === '') {
    return refuse(`the ${type} message has an empty "${idField}"`);
  }
  return { kind: 'request', request: message as unknown as Request };
}

/** The id of the cell a request is about. */
export function cellOf(request: Request): string {
  return request.type === 'apply' ? request.cell_id : request.anchor_id;
}

export function hello(version: string): Reply {
  return { type: 'hello', version };
}

export function applied(request: number, cellId: string): Reply {
  return { type: 'applied', request, ok: true, cell_id: cellId };
}

export function inserted(request: number, cellIds: string[]): Reply {
  return { type: 'inserted', request, ok: true, cell_ids: cellIds };
}

export function failed(
  type: 'applied' | 'inserted',
  request: number,
  message: string
): Reply {
  return { type, request, ok: false, message };
}

/** The refusal to send for a request that could not be carried out. */
export function refusal(request: Request, message: string): Reply {
  return failed(REPLY_TYPE[request.type], request.request, message);
}

function invalid(message: string, reply: Reply | null): Parsed {
  return { kind: 'invalid', message, reply };
}
