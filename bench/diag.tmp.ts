import { sql } from 'kysely';
import { Pipeline } from './lib/pipeline.js';
import { runConcurrently } from './lib/stats.js';
import { appendUploadEvent } from './lib/uploadEvent.js';

const workers = Number(process.argv[2] ?? 3);
const n = 300;
const p = await Pipeline.start({ workers, workerEnv: { PROCESSOR: 'noop' } });
try {
  const { db } = p.database;
  const t0 = performance.now();
  const timer = setInterval(() => {
    void (async () => {
      const { rows } = await sql<{ ob: string; st: string; pr: string }>`select (select count(*) from outbox) ob, (select count(*) from events where type='ProcessingStarted') st, (select count(*) from events where type='VideoProcessed') pr`.execute(db);
      console.log(((performance.now() - t0) / 1000).toFixed(1), JSON.stringify(rows[0]));
    })();
  }, 1000);
  await runConcurrently(n, 4, async () => { await appendUploadEvent(db); });
  console.log('submitted', ((performance.now() - t0) / 1000).toFixed(2));
  for (;;) {
    const { rows } = await sql<{ n: string }>`select count(*) n from events where type='VideoProcessed'`.execute(db);
    if (Number(rows[0]?.n) >= n) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log('done', ((performance.now() - t0) / 1000).toFixed(2));
  clearInterval(timer);
  const lines = p.workers[0]!.raw.length;
  console.log('worker-1 log lines', lines, p.workers[0]!.raw.slice(-3).join('\n'));
} finally {
  await p.close();
}
