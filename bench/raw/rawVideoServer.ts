import { createServer } from 'node:http';
import pg from 'pg';

// The floor of any HTTP API for `video(id)` on this machine: a bare node http handler that reads the
// JSON body, runs the same query as the raw baseline (over a pool as large as the API's) and answers
// the row as JSON. No framework, no GraphQL, no auth.
const { DATABASE_URL } = process.env;
if (!DATABASE_URL) throw new Error('rawVideoServer needs DATABASE_URL');
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10, application_name: 'raw-video-server' });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const { variables } = JSON.parse(Buffer.concat(chunks).toString()) as { variables: { id: string } };
    pool.query<Record<string, unknown>>('select * from videos where id = $1', [variables.id]).then(
      ({ rows }) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { video: rows[0] ?? null } })),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${port}` }));
});
process.on('SIGTERM', () => server.close(() => void pool.end().finally(() => process.exit(0))));
