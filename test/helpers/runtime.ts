import { readFileSync } from 'node:fs';
import { z } from 'zod';

const PackageJson = z.object({ devDependencies: z.object({ node: z.string() }) });

/** The Node.js version package.json pins as a devDependency (e.g. "24.21.0"): the one the tests are meant to run on. */
export function pinnedNodeVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return PackageJson.parse(JSON.parse(text)).devDependencies.node;
}

/**
 * Vitest global setup for every tier: prints which Node.js runs the tests, once, before the first one,
 * so a run on the wrong Node shows in its header (test/unit/runtime.unit.test.ts then fails).
 */
export default function printRuntime(): void {
  console.log(`Node.js ${process.version} (${process.execPath}); package.json pins ${pinnedNodeVersion()}`);
}
