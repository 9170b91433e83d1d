import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

// The upload baseline: a plain node http handler streaming the request body to a file, nothing else,
// with the one thing an upload server may not skip: the file is fsynced before the answer (flush), as
// framelog's are, so both sides answer only once the bytes would survive a crash.
const dir = process.env.UPLOAD_DIR;
if (!dir) throw new Error('rawUploadServer needs UPLOAD_DIR');

const server = createServer((req, res) => {
  const file = path.join(dir, randomUUID());
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  pipeline(req, createWriteStream(file, { flush: true })).then(
    () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes })),
    (error: unknown) => res.writeHead(500).end(String(error)),
  );
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
