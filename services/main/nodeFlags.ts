/**
 * Node flags every framelog service process runs with: `npm start`'s children and `npm run api|worker|relay`,
 * the test and benchmark helpers, and (as NODE_OPTIONS) the Docker image, ops/Dockerfile. A unit test
 * keeps the package scripts and the Dockerfile equal to this list.
 *
 * `--max-semi-space-size=16` (MiB): caps V8's young generation at two 16 MiB semi-spaces. Left to itself,
 * Node 24 on a 24 GB machine grew the API's young generation from 48 to 104 MB during 1 GB uploads (from
 * `v8.getHeapSpaceStatistics()` sampled in the API), so its RSS grew 86-119 MB per upload although every
 * upload buffer was freed; with the cap it grew 37-42 MB at the same speed (README, Benchmarks: upload-s3,
 * tus-s3). The services hold little on the JS heap, and a scavenge of a 16 MiB semi-space stays short.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
