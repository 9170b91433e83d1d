import { parseArgs } from 'node:util';
import { loadConfigOrExit } from './startup.js';
import { FramelogError, messageOf } from '../domain/errors.js';
import { createDb, createPool } from '../eventstore/db.js';
import { createToken, listTokens, revokeToken } from '../api/auth/tokenStore.js';

// `npm run token -- create --name N --role viewer|uploader|admin` | `list` | `revoke --name N`
// Exit codes: 0 done, 1 refused (an unknown role, no such token), 2 bad usage.

const USAGE = 'usage: npm run token -- create --name NAME --role viewer|uploader|admin | list | revoke --name NAME';

function usage(problem?: string): never {
  process.stderr.write(`${problem ? `${problem}\n` : ''}${USAGE}\n`);
  process.exit(2);
}

type Command = { kind: 'create'; name: string; role: string } | { kind: 'list' } | { kind: 'revoke'; name: string };

/** The command the arguments name; anything else is bad usage. */
function commandOf(): Command {
  let parsed;
  try {
    parsed = parseArgs({ allowPositionals: true, options: { name: { type: 'string' }, role: { type: 'string' } } });
  } catch (error) {
    usage(messageOf(error));
  }
  const [kind, ...extra] = parsed.positionals;
  const { name, role } = parsed.values;
  if (extra.length > 0) usage();
  if (kind === 'create' && name && role) return { kind, name, role };
  if (kind === 'list') return { kind };
  if (kind === 'revoke' && name) return { kind, name };
  return usage();
}

const command = commandOf();
const config = loadConfigOrExit();
const db = createDb(createPool(config.DATABASE_URL, { max: 1, applicationName: 'framelog-token' }));

try {
  switch (command.kind) {
    case 'create': {
      const { token, info } = await createToken(db, { name: command.name, role: command.role });
      // The token goes to stdout alone, so `$(npm run -s token -- create ...)` captures it.
      process.stderr.write(`Created token "${info.name}" (${info.role}). It is shown only now; store it safely:\n`);
      process.stdout.write(`${token}\n`);
      break;
    }
    case 'list':
      for (const t of await listTokens(db)) {
        process.stdout.write(`${t.name}\t${t.role}\t${t.createdAt.toISOString()}\t${t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : 'active'}\n`);
      }
      break;
    case 'revoke':
      if (!(await revokeToken(db, command.name))) throw new Error(`No active token named "${command.name}".`);
      process.stderr.write(`Revoked token "${command.name}".\n`);
      break;
  }
} catch (error) {
  process.stderr.write(`${error instanceof FramelogError ? `${error.code}: ` : ''}${messageOf(error)}\n`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
