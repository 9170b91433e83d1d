// @ts-check
// The dependency rules of DESIGN §8 as lint rules: dependencies point inward
// (main -> api/worker -> eventstore/messaging/media -> domain), only services/main reads the settings and
// opens pools, brokers and storage, nothing imports services/main, and nothing does I/O at import time.
// Shared by eslint.config.js and the lint test (test/unit/lintLayers.unit.test.ts), which shows each rule
// failing on a forbidden import.
//
// One `no-restricted-imports` per folder, holding every pattern that folder obeys: in a flat config a later
// object's options for a rule replace an earlier one's, so the patterns cannot be spread over objects.

/** @typedef {{ group: string[], message: string, importNames?: string[] }} Pattern */

const FFMPEG = { group: ['fluent-ffmpeg'], message: 'fluent-ffmpeg stays inside services/media/ (DESIGN §5), so it can be swapped alone.' };
const OUTER = (/** @type {string} */ layer) => ({
  group: ['**/api/*', '**/api/**', '**/worker/*', '**/worker/**', '**/main/*', '**/main/**'],
  message: `services/${layer} is an inner layer: it never imports api, worker or main (DESIGN §8).`,
});
const MAIN = { group: ['**/main/*', '**/main/**'], message: 'services/main holds the entry points: nothing imports them (DESIGN §8).' };
const CONFIG = {
  group: ['**/config', '**/config.js'],
  message: 'Only services/main reads the settings (services/config.ts); libraries take plain options (DESIGN §8).',
};
/** The functions that open a pool, a broker connection or storage: the entry points' to call (DESIGN §8). */
const OPENERS = [
  { group: ['**/eventstore/db.js', './db.js'], importNames: ['createPool'] },
  { group: ['**/messaging/broker.js', './broker.js'], importNames: ['createBroker'] },
  { group: ['**/storage/create.js', './create.js'], importNames: ['openStorage'] },
].map((pattern) => ({ ...pattern, message: 'Only services/main opens pools, brokers and storage; libraries are handed them (DESIGN §8).' }));
/** What every library obeys: it is composed by services/main, never the other way round (OUTER covers main for the inner layers). */
const LIBRARY = [CONFIG, ...OPENERS];

/**
 * `framelog/no-import-time-io`: no top-level `await` and no `*Sync` call at module scope outside
 * services/main, so importing a library never reads a file, waits for a connection or blocks.
 * @type {import('eslint').Rule.RuleModule}
 */
const noImportTimeIo = {
  meta: { type: 'problem', schema: [], messages: { io: '{{what}} at import time: only services/main does I/O when loaded; read it there and pass it in (DESIGN §8).' } },
  create(context) {
    let depth = 0;
    const enter = () => void (depth += 1);
    const leave = () => void (depth -= 1);
    /** @param {import('estree').Node} node @param {string} what */
    const report = (node, what) => depth === 0 && context.report({ node, messageId: 'io', data: { what } });
    return {
      ':function': enter,
      ':function:exit': leave,
      AwaitExpression: (node) => report(node, 'Top-level await'),
      'ForOfStatement[await=true]': (node) => report(node, 'Top-level for await'),
      CallExpression(node) {
        const callee = node.callee.type === 'MemberExpression' ? node.callee.property : node.callee;
        if (callee.type === 'Identifier' && callee.name.endsWith('Sync')) report(node, `${callee.name}()`);
      },
    };
  },
};
const framelog = { rules: { 'no-import-time-io': noImportTimeIo } };

/** @param {string[]} files @param {Pattern[]} patterns */
const layer = (files, patterns) => ({
  files,
  plugins: { framelog },
  rules: {
    'no-restricted-imports': ['error', { patterns }],
    'framelog/no-import-time-io': 'error',
  },
});
const folder = (/** @type {string} */ name, /** @type {Pattern[]} */ patterns) => layer([`services/${name}/**/*.ts`], patterns);

export const layerRules = [
  folder('domain', [
    {
      group: ['node:*', 'pg', 'kysely', 'rascal', 'amqplib', 'fluent-ffmpeg', 'express', '@apollo/*', '../*', '../*/**', 'fs', 'child_process'],
      message: 'services/domain does no I/O and imports no other service.',
    },
  ]),
  folder('eventstore', [{ group: ['**/messaging/*', '**/media/*'], message: 'services/eventstore never imports messaging or media (DESIGN §8).' }, OUTER('eventstore'), FFMPEG, ...LIBRARY]),
  folder('media', [{ group: ['**/eventstore/*', '**/messaging/*'], message: 'services/media never imports the event store or messaging (DESIGN §8).' }, OUTER('media'), ...LIBRARY]),
  folder('messaging', [OUTER('messaging'), FFMPEG, ...LIBRARY]),
  folder('api', [{ group: ['**/worker/*', '**/worker/**'], message: 'api and worker never import each other (DESIGN §8).' }, MAIN, FFMPEG, ...LIBRARY]),
  folder('worker', [{ group: ['**/api/*', '**/api/**'], message: 'api and worker never import each other (DESIGN §8).' }, MAIN, FFMPEG, ...LIBRARY]),
  folder('cli', [MAIN, FFMPEG, ...LIBRARY]),
  // services/*.ts beside the folders (config, logger, metrics): libraries too.
  layer(['services/*.ts'], [MAIN, FFMPEG, ...LIBRARY]),
  // The entry points: they compose everything, and only they do I/O when loaded.
  { files: ['services/main/**/*.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [FFMPEG] }] } },
];
