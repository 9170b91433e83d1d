import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pinnedNodeVersion } from '../helpers/runtime.js';

// `npm ci` installs the Node that package.json pins (the `node` devDependency), and every `npm run` and `npx`
// puts it first on the PATH. If its install script was skipped (e.g. `npm ci --ignore-scripts`), the tests
// would quietly run on the system Node instead: these fail so that such a run is not taken for a tested one.
describe('the Node.js the tests run on', () => {
  it('is the version package.json pins', () => {
    expect(process.version, 'run `npm ci` (without --ignore-scripts), then the tests through npm').toBe(`v${pinnedNodeVersion()}`);
  });
  it('is also the `node` on the PATH, which scripts with a `#!/usr/bin/env node` line start', () => {
    const onPath = execFileSync('node', ['-p', 'process.version'], { encoding: 'utf8' }).trim();
    expect(onPath).toBe(`v${pinnedNodeVersion()}`);
  });
});
