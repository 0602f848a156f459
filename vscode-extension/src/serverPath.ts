// Finds the `weft` binary: the weft.server.path setting, else the binary bundled in the extension
// (bin/weft), else `weft` on PATH.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface ServerBinary {
  command: string;
  /** Where the path came from, for messages. */
  source: 'setting' | 'bundled' | 'PATH';
}

export class ServerNotFoundError extends Error {}

const EXE = process.platform === 'win32' ? '.exe' : '';

function isExecutable(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Expands a leading `~` and `${userHome}`, as users write them in settings. */
function expandHome(file: string): string {
  if (file === '~' || file.startsWith('~/')) {
    return path.join(os.homedir(), file.slice(1));
  }
  return file.replace(/\$\{userHome\}/g, os.homedir());
}

export function findOnPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  const extensions = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE').split(';') : [''];
  for (const dir of envPath.split(path.delimiter).filter(Boolean)) {
    for (const extension of extensions) {
      const candidate = path.join(dir, name + extension);
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

export const INSTALL_HINT = 'Install with `cargo install --path server` or set weft.server.path';

/**
 * @param setting the weft.server.path setting (empty when unset)
 * @param extensionPath the extension's folder, which may hold a bundled bin/weft
 * @param workspaceFolder relative settings are resolved against it
 * @param envPath the PATH to search
 */
export function resolveServerBinary(
  setting: string,
  extensionPath: string,
  workspaceFolder?: string,
  envPath = process.env.PATH ?? '',
): ServerBinary {
  const configured = setting.trim();
  if (configured) {
    let file = expandHome(configured);
    if (!path.isAbsolute(file) && (file.includes('/') || file.includes('\\'))) {
      file = path.resolve(workspaceFolder ?? process.cwd(), file);
    }
    const command = path.isAbsolute(file) ? file : findOnPath(file, envPath);
    if (command && isExecutable(command)) {
      return { command, source: 'setting' };
    }
    throw new ServerNotFoundError(
      `weft.server.path is "${configured}", which is not an executable file. Fix the setting, or clear it to use \`weft\` on PATH (${INSTALL_HINT}).`,
    );
  }
  const bundled = path.join(extensionPath, 'bin', 'weft' + EXE);
  if (isExecutable(bundled)) {
    return { command: bundled, source: 'bundled' };
  }
  const onPath = findOnPath('weft', envPath);
  if (onPath) {
    return { command: onPath, source: 'PATH' };
  }
  throw new ServerNotFoundError(`The weft language server was not found: no \`weft\` on PATH. ${INSTALL_HINT}.`);
}
