import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler, Response } from 'express';
import { GraphQLError, Kind, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { ApiContext } from '../context.js';
import { respondWithError, toFramelogError } from '../errors.js';
import type { Authenticator, Principal } from './authenticate.js';
import { can, requiredPermission, type Role } from './roles.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.DATABASE_UNAVAILABLE]: 503,
};

/** The principal `authenticateRequest` put on the response, for Apollo's context function. */
export function principalOf(res: Response): Principal {
  const principal = (res.locals as { principal?: Principal }).principal;
  if (!principal) throw new FramelogError(ErrorCode.INTERNAL, 'authenticateRequest must run before the GraphQL handler.');
  return principal;
}

/**
 * Express middleware in front of the multipart parser: it authenticates, and refuses a multipart
 * request from a role that may not upload before the multipart parser reads a byte of the file (only
 * uploads take files, so the refusal needs no parsing). The refused body is drained to nowhere.
 */
export function authenticateRequest(authenticate: Authenticator): RequestHandler {
  return (req, res, next) => {
    authenticate(req.headers.authorization).then(
      (principal) => {
        if (req.is('multipart/form-data') && !can(principal.role, 'write')) {
          refuse(res, forbidden(principal.role, 'upload'));
          req.resume();
          return;
        }
        res.locals.principal = principal;
        next();
      },
      (error: unknown) => {
        refuse(res, toFramelogError(error));
        req.resume();
      },
    );
  };
}

function refuse(res: Response, error: FramelogError): void {
  if (error.code === ErrorCode.UNAUTHENTICATED) res.setHeader('www-authenticate', 'Bearer');
  respondWithError(res, STATUS[error.code] ?? 500, error);
}

const forbidden = (role: Role, what: string) =>
  new FramelogError(ErrorCode.FORBIDDEN, `The role "${role}" may not ${what}; ask for a token with a role that may.`, { details: { role } });

/**
 * Checks every root field of the operation against the caller's role before anything executes, so
 * a refused mutation has no effect. Aliases and fragments do not hide a field: names are collected.
 */
export const authorizationPlugin: ApolloServerPlugin<ApiContext> = {
  requestDidStart() {
    return Promise.resolve({
      didResolveOperation({ operation, document, contextValue }) {
        // Apollo resolves the operation before this hook; without one it has answered already.
        if (!operation) return Promise.resolve();
        const fragments = new Map(
          document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
        );
        for (const field of rootFieldNames(operation, fragments)) {
          const permission = requiredPermission(operation.operation, field);
          if (!can(contextValue.role, permission)) {
            const error = forbidden(contextValue.role, `use ${field}`);
            return Promise.reject(new GraphQLError(error.message, { originalError: error, extensions: { http: { status: 403 } } }));
          }
        }
        return Promise.resolve();
      },
    });
  },
};

function rootFieldNames(operation: OperationDefinitionNode, fragments: Map<string, FragmentDefinitionNode>): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const walk = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) names.add(selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet);
      }
    }
  };
  walk(operation.selectionSet);
  return names;
}
