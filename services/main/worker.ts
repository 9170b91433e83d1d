import { exitIfRefused, loadConfigOrExit } from './startup.js';
import { startWorker } from './startWorker.js';

// Entry point of a worker process: the only place that reads the environment.
const worker = await startWorker(loadConfigOrExit()).catch(exitIfRefused);
// Tells `npm start` this run is healthy, so a later crash restarts without a grown delay.
process.send?.({ type: 'ready' });

function shutdown(signal: string) {
  worker.log.info({ signal }, 'stop signal received');
  void worker.stop().then(() => process.exit(0));
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
