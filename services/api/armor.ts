import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ParseOptions, ValidationRule } from 'graphql';

/**
 * Limits on what one GraphQL document may ask for, checked before anything runs: the token count while
 * parsing (graphql-js), the rest while validating (graphql-armor). The deepest legitimate path is videos > edges > node > history > field (5). Cost is
 * structural (it ignores `first`): a page of videos with history, renditions and media measures ~6k.
 * Introspection (`__schema`) is not counted, so tools keep working where introspection is on.
 */
export const GRAPHQL_LIMITS = {
  maxDepth: 7,
  maxCost: 15_000,
  maxAliases: 15,
  maxDirectives: 20,
  maxTokens: 2_000,
} as const;

export interface GraphQLProtection<Context extends object> {
  plugins: ApolloServerPlugin<Context>[];
  validationRules: ValidationRule[];
  /** For every parse of a request's document (Apollo's `parseOptions`, graphql-ws's own parse). */
  parseOptions: ParseOptions;
  allowBatchedHttpRequests: false;
}

export function graphqlProtection<Context extends object>(): GraphQLProtection<Context> {
  const protection = new ApolloArmor({
    maxDepth: { n: GRAPHQL_LIMITS.maxDepth },
    costLimit: { maxCost: GRAPHQL_LIMITS.maxCost },
    maxAliases: { n: GRAPHQL_LIMITS.maxAliases },
    maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives },
    // The token limit is graphql-js's own parse option instead: graphql-armor's Apollo plugin re-parses the
    // document in a hook, where any syntax error or refusal becomes an unexpected error (HTTP 500). The
    // parser's limit is a syntax error like any other (GRAPHQL_PARSE_FAILED, 400).
    maxTokens: { enabled: false },
  }).protect();
  return {
    // graphql-armor is CommonJS and types its plugins against @apollo/server's CJS declarations; the
    // objects are the same at run time, only the two declaration copies differ.
    plugins: protection.plugins as unknown as ApolloServerPlugin<Context>[],
    validationRules: protection.validationRules,
    parseOptions: { maxTokens: GRAPHQL_LIMITS.maxTokens },
    allowBatchedHttpRequests: false,
  };
}
