import http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of one process. Each process has its own registry (no global state), created
 * in its main; the API serves it at /metrics, a worker on its own small listener (METRICS_PORT).
 */
export interface Metrics {
  registry: Registry;
  /** Uploads accepted (VideoUploaded appended). */
  uploads: Counter;
  uploadBytes: Counter;
  /** Task deliveries by what the worker did with the message: ack, retry, dead-letter, requeue, error. */
  tasks: Counter<'outcome'>;
  taskDuration: Histogram<'outcome'>;
  retries: Counter;
  deadLetters: Counter;
}

export function createMetrics(service: 'api' | 'worker'): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    uploads: new Counter({ name: 'framelog_uploads_total', help: 'Uploads accepted (VideoUploaded appended).', registers }),
    uploadBytes: new Counter({ name: 'framelog_upload_bytes_total', help: 'Bytes of accepted uploads.', registers }),
    tasks: new Counter({ name: 'framelog_tasks_total', help: 'Task deliveries handled, by outcome.', labelNames: ['outcome'], registers }),
    taskDuration: new Histogram({
      name: 'framelog_task_duration_seconds',
      help: 'Time from taking a task to settling its message, by outcome.',
      labelNames: ['outcome'],
      // Transcodes of short clips take seconds, long ones many minutes.
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200],
      registers,
    }),
    retries: new Counter({ name: 'framelog_task_retries_total', help: 'Tasks sent to a delay queue for a retry.', registers }),
    deadLetters: new Counter({ name: 'framelog_dead_letters_total', help: 'Messages taken from the dead-letter queue and recorded (whatever sent them there: the handler, the delivery limit).', registers }),
  };
}

/**
 * A gauge read when scraped. A failing read (database or broker down) leaves the gauge empty for
 * that scrape instead of failing the whole /metrics response.
 */
export function addLiveGauge(registry: Registry, name: string, help: string, read: () => Promise<number | null>): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      this.reset();
      const value = await read().catch(() => null);
      if (value !== null) this.set(value);
    },
  });
}

export interface MetricsListener {
  port: number;
  close(): Promise<void>;
}

export interface ServeMetricsOptions {
  /**
   * Ports to try after `port` when it is in use, one after another (`port + 1`, …): two workers on one
   * machine must not fight over one port. 0 tries `port` alone.
   */
  nextPorts?: number;
}

/**
 * A bare HTTP listener for /metrics, for processes without a web server (workers). Port 0: any free
 * port. Rejects with the last listen error when no port could be had.
 */
export async function serveMetrics(registry: Registry, port: number, host: string, options: ServeMetricsOptions = {}): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
  const last = port === 0 ? 0 : Math.min(65_535, port + (options.nextPorts ?? 0));
  for (let candidate = port; ; candidate += 1) {
    try {
      const bound = await listen(server, candidate, host);
      return { port: bound, close: () => new Promise((done) => server.close(() => done())) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || candidate >= last) throw error;
    }
  }
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
