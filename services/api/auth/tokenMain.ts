import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../../config.js';
import { FramelogError, messageOf } from '../../domain/errors.js';
import { createDb, createPool } from '../../eventstore/db.js';
import { createToken, listTokens, revokeToken } from './tokenStore.js';

// `npm run token -- create --name N --role viewer|uploader|admin` | `list` | `revoke --name N`
// Exit codes: 0 done, 1 refused (an unknown role, no such token), 2 bad usage.

const USAGE = 'usage: npm run token -- create --name NAME --role viewer|uploader|admin | list | revoke --name NAME';

function usage(problem?: string): never {
  process.stderr.write(`${problem ? `${problem}\n` : ''}${USAGE}\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { name: { type: 'string' }, role: { type: 'string' } } });
} catch (error) {
  usage(messageOf(error));
}
const { positionals, values } = parsed;
const command = positionals[0];
const wellFormed = (command === 'create' && values.name && values.role) || (command === 'list' && positionals.length === 1) || (command === 'revoke' && values.name);
if (!wellFormed || positionals.length > 1) usage();
const config = loadConfigOrExit();
const db = createDb(createPool(config.DATABASE_URL, { max: 1, applicationName: 'framelog-token' }));

try {
  if (command === 'create' && values.name && values.role) {
    const { token, info } = await createToken(db, { name: values.name, role: values.role });
    // The token goes to stdout alone, so `$(npm run -s token -- create ...)` captures it.
    process.stderr.write(`Created token "${info.name}" (${info.role}). It is shown only now; store it safely:\n`);
    process.stdout.write(`${token}\n`);
  } else if (command === 'list') {
    for (const t of await listTokens(db)) {
      process.stdout.write(`${t.name}\t${t.role}\t${t.createdAt.toISOString()}\t${t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : 'active'}\n`);
    }
  } else if (command === 'revoke' && values.name) {
    if (!(await revokeToken(db, values.name))) throw new Error(`No active token named "${values.name}".`);
    process.stderr.write(`Revoked token "${values.name}".\n`);
  }
} catch (error) {
  process.stderr.write(`${error instanceof FramelogError ? `${error.code}: ` : ''}${messageOf(error)}\n`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
