import { loadConfig, type Config } from '../config.js';
import { ErrorCode, FramelogError } from '../domain/errors.js';

/**
 * Exit code of a process that refuses to start with its configuration (a bad setting, production
 * without an API token, a port in use). `npm start` does not restart such a process: it stops.
 */
export const STARTUP_REFUSED_EXIT_CODE = 2;

/** Ends the process with one line saying what to do (`CODE: message`) and exit code 2. */
export function exitRefusingToStart(error: FramelogError): never {
  process.stderr.write(`${error.code}: ${error.message}\n`);
  process.exit(STARTUP_REFUSED_EXIT_CODE);
}

/**
 * For an entry point's start-up: a CONFIG_INVALID error ends the process as a refusal (one line,
 * exit 2); anything else is thrown on, as a crash that a supervisor may retry.
 */
export function exitIfRefused(error: unknown): never {
  if (error instanceof FramelogError && error.code === ErrorCode.CONFIG_INVALID) exitRefusingToStart(error);
  throw error;
}

const LISTEN_PROBLEMS: Record<string, string> = {
  EADDRINUSE: 'is in use',
  EACCES: 'needs privileges this process does not have',
  EADDRNOTAVAIL: 'is not an address of this machine',
};

/**
 * A failed listen on a port a setting chose, as a refusal naming that setting (CONFIG_INVALID), or
 * the error itself when it is not about the address.
 */
export function listenRefusal(error: unknown, setting: string, address: string): unknown {
  const problem = LISTEN_PROBLEMS[(error as NodeJS.ErrnoException | null)?.code ?? ''];
  if (problem === undefined) return error;
  return new FramelogError(ErrorCode.CONFIG_INVALID, `${setting}: ${address} ${problem}; set ${setting} to a free port (0 picks any) or stop what uses it.`, { cause: error });
}

/**
 * loadConfig for a process's entry point: a bad setting ends the process with one line naming it
 * (exit 2) instead of an uncaught exception's stack trace.
 */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    return exitIfRefused(error);
  }
}
