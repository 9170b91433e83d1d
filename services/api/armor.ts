import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ValidationRule } from 'graphql';

/**
 * Limits on what one GraphQL document may ask for (graphql-armor), checked while validating, before
 * anything runs. The deepest legitimate path is videos > edges > node > history > field (5). Cost is
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
  allowBatchedHttpRequests: false;
}

export function graphqlProtection<Context extends object>(): GraphQLProtection<Context> {
  const protection = new ApolloArmor({
    maxDepth: { n: GRAPHQL_LIMITS.maxDepth },
    costLimit: { maxCost: GRAPHQL_LIMITS.maxCost },
    maxAliases: { n: GRAPHQL_LIMITS.maxAliases },
    maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives },
    maxTokens: { n: GRAPHQL_LIMITS.maxTokens },
  }).protect();
  return {
    // graphql-armor is CommonJS and types its plugins against @apollo/server's CJS declarations; the
    // objects are the same at run time, only the two declaration copies differ.
    plugins: protection.plugins as unknown as ApolloServerPlugin<Context>[],
    validationRules: protection.validationRules,
    allowBatchedHttpRequests: false,
  };
}
