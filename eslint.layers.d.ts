import type { Linter } from 'eslint';

/** The dependency rules of DESIGN §8 as ESLint flat-config objects, one per services/ folder. */
export declare const layerRules: Linter.Config[];
