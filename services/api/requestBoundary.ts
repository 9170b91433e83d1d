import type { ApolloServerPlugin } from '@apollo/server';
import { BREAK, GraphQLError, OperationTypeNode, visit, type DocumentNode, type GraphQLFormattedError } from 'graphql';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import type { ApiContext } from './context.js';
import { unstorableText } from './input.js';

/**
 * No argument of the API takes a longer list (`events(types:)` names a few event types). A cap here,
 * before anything runs, keeps a huge list from reaching PostgreSQL, whose statements take at most
 * 65 535 parameters.
 */
export const MAX_LIST_ITEMS = 100;

/**
 * What every GraphQL request must satisfy before it runs, over HTTP and WebSocket alike: each string,
 * in the document or in the variables, is text PostgreSQL can store (no NUL, no half of a character),
 * and no list holds more than MAX_LIST_ITEMS. Returns the refusal (BAD_USER_INPUT), or null.
 */
export function checkRequestInput(document: DocumentNode, variables: unknown): FramelogError | null {
  return checkDocument(document) ?? checkVariables(variables);
}

/**
 * Documents that passed checkDocument. Apollo hands every request of a query text it has seen the same
 * cached DocumentNode, so a repeated query is walked once, not per request (~4 % of the API's CPU in the
 * `video` benchmark). Refusals are not remembered.
 */
const passedDocuments = new WeakSet<DocumentNode>();

function checkDocument(document: DocumentNode): FramelogError | null {
  if (passedDocuments.has(document)) return null;
  const refusal = walkDocument(document);
  if (refusal === null) passedDocuments.add(document);
  return refusal;
}

function walkDocument(document: DocumentNode): FramelogError | null {
  let refusal: FramelogError | null = null;
  visit(document, {
    StringValue(node) {
      const problem = unstorableText(node.value);
      if (problem === null) return undefined;
      refusal = badInput(`A string in the query ${problem}.`);
      return BREAK;
    },
    ListValue(node) {
      if (node.values.length <= MAX_LIST_ITEMS) return undefined;
      refusal = badInput(`A list in the query has ${node.values.length} items; at most ${MAX_LIST_ITEMS} are accepted.`);
      return BREAK;
    },
  });
  return refusal;
}

/** Walks the JSON of the variables without recursion (its nesting is the client's choice). */
function checkVariables(variables: unknown): FramelogError | null {
  const pending: [string, unknown][] = [['variables', variables]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [path, value] = next;
    if (typeof value === 'string') {
      const problem = unstorableText(value);
      if (problem !== null) return badInput(`${path} ${problem}.`);
    } else if (Array.isArray(value)) {
      if (value.length > MAX_LIST_ITEMS) return badInput(`${path} has ${value.length} items; at most ${MAX_LIST_ITEMS} are accepted.`);
      value.forEach((item, i) => pending.push([`${path}[${i}]`, item]));
    } else if (isPlainObject(value)) {
      // Only plain JSON objects: an upload's variable holds the multipart parser's Upload instance.
      for (const [key, item] of Object.entries(value)) pending.push([`${path}.${key}`, item]);
    }
  }
  return null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

const badInput = (message: string) => new FramelogError(ErrorCode.BAD_USER_INPUT, message);

/** A refusal before execution, as Apollo sends it: the typed error, HTTP 400. */
function refusal(error: FramelogError): GraphQLError {
  return new GraphQLError(error.message, { originalError: error, extensions: { http: { status: 400 } } });
}

/**
 * Whether a result is a refusal of the client's input as a whole: every error is BAD_USER_INPUT and no
 * top-level field has a value. Apollo answers 200 once execution has started; such a result is a 400
 * like the refusals before execution (DESIGN §1, guarantee 7).
 */
export function isInputRefusal(result: { data?: Record<string, unknown> | null; errors?: readonly GraphQLFormattedError[] }): boolean {
  const { data, errors } = result;
  if (!errors?.length || !errors.every((error) => error.extensions?.code === ErrorCode.BAD_USER_INPUT)) return false;
  return data == null || Object.values(data).every((value) => value === null);
}

/**
 * Apollo plugin: refuses, before anything runs, a request whose input fails checkRequestInput and a
 * subscription sent over HTTP (subscriptions are served over WebSocket only); answers a result that
 * only refuses the input (isInputRefusal) with HTTP 400.
 */
export const requestBoundaryPlugin: ApolloServerPlugin<ApiContext> = {
  requestDidStart() {
    return Promise.resolve({
      didResolveOperation({ operation, document, request }) {
        if (operation?.operation === OperationTypeNode.SUBSCRIPTION) {
          return Promise.reject(refusal(badInput('Subscriptions are served over WebSocket (graphql-ws) at /graphql, not over HTTP POST.')));
        }
        const error = checkRequestInput(document, request.variables);
        return error === null ? Promise.resolve() : Promise.reject(refusal(error));
      },
      willSendResponse({ response }) {
        const { body, http } = response;
        if (body.kind === 'single' && (http.status === undefined || http.status === 200) && isInputRefusal(body.singleResult)) http.status = 400;
        return Promise.resolve();
      },
    });
  },
};
