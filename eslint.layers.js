// @ts-check
// The dependency rules of DESIGN §8, one lint rule per folder: dependencies point inward
// (main -> api/worker -> eventstore/messaging/media -> domain). Shared by eslint.config.js and the
// lint test (test/unit/lintLayers.unit.test.ts), which shows each rule failing on a forbidden import.

const FFMPEG = { group: ['fluent-ffmpeg'], message: 'fluent-ffmpeg stays inside services/media/ (DESIGN §5), so it can be swapped alone.' };
const OUTER = (/** @type {string} */ layer) => ({
  group: ['**/api/*', '**/api/**', '**/worker/*', '**/worker/**', '**/main/*', '**/main/**'],
  message: `services/${layer} is an inner layer: it never imports api, worker or main (DESIGN §8).`,
});

/** @param {string} folder @param {Array<{ group: string[], message: string }>} patterns */
const layer = (folder, patterns) => ({
  files: [`services/${folder}/**/*.ts`],
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

export const layerRules = [
  layer('domain', [
    {
      group: ['node:*', 'pg', 'kysely', 'rascal', 'amqplib', 'fluent-ffmpeg', 'express', '@apollo/*', '../*/**', 'fs', 'child_process'],
      message: 'services/domain does no I/O and imports no other service.',
    },
  ]),
  layer('eventstore', [{ group: ['**/messaging/*', '**/media/*'], message: 'services/eventstore never imports messaging or media (DESIGN §8).' }, OUTER('eventstore'), FFMPEG]),
  layer('media', [{ group: ['**/eventstore/*', '**/messaging/*'], message: 'services/media never imports the event store or messaging (DESIGN §8).' }, OUTER('media')]),
  layer('messaging', [OUTER('messaging'), FFMPEG]),
  layer('api', [{ group: ['**/worker/*', '**/worker/**'], message: 'api and worker never import each other (DESIGN §8).' }, FFMPEG]),
  layer('worker', [{ group: ['**/api/*', '**/api/**'], message: 'api and worker never import each other (DESIGN §8).' }, FFMPEG]),
];
