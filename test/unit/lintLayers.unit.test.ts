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
