import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { layerRules } from '../../eslint.layers.js';

// Each dependency rule of DESIGN §8 fails on a forbidden import and lets an allowed one through.
// Only the layer rules are applied (TypeScript's parser, no type information), on source text at a given path.

const eslint = new ESLint({ overrideConfigFile: true, overrideConfig: [{ languageOptions: { parser: tseslint.parser, sourceType: 'module' } }, ...layerRules] });

async function problems(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('the layer rules (DESIGN §8)', () => {
  it.each([
    ['services/domain/x.ts', "import { sql } from 'kysely';"],
    ['services/domain/x.ts', "import { readStream } from '../eventstore/readStream.js';"],
    ['services/media/x.ts', "import { appendToStream } from '../eventstore/append.js';"],
    ['services/eventstore/x.ts', "import { HeaderNames } from '../messaging/taskMessage.js';"],
    ['services/eventstore/x.ts', "import { handleTask } from '../worker/handleTask.js';"],
    ['services/api/commands/x.ts', "import { handleTask } from '../../worker/handleTask.js';"],
    ['services/worker/x.ts', "import { resolvers } from '../api/resolvers.js';"],
    ['services/worker/x.ts', "import ffmpeg from 'fluent-ffmpeg';"],
    ['services/messaging/x.ts', "import { startWorker } from '../main/worker.js';"],
  ])('refuses %s: %s', async (filePath, source) => {
    const found = await problems(filePath, source);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^no-restricted-imports: /);
  });

  it.each([
    ['services/worker/x.ts', "import { appendToStream } from '../eventstore/append.js';"],
    ['services/messaging/x.ts', "import type { OutboxMessage } from '../eventstore/append.js';"],
    ['services/media/x.ts', "import ffmpeg from 'fluent-ffmpeg';"],
    ['services/domain/x.ts', "import { evolve } from './video.js';"],
  ])('allows %s: %s', async (filePath, source) => {
    expect(await problems(filePath, source)).toEqual([]);
  });
});

describe('only services/main composes (DESIGN §8)', () => {
  it.each([
    // Only services/main reads the settings.
    ['services/messaging/x.ts', "import type { Config } from '../config.js';"],
    ['services/api/auth/x.ts', "import type { Config } from '../../config.js';"],
    ['services/worker/x.ts', "import { loadConfig } from '../config.js';"],
    ['services/metrics.ts', "import { loadConfig } from './config.js';"],
    ['services/domain/x.ts', "import type { Config } from '../config.js';"],
    // Nothing imports services/main.
    ['services/api/x.ts', "import { startWorker } from '../main/startWorker.js';"],
    ['services/worker/x.ts', "import { exitIfRefused } from '../main/startup.js';"],
    ['services/cli/x.ts', "import { brokerSettingsFromConfig } from '../main/settings.js';"],
    ['services/logger.ts', "import { loadConfigOrExit } from './main/startup.js';"],
    // Only services/main opens pools, brokers and storage.
    ['services/api/x.ts', "import { createDb, createPool } from '../eventstore/db.js';"],
    ['services/eventstore/x.ts', "import { createPool } from './db.js';"],
    ['services/worker/x.ts', "import { createBroker } from '../messaging/broker.js';"],
    ['services/api/uploads/x.ts', "import { openStorage } from '../../media/storage/create.js';"],
  ])('refuses %s: %s', async (filePath, source) => {
    const found = await problems(filePath, source);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^no-restricted-imports: /);
  });

  it.each([
    ['services/api/x.ts', "import { readFileSync } from 'node:fs';\nexport const typeDefs = readFileSync('schema.graphql', 'utf8');"],
    ['services/media/x.ts', "import fs from 'node:fs';\nfs.mkdirSync('data');"],
    ['services/messaging/x.ts', 'export const ready = await Promise.resolve(true);'],
    ['services/worker/x.ts', 'try {\n  await Promise.resolve();\n} catch {}'],
    ['services/eventstore/x.ts', 'for await (const x of [Promise.resolve(1)]) console.log(x);'],
  ])('refuses I/O at import time in %s: %s', async (filePath, source) => {
    const found = await problems(filePath, source);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^framelog\/no-import-time-io: /);
  });

  it.each([
    ['services/main/api.ts', "import { loadConfig } from '../config.js';"],
    ['services/main/x.ts', "import { createPool } from '../eventstore/db.js';\nimport { openStorage } from '../media/storage/create.js';"],
    ['services/main/worker.ts', "import { startWorker } from './startWorker.js';"],
    ['services/main/api.ts', "import { readFileSync } from 'node:fs';\nexport const typeDefs = readFileSync('schema.graphql', 'utf8');\nawait Promise.resolve();"],
    ['services/api/x.ts', "import type { Db } from '../eventstore/db.js';\nimport type { Broker } from '../messaging/broker.js';"],
    ['services/api/x.ts', "import { readFileSync } from 'node:fs';\nexport const read = () => readFileSync('a');\nexport async function f() {\n  await Promise.resolve();\n}"],
  ])('allows %s: %s', async (filePath, source) => {
    expect(await problems(filePath, source)).toEqual([]);
  });
});
