import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import pg from 'pg';
import { request } from 'node:http';
import { outboxLag } from '../../services/eventstore/outbox.js';
import { startEntry, waitFor } from '../../test/helpers/processes.js';
import { startPipeline } from '../lib/pipeline.js';
import { row, type BenchRow } from '../lib/results.js';
import { openLoop, percentile, runConcurrently } from '../lib/stats.js';
import { appendUploadEvent } from '../lib/uploadEvent.js';

/** The projection's fields (no `history`): one `videos` row, which is what loadVideo reads. */
const VIDEO_BY_ID = `query Video($id: ID!) {
  video(id: $id) {
    id status attempts version title originalFilename sizeBytes sha256
    lastError { code message retryable attempt }
    media { durationSeconds width height videoCodec audioCodec frameRate rotation }
    renditions { label width height sizeBytes url }
    posterUrl
  }
}`;

/** What `video(id)` runs against PostgreSQL (eventstore/videos.ts loadVideo). */
const RAW_QUERY = 'select * from videos where id = $1';

/** Runs `clients` loops of `requests` calls each, all at once; returns every call's latency in ms. */
async function closedLoop(clients: number, requests: number, call: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  await runConcurrently(clients, clients, async (client) => {
    for (let i = 0; i < requests; i += 1) {
      const started = performance.now();
      await call(client * requests + i);
      latencies.push(performance.now() - started);
    }
  });
  return latencies;
}

function postJson(agent: Agent, url: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface VideoOptions {
  clients: number;
  requestsPerClient: number;
  /** The open-loop run: requests per second, for this many seconds. */
  rate: number;
  seconds: number;
  videos?: number;
}

/** Latencies (ms) of the API, the raw query and the bare handler in one run. */
interface Sides {
  api: number[];
  raw: number[];
  bare: number[];
}

const summary = (sides: Sides) =>
  Object.fromEntries(Object.entries(sides).map(([side, ms]: [string, number[]]) => [side, { p50: percentile(ms, 50), p99: percentile(ms, 99), requests: ms.length }]));

/**
 * Closed loop (`clients` keep-alive clients, each waiting for its answer): judged against the bare node
 * handler running the same query for the same clients; against the raw query it is printed only, since
 * HTTP on the same two cores is already above it. Open loop at `rate` req/s: judged against the raw
 * query at that rate, where nothing saturates and p99 shows what each request costs.
 */
function videoRows(options: VideoOptions, closed: Sides, open: Sides): BenchRow[] {
  const details = { closedLoop: summary(closed), openLoop: summary(open) };
  const base = { benchmark: 'video(id)', unit: 'ms', comparison: '<=', details } as const;
  const closedMeasure = `p99, ${options.clients} concurrent clients`;
  const openMeasure = `p99, open loop at ${options.rate} req/s for ${options.seconds} s`;
  console.log(`Open loop at ${options.rate} req/s, p99 of the bare node http handler: ${percentile(open.bare, 99).toFixed(1)} ms.`);
  return [
    row({ ...base, measure: `${closedMeasure}, vs a bare node http handler`, framelog: percentile(closed.api, 99), baseline: percentile(closed.bare, 99), limit: 2 }),
    row({ ...base, measure: `${closedMeasure}, vs the raw query`, framelog: percentile(closed.api, 99), baseline: percentile(closed.raw, 99), limit: Number.POSITIVE_INFINITY }),
    row({ ...base, measure: `${openMeasure}, vs the raw query`, framelog: percentile(open.api, 99), baseline: percentile(open.raw, 99), limit: 3 }),
  ];
}

export async function videoQueryBenchmark(options: VideoOptions): Promise<BenchRow[]> {
  const pipeline = await startPipeline({ workers: 0 });
  try {
    const { db } = pipeline.database;
    const ids: string[] = [];
    for (let i = 0; i < (options.videos ?? 1_000); i += 1) ids.push(await appendUploadEvent(db));
    const pick = (i: number) => ids[(i * 7919) % ids.length] ?? randomUUID();
    // Each append queued a task: let the relay (inside the API, on the same pool) publish them all first,
    // so the queries are measured against an otherwise idle API, like the raw side's idle pool.
    await waitFor(async () => (await outboxLag(db)).count === 0, { timeoutMs: 120_000, message: 'the relay to empty the outbox' });

    // One keep-alive connection per client, as 50 real clients would hold.
    const agent = new Agent({ keepAlive: true, maxSockets: options.clients });
    const callHttp = (url: string, what: string) => async (i: number) => {
      const id = pick(i);
      const body = await postJson(agent, url, JSON.stringify({ query: VIDEO_BY_ID, variables: { id } }));
      if (!body.includes(id)) throw new Error(`${what} did not return ${id}: ${body.slice(0, 300)}`);
    };
    const callApi = callHttp(`${pipeline.apiUrl}/graphql`, 'video(id)');
    // The API's pool has PG_POOL_MAX (10) connections; the raw side gets the same.
    const pool = new pg.Pool({ connectionString: pipeline.database.url, max: 10 });
    const callRaw = async (i: number) => {
      const { rowCount } = await pool.query(RAW_QUERY, [pick(i)]);
      if (rowCount !== 1) throw new Error('the raw query found no row');
    };
    // The floor of any HTTP API for this query here: the closed-loop row's baseline.
    const bareServer = startEntry('raw-video-server', 'bench/raw/rawVideoServer.ts', { DATABASE_URL: pipeline.database.url });
    try {
      const callBare = callHttp(String((await bareServer.waitForLog((l) => l.msg === 'listening')).url), 'the bare handler');
      // Warm-up for all three: connections opened, plans and JIT-compiled code in place.
      await closedLoop(options.clients, 5, callApi);
      await closedLoop(options.clients, 5, callRaw);
      await closedLoop(options.clients, 5, callBare);
      const closed = {
        api: await closedLoop(options.clients, options.requestsPerClient, callApi),
        raw: await closedLoop(options.clients, options.requestsPerClient, callRaw),
        bare: await closedLoop(options.clients, options.requestsPerClient, callBare),
      };
      const count = options.rate * options.seconds;
      const open = {
        api: await openLoop(options.rate, count, callApi),
        raw: await openLoop(options.rate, count, callRaw),
        bare: await openLoop(options.rate, count, callBare),
      };
      return videoRows(options, closed, open);
    } finally {
      agent.destroy();
      await pool.end();
      await bareServer.stop('SIGKILL');
    }
  } finally {
    await pipeline.close();
  }
}
