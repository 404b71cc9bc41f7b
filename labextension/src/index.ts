/**
 * The kernelmagic JupyterLab plugin: opens the `kernelmagic` comm target on every
 * notebook's kernel and hands the kernel's requests to apply.ts, and shows a saved session's
 * record where its widget is gone (records.ts). Only wiring lives here.
 */

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker, type NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel, KernelMessage } from '@jupyterlab/services';

import { carryOut, holdsCell } from './apply';
import { hello, parseMessage, type Reply, type Request, TARGET } from './messages';
import { liveModels, showRecords } from './records';

// The builder bundles package.json, so the version the kernel sees is the one published.
declare const require: (id: string) => { version: string };
const VERSION = require('../package.json').version;

type Context = NotebookPanel['context'];

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'kernelmagic:plugin',
  description: 'Lets %%cuda_optimize put a tuned kernel back into the notebook.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker) => {
    // A second view of a notebook shares its context, session and kernel: wire each once.
    const wired = new WeakSet<Context>();
    const watch = (panel: NotebookPanel) => {
      if (!wired.has(panel.context)) {
        wired.add(panel.context);
        watchKernel(panel.context, tracker);
        watchRecords(panel.context);
      }
    };
    tracker.forEach(watch);
    tracker.widgetAdded.connect((_, panel) => watch(panel));
  }
};

/** Register the comm target on the context's kernel now and on every new or restarted one. */
function watchKernel(context: Context, tracker: INotebookTracker): void {
  const session = context.sessionContext;
  const register = () =>
    session.session?.kernel?.registerCommTarget(TARGET, (comm, msg) =>
      openComm(comm, msg, context, tracker)
    );
  session.kernelChanged.connect(register);
  session.statusChanged.connect((_, status) => {
    if (status === 'restarting' || status === 'autorestarting') {
      register();
    }
  });
  register();
}

/**
 * Show the records of ended sessions whose widget the notebook's kernel does not hold: once
 * the notebook and its kernel are there, and again after every kernel change or restart.
 */
function watchRecords(context: Context): void {
  const session = context.sessionContext;
  let latest = 0;
  const check = async (restarted: boolean) => {
    const mine = ++latest;
    await context.ready;
    let live: Set<string>;
    try {
      live = restarted ? new Set() : await liveModels(session.session?.kernel);
    } catch (error) {
      console.warn(`kernelmagic: cannot ask the kernel for its widgets: ${error}`);
      return;
    }
    if (mine !== latest || context.isDisposed) {
      return; // a newer check (another kernel) decides
    }
    // The record was in the file already: showing it is no edit to save.
    const dirty = context.model.dirty;
    if (showRecords(context.model.sharedModel, live)) {
      context.model.dirty = dirty;
    }
  };
  void session.ready.then(() => check(false));
  session.kernelChanged.connect(() => void check(false));
  // A kernel that (re)starts or died holds no models: nothing to ask. A restart from this
  // page says 'restarting', one from elsewhere (another tab, the REST API) only 'starting'.
  session.statusChanged.connect((_, status) => {
    if (['starting', 'restarting', 'autorestarting', 'dead'].includes(status)) {
      void check(true);
    }
  });
}

function openComm(
  comm: Kernel.IComm,
  msg: KernelMessage.ICommOpenMsg,
  context: Context,
  tracker: INotebookTracker
): void {
  const send = (reply: Reply) => void comm.send(reply);
  const handle = (data: unknown) => {
    const parsed = parseMessage(data);
    if (parsed.kind === 'hello') {
      send(hello(VERSION));
    } else if (parsed.kind === 'invalid') {
      console.warn(`kernelmagic: ignored a message from the kernel: ${parsed.message}`);
      if (parsed.reply) {
        send(parsed.reply);
      }
    } else if (context.isDisposed) {
      console.warn('kernelmagic: the notebook is closed; request ignored');
    } else {
      const notebook = context.model.sharedModel;
      // Notebooks sharing one kernel all get the request: only the one holding the cell
      // acts, and a refusal comes only when none of them holds it.
      const request = parsed.request;
      if (holdsCell(notebook, request) || !heldElsewhere(context, tracker, request)) {
        send(carryOut(notebook, request));
      }
    }
  };
  comm.onMsg = message => handle(message.content.data);
  handle(msg.content.data);
}

function heldElsewhere(context: Context, tracker: INotebookTracker, request: Request): boolean {
  const kernelId = context.sessionContext.session?.kernel?.id;
  const others = tracker.filter(
    panel =>
      panel.context !== context && panel.context.sessionContext.session?.kernel?.id === kernelId
  );
  return others.some(panel => panel.model && holdsCell(panel.model.sharedModel, request));
}

export default plugin;
