// Starts `weft lsp` through vscode-languageclient and keeps it in step with the editor: which
// documents it sees, whether runs are allowed, and the server commands behind the code lenses.
import * as vscode from 'vscode';
import {
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { DOCUMENT_SELECTOR, isWeftDocument } from './documents';
import {
  CommandResult,
  RUN_EVENT_NOTIFICATION,
  RUN_PROGRESS_TOKEN_PREFIX,
  RunEventParams,
  RunsParams,
  RunsResult,
  RUNS_REQUEST,
  ServerCommand,
  SESSIONS_CHANGED_NOTIFICATION,
  SESSIONS_REQUEST,
  SessionsChangedParams,
  SessionsParams,
  SessionsResult,
  STARTS_A_RUN,
} from './protocol';
import { INSTALL_HINT, resolveServerBinary, ServerBinary, ServerNotFoundError } from './serverPath';

/** "Request failed" is what the server answers after it told the user why (window/showMessage). */
const REQUEST_FAILED = -32803;

/**
 * The server's lens titles are plain text for every editor; in VS Code the hourglass of a running
 * stage becomes the spinning codicon (an emoji glyph is missing from many fonts and does not move).
 */
export function presentLens(lens: vscode.CodeLens): vscode.CodeLens {
  if (lens.command?.title.startsWith('⏳')) {
    lens.command.title = '$(sync~spin)' + lens.command.title.slice('⏳'.length);
  }
  return lens;
}

export function runsAllowed(): boolean {
  return vscode.workspace.isTrusted && vscode.workspace.getConfiguration('weft').get<boolean>('runs.enabled', true);
}

export class WeftClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  /** Documents the server has been told about (didOpen forwarded), by URI. */
  private readonly synced = new Set<string>();
  private readonly stateChanged = new vscode.EventEmitter<State>();
  readonly onDidChangeState = this.stateChanged.event;
  private readonly runEvent = new vscode.EventEmitter<RunEventParams>();
  readonly onRunEvent = this.runEvent.event;
  private readonly sessionsChanged = new vscode.EventEmitter<SessionsChangedParams>();
  /** A workspace's sessions changed (here, or by `weft phase complete` in a terminal). */
  readonly onSessionsChanged = this.sessionsChanged.event;
  binary: ServerBinary | undefined;
  /** Why the server is not running, when it is not. */
  failure: string | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly output: vscode.OutputChannel,
  ) {}

  get languageClient(): LanguageClient | undefined {
    return this.client;
  }

  get isRunning(): boolean {
    return this.client?.state === State.Running;
  }

  dispose(): void {
    void this.stop();
    this.stateChanged.dispose();
    this.runEvent.dispose();
    this.sessionsChanged.dispose();
  }

  /** Starts the server; shows the user what to do if it cannot be found or does not start. */
  start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => (this.starting = undefined));
    }
    return this.starting;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.synced.clear();
    if (client) {
      try {
        await client.stop(5000);
      } catch {
        // Already dead: nothing to stop.
      }
      await client.dispose().catch(() => undefined);
    }
  }

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    const settings = vscode.workspace.getConfiguration('weft');
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath;
    try {
      this.binary = resolveServerBinary(settings.get<string>('server.path', ''), this.context.extensionPath, folder);
    } catch (error) {
      if (error instanceof ServerNotFoundError) {
        this.failure = error.message;
        this.output.appendLine(error.message);
        void this.offerFix(error.message);
        return;
      }
      throw error;
    }
    this.failure = undefined;
    const extraArgs = settings.get<string[]>('server.extraArgs', []);
    this.output.appendLine(`Starting ${this.binary.command} lsp (from ${this.binary.source})`);
    const serverOptions: ServerOptions = {
      command: this.binary.command,
      args: ['lsp', ...extraArgs],
      transport: TransportKind.stdio,
      options: { env: { ...process.env } },
    };
    const client = new LanguageClient('weft', 'weft', serverOptions, this.clientOptions());
    this.client = client;
    client.onDidChangeState((event) => {
      if (event.newState === State.Starting) {
        this.synced.clear();
      }
      this.stateChanged.fire(event.newState);
    });
    client.onNotification(RUN_EVENT_NOTIFICATION, (params: RunEventParams) => this.runEvent.fire(params));
    client.onNotification(SESSIONS_CHANGED_NOTIFICATION, (params: SessionsChangedParams) =>
      this.sessionsChanged.fire(params),
    );
    try {
      await client.start();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.failure = `The weft language server (${this.binary.command}) did not start: ${message}`;
      this.output.appendLine(this.failure);
      if (this.client === client) {
        this.client = undefined;
      }
      await client.dispose().catch(() => undefined);
      void this.offerFix(`${this.failure}. ${INSTALL_HINT}.`);
    }
  }

  private async offerFix(message: string): Promise<void> {
    const openSettings = 'Open Settings';
    const showLog = 'Show Log';
    const choice = await vscode.window.showErrorMessage(message, openSettings, showLog);
    if (choice === openSettings) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'weft.server.path');
    } else if (choice === showLog) {
      this.output.show();
    }
  }

  private clientOptions(): LanguageClientOptions {
    const onlyWeft = <T>(document: vscode.TextDocument, call: () => T): T | undefined =>
      this.synced.has(document.uri.toString()) || isWeftDocument(document) ? call() : undefined;
    return {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: this.output,
      // The server says why a run was refused (window/showMessage); a second "request failed"
      // notification would only repeat it. Errors still go to the output channel.
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: { runs: { enabled: runsAllowed() } },
      markdown: { isTrusted: false, supportHtml: false },
      middleware: {
        // Every YAML file is matched by the selector; only weft files (by name or by their top-level
        // keys) are sent to the server. A file that becomes one while the user types is opened then.
        didOpen: (document, next) => {
          if (!isWeftDocument(document)) {
            return Promise.resolve();
          }
          this.synced.add(document.uri.toString());
          return next(document);
        },
        didChange: async (event, next) => {
          const uri = event.document.uri.toString();
          if (this.synced.has(uri)) {
            return next(event);
          }
          if (isWeftDocument(event.document) && this.client) {
            this.synced.add(uri);
            const params = this.client.code2ProtocolConverter.asOpenTextDocumentParams(event.document);
            await this.client.sendNotification(DidOpenTextDocumentNotification.type, params);
          }
        },
        didClose: (document, next) => {
          return this.synced.delete(document.uri.toString()) ? next(document) : Promise.resolve();
        },
        didSave: (document, next) => {
          return this.synced.has(document.uri.toString()) ? next(document) : Promise.resolve();
        },
        provideCompletionItem: (d, p, c, t, next) => onlyWeft(d, () => next(d, p, c, t)),
        provideHover: (d, p, t, next) => onlyWeft(d, () => next(d, p, t)),
        provideDefinition: (d, p, t, next) => onlyWeft(d, () => next(d, p, t)),
        provideReferences: (d, p, o, t, next) => onlyWeft(d, () => next(d, p, o, t)),
        prepareRename: (d, p, t, next) => onlyWeft(d, () => next(d, p, t)),
        provideRenameEdits: (d, p, n, t, next) => onlyWeft(d, () => next(d, p, n, t)),
        provideDocumentSymbols: (d, t, next) => onlyWeft(d, () => next(d, t)),
        provideFoldingRanges: (d, c, t, next) => onlyWeft(d, () => next(d, c, t)),
        provideInlayHints: (d, r, t, next) => onlyWeft(d, () => next(d, r, t)),
        provideDocumentLinks: (d, t, next) => onlyWeft(d, () => next(d, t)),
        provideCodeActions: (d, r, c, t, next) => onlyWeft(d, () => next(d, r, c, t)),
        provideCodeLenses: async (d, t, next) => {
          const lenses = await onlyWeft(d, () => next(d, t));
          return lenses?.map(presentLens);
        },
        // The lenses' commands: save first (a run uses the file on disk), then ask the server.
        executeCommand: (command, args) => this.executeServerCommand(command, args),
        // Runs get the extension's own status bar item (with cancel); the client's generic window
        // progress would show the same run a second time.
        handleWorkDoneProgress: (token, params, next) => {
          if (String(token).startsWith(RUN_PROGRESS_TOKEN_PREFIX)) {
            return;
          }
          next(token, params);
        },
      },
    };
  }

  /**
   * Runs a server command (workspace/executeCommand). Its error, if any, is logged and shown.
   */
  async executeServerCommand(command: string, args: unknown[]): Promise<CommandResult | undefined> {
    const client = this.client;
    if (!client || !this.isRunning) {
      void vscode.window.showErrorMessage(
        this.failure ?? 'The weft language server is not running. Run "weft: Restart the Language Server".',
      );
      return undefined;
    }
    if (command === ServerCommand.rollback) {
      // Rolling back runs the undo actions of completed stages: the user confirms it first.
      const run = typeof args[1] === 'number' ? ` ${args[1]}` : '';
      const choice = await vscode.window.showWarningMessage(
        `Roll back run${run}? The rollback actions of its completed stages run, the latest first.`,
        { modal: true },
        'Roll back',
      );
      if (choice !== 'Roll back') {
        return undefined;
      }
    }
    if (command === ServerCommand.skip && args.length < 4) {
      // The override is recorded with who and why.
      const reason = await vscode.window.showInputBox({
        prompt: `Why skip \`${String(args[1])}\`? The reason is recorded with the override.`,
        ignoreFocusOut: true,
      });
      if (reason === undefined) {
        return undefined;
      }
      args = [args[0], args[1], args[2] ?? null, reason];
    }
    if (command === ServerCommand.reject && args.length < 4) {
      // A rejection fails the step with its reason, recorded with who rejected it.
      const reason = await vscode.window.showInputBox({
        prompt: `Why reject \`${String(args[1])}\`? The step fails with this reason.`,
        ignoreFocusOut: true,
        validateInput: (text) => (text.trim() ? undefined : 'A rejection needs a reason.'),
      });
      if (reason === undefined) {
        return undefined;
      }
      args = [args[0], args[1], args[2] ?? null, reason];
    }
    if (command === ServerCommand.startSession && typeof args[1] !== 'string') {
      // "▶ Start session" names no task: the user types its id.
      const task = await vscode.window.showInputBox({
        prompt: 'Task id of the session to start (or resume), like T-42',
        placeHolder: 'T-42',
        ignoreFocusOut: true,
        validateInput: (text) =>
          !text.trim() || /^[A-Za-z0-9_.-]+$/.test(text.trim()) ? undefined : 'Use letters, digits, _, . and - (like T-42).',
      });
      if (!task?.trim()) {
        return undefined;
      }
      args = [args[0], task.trim()];
    }
    if (command === ServerCommand.completePhase && args[2] === true && typeof args[3] !== 'string') {
      // An override is recorded with who and why; an empty reason cancels.
      const reason = await vscode.window.showInputBox({
        prompt: `Why complete the phase of ${String(args[1])} although checks fail? The reason is recorded with the override.`,
        ignoreFocusOut: true,
      });
      if (!reason?.trim()) {
        return undefined;
      }
      args = [args[0], args[1], true, reason.trim()];
    }
    if (STARTS_A_RUN.has(command) && typeof args[0] === 'string') {
      await this.saveBeforeRun(args[0]);
    }
    try {
      return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as CommandResult;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.output.appendLine(`${command} ${JSON.stringify(args)} failed: ${message}`);
      // The server answers a command it refuses (unsaved file, runs disabled, nothing to resume)
      // with RequestFailed and the reason, and shows nothing itself: the reason is shown here.
      const refused = error instanceof ResponseError && error.code === REQUEST_FAILED;
      void vscode.window.showErrorMessage(refused ? `weft: ${message}` : `weft: ${command} failed: ${message}`);
      return undefined;
    }
  }

  private async saveBeforeRun(uri: string): Promise<void> {
    if (!vscode.workspace.getConfiguration('weft').get<boolean>('runs.saveBeforeRun', true)) {
      return;
    }
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    if (document?.isDirty) {
      await document.save();
    }
  }

  async runs(params: RunsParams): Promise<RunsResult | undefined> {
    if (!this.client || !this.isRunning) {
      return undefined;
    }
    return this.client.sendRequest<RunsResult>(RUNS_REQUEST, params);
  }

  async sessions(params: SessionsParams): Promise<SessionsResult | undefined> {
    if (!this.client || !this.isRunning) {
      return undefined;
    }
    return this.client.sendRequest<SessionsResult>(SESSIONS_REQUEST, params);
  }

  /** Tells the server whether runs are allowed now (trust granted, or the setting changed). */
  async sendRunsEnabled(): Promise<void> {
    if (!this.client || !this.isRunning) {
      return;
    }
    await this.client.sendNotification('workspace/didChangeConfiguration', {
      settings: { weft: { runs: { enabled: runsAllowed() } } },
    });
  }

  /** True when the server has been sent this document. */
  isSynced(uri: vscode.Uri): boolean {
    return this.synced.has(uri.toString());
  }
}
