import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import pg from 'pg';
import { request } from 'node:http';
import { outboxLag } from '../../services/eventstore/outbox.js';
import { startEntry, waitFor } from '../../test/helpers/processes.js';
import { startPipeline } from '../lib/pipeline.js';
import { row, type BenchRow } from '../lib/results.js';
import { percentile, runConcurrently } from '../lib/stats.js';
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

export async function videoQueryBenchmark(options: { clients: number; requestsPerClient: number; videos?: number }): Promise<BenchRow[]> {
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
    // Not a target: how far above the raw query a bare HTTP handler already is, in the same run.
    const bareServer = startEntry('raw-video-server', 'bench/raw/rawVideoServer.ts', { DATABASE_URL: pipeline.database.url });
    try {
      const callBare = callHttp(String((await bareServer.waitForLog((l) => l.msg === 'listening')).url), 'the bare handler');
      // Warm-up for both: connections opened, plans and JIT-compiled code in place.
      await closedLoop(options.clients, 5, callApi);
      await closedLoop(options.clients, 5, callRaw);
      await closedLoop(options.clients, 5, callBare);
      const api = await closedLoop(options.clients, options.requestsPerClient, callApi);
      const raw = await closedLoop(options.clients, options.requestsPerClient, callRaw);
      const bare = await closedLoop(options.clients, options.requestsPerClient, callBare);
      const bareHttpP99 = percentile(bare, 99);
      console.log(
        `Floor: a bare node http handler running the same query, same clients: p99 ${bareHttpP99.toFixed(1)} ms, ` +
          `${(bareHttpP99 / percentile(raw, 99)).toFixed(2)}x the raw query (bench/raw/rawVideoServer.ts).`,
      );
      const details = { requests: api.length, apiP50: percentile(api, 50), rawP50: percentile(raw, 50), bareHttpP50: percentile(bare, 50), bareHttpP99 };
      return [
        row({
          benchmark: 'video(id)',
          measure: `p99, ${options.clients} concurrent clients`,
          unit: 'ms',
          framelog: percentile(api, 99),
          baseline: percentile(raw, 99),
          comparison: '<=',
          limit: 2,
          details,
        }),
      ];
    } finally {
      agent.destroy();
      await pool.end();
      await bareServer.stop('SIGKILL');
    }
  } finally {
    await pipeline.close();
  }
}
