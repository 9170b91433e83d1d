import pg from 'pg';

/**
 * Observes commits as they happen: NOTIFY is delivered at commit, so the moment a notification
 * arrives on a LISTEN connection is the commit time (plus a local round trip) as one clock — this
 * process's — sees it. Keeps the last arrival per payload (a video's last update is its outcome).
 */
export interface CommitClock {
  /** performance.now() of the last notification per payload. */
  readonly lastSeen: Map<string, number>;
  close(): Promise<void>;
}

export async function listenForCommits(connectionString: string, channel: string): Promise<CommitClock> {
  const client = new pg.Client({ connectionString });
  // Dropping the database at the end terminates this connection: not an error of the benchmark.
  client.on('error', () => undefined);
  await client.connect();
  const lastSeen = new Map<string, number>();
  client.on('notification', (message) => {
    if (message.channel === channel) lastSeen.set(message.payload ?? '', performance.now());
  });
  await client.query(`listen ${pg.escapeIdentifier(channel)}`);
  return {
    lastSeen,
    async close() {
      await client.end();
    },
  };
}
