import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type pg from 'pg';
import { renderTable } from './results.js';

const run = promisify(execFile);

/**
 * CPU time by role (workers, PostgreSQL backends, RabbitMQ...) over a stretch of a benchmark, read from
 * /proc (Linux). On a machine whose cores the whole deployment shares, throughput is bounded by the CPU
 * all processes spend per task together, so this says where a gap comes from, not only that it exists.
 */
export interface CpuRoles {
  /** Role of each process known by pid (the benchmark's own children and this process). */
  pids: ReadonlyMap<number, string>;
  /** The benchmark's database: its backends are labelled by application_name. */
  pool: pg.Pool;
}

type Ticks = Map<number, { comm: string; ticks: number }>;

export interface CpuMeter {
  /** CPU milliseconds per role since start(), divided by `per` (e.g. tasks). */
  stop(per: number): Promise<Record<string, number>>;
}

let clockTicks: number | undefined;

export async function ticksPerSecond(): Promise<number> {
  clockTicks ??= Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  return clockTicks;
}

/** utime + stime of every process (all its threads), in clock ticks. */
async function readTicks(): Promise<Ticks> {
  const ticks: Ticks = new Map();
  const entries = await readdir('/proc');
  await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name))
      .map(async (name) => {
        // A process may exit between readdir and this read.
        const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => null);
        if (stat === null) return;
        const open = stat.indexOf('(');
        const close = stat.lastIndexOf(')');
        const fields = stat.slice(close + 2).split(' ');
        // Fields 14 and 15 of stat(5); `fields` starts at field 3.
        ticks.set(Number(name), { comm: stat.slice(open + 1, close), ticks: Number(fields[11]) + Number(fields[12]) });
      }),
  );
  return ticks;
}

/** PostgreSQL backends of the benchmark's database, by their application_name. */
async function backendRoles(pool: pg.Pool): Promise<Map<number, string>> {
  const { rows } = await pool.query<{ pid: number; application_name: string }>(
    `select pid, application_name from pg_stat_activity where datname = current_database()`,
  );
  return new Map(rows.map((r) => [r.pid, `PostgreSQL: ${r.application_name || 'unnamed'} backends`]));
}

function roleOf(pid: number, comm: string, roles: CpuRoles, backends: ReadonlyMap<number, string>): string {
  const known = roles.pids.get(pid) ?? backends.get(pid);
  if (known !== undefined) return known;
  if (comm === 'postgres') return 'PostgreSQL: background processes';
  if (comm === 'beam.smp') return 'RabbitMQ';
  return 'other';
}

export async function startCpuMeter(roles: CpuRoles): Promise<CpuMeter> {
  const hz = await ticksPerSecond();
  // Backends are listed at both ends: a pool may open connections during the run.
  const before = await backendRoles(roles.pool);
  const start = await readTicks();
  return {
    async stop(per) {
      const end = await readTicks();
      const backends = new Map([...before, ...(await backendRoles(roles.pool))]);
      const byRole = new Map<string, number>();
      for (const [pid, { comm, ticks }] of end) {
        const spent = ticks - (start.get(pid)?.ticks ?? 0);
        if (spent <= 0) continue;
        const role = roleOf(pid, comm, roles, backends);
        byRole.set(role, (byRole.get(role) ?? 0) + spent);
      }
      const perUnit = [...byRole].map(([role, spent]) => [role, (spent * 1000) / hz / per] as const).sort((a, b) => b[1] - a[1]);
      const total = perUnit.reduce((sum, [, ms]) => sum + ms, 0);
      return Object.fromEntries([...perUnit, ['total', total]]);
    },
  };
}

/** Breakdowns side by side (one column per side, e.g. framelog and its baselines), as a table for the console. */
export function formatCpuTable(title: string, sides: Record<string, Record<string, number>>): string {
  const columns = Object.values(sides);
  const total = (role: string) => columns.reduce((sum, side) => sum + (side[role] ?? 0), 0);
  const roles = [...new Set(columns.flatMap((side) => Object.keys(side)))].filter((r) => r !== 'total');
  roles.sort((a, b) => total(b) - total(a));
  const fmt = (ms: number | undefined) => (ms === undefined ? '—' : ms.toFixed(3));
  const lines = [...roles, 'total'].map((role) => [role, ...columns.map((side) => fmt(side[role]))]);
  return `${title}\n${renderTable(['process', ...Object.keys(sides)], lines)}`;
}
