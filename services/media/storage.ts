/** MediaStorage: the contract (storage/types.ts) and its backends. */
export type * from './storage/types.js';
export { LocalDiskStorage } from './storage/local.js';
