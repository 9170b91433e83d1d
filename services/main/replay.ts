import cliProgress from 'cli-progress';
import { loadConfigOrExit } from './startup.js';
import { messageOf } from '../domain/errors.js';
import { createDb, createPool } from '../eventstore/db.js';
import { rebuildProjections } from '../eventstore/rebuild.js';

// `npm run replay`: rebuilds the `videos` projection from the log while the API keeps serving, with a
// progress bar, then prints the report. Exits non-zero on error.
const config = loadConfigOrExit();
const pool = createPool(config.DATABASE_URL, { max: 2, applicationName: 'framelog-replay' });
const db = createDb(pool);
const bar = new cliProgress.SingleBar(
  { format: 'replay |{bar}| {percentage}% | {value}/{total} events | {videos} videos | {rate} events/s | ETA {eta}s', hideCursor: true },
  cliProgress.Presets.shades_classic,
);
const startedAt = performance.now();
const rate = (events: number) => Math.round(events / Math.max((performance.now() - startedAt) / 1000, 0.001));
let barStarted = false;
try {
  const report = await rebuildProjections(db, {
    onProgress: ({ eventsRead, eventsTotal, videos }) => {
      if (!barStarted) {
        bar.start(eventsTotal, 0, { videos: 0, rate: 0 });
        barStarted = true;
      }
      bar.setTotal(Math.max(eventsTotal, eventsRead));
      bar.update(eventsRead, { videos, rate: rate(eventsRead) });
    },
  });
  bar.stop();
  const eventsPerSecond = Math.round(report.events / Math.max(report.durationMs / 1000, 0.001));
  console.log(
    `replay: ${report.events} events, ${report.videos} videos in ${report.durationMs} ms (${eventsPerSecond} events/s); ` +
      `${report.differences} rows differed from the replaced table`,
  );
} catch (error) {
  bar.stop();
  console.error(`replay: ${messageOf(error)}`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
