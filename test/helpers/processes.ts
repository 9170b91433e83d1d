import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NODE_FLAGS } from '../../services/main/nodeFlags.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

/** A framelog process (api, worker, relay) run as a real child process, as in production. */
export class ServiceProcess {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, readonly child: ChildProcess) {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.raw.push(line);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ msg: line });
        }
        for (const wake of this.waiters) wake();
      });
    }
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line matching `predicate`, already logged or still to come. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.lines.find(predicate);
        if (hit) {
          cleanup();
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms. Output:\n${this.raw.slice(-40).join('\n')}`));
      }, timeoutMs);
      const onExit = () => {
        cleanup();
        reject(new Error(`${this.name} exited before the expected log line. Output:\n${this.raw.slice(-40).join('\n')}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        this.child.off('exit', onExit);
      };
      this.waiters.add(check);
      this.child.once('exit', onExit);
      check();
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/** Starts `services/main/<service>.ts` with tsx, as `npm run <service>` would. */
export function startService(name: string, service: 'api' | 'worker' | 'relay', env: Record<string, string>, nodeArgs: readonly string[] = []): ServiceProcess {
  return startEntry(name, `services/main/${service}.ts`, env, nodeArgs);
}

/**
 * Starts any entry point (path from the project root) with tsx and the services' NODE_FLAGS, e.g. a
 * test-only composition.
 * `nodeArgs` go to node itself (e.g. --cpu-prof, which node refuses in NODE_OPTIONS).
 */
export function startEntry(name: string, entry: string, env: Record<string, string>, nodeArgs: readonly string[] = []): ServiceProcess {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...nodeArgs, '--import', 'tsx', entry], {
    cwd: ROOT,
    // Many workers run at once in tests: each takes any free metrics port (it logs the one it got).
    env: { ...process.env, LOG_LEVEL: 'info', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new ServiceProcess(name, child);
}

export interface EntryRun {
  code: number;
  stdout: string;
  stderr: string;
}

const execFileAsync = promisify(execFile);

/** Runs a command-line entry point with tsx to its end, as `npm run <script>` would; a non-zero exit is a result, not a rejection. */
export async function runEntry(entry: string, args: readonly string[], env: Record<string, string> = {}): Promise<EntryRun> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Polls `condition` until it returns a truthy value or the deadline passes: waiting, never sleeping blind. */
export async function waitFor<T>(condition: () => Promise<T | undefined | null | false> | T | undefined | null | false, options: { timeoutMs?: number; intervalMs?: number; message?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out: ${options.message ?? 'condition not met'}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
