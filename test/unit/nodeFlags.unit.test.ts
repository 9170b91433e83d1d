import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../services/main/nodeFlags.js';

const read = (file: string) => readFile(new URL(`../../${file}`, import.meta.url), 'utf8');

describe('NODE_FLAGS', () => {
  it('are the flags of the service scripts in package.json', async () => {
    const { scripts } = JSON.parse(await read('package.json')) as { scripts: Record<string, string> };
    for (const service of ['api', 'worker', 'relay']) expect(scripts[service]).toBe(`tsx ${NODE_FLAGS.join(' ')} services/main/${service}.ts`);
  });

  it('are the NODE_OPTIONS of the Docker image', async () => {
    expect(await read('ops/Dockerfile')).toContain(`ENV NODE_OPTIONS="${NODE_FLAGS.join(' ')}"`);
  });
});
