import { OperationTypeNode } from 'graphql';

/** Roles a token can have, from least to most trusted. */
export const ROLES = ['viewer', 'uploader', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

/** What a role may do: `read` queries, `write` uploads and retries, `admin` maintenance. */
export type Permission = 'read' | 'write' | 'admin';

const PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  viewer: new Set(['read']),
  uploader: new Set(['read', 'write']),
  admin: new Set(['read', 'write', 'admin']),
};

export const can = (role: Role, permission: Permission): boolean => PERMISSIONS[role].has(permission);

/**
 * Root fields that need more than their operation's default. Gated by name, so a field is covered
 * from the moment it appears in the schema.
 */
const FIELD_PERMISSIONS: Record<string, Permission> = {
  'Query.audit': 'admin',
  'Mutation.uploadVideo': 'write',
  'Mutation.createUpload': 'write',
  'Mutation.retryVideo': 'write',
  'Mutation.rebuildProjections': 'admin',
};

/** A mutation nobody listed is admin-only: a new write is closed until someone opens it on purpose. */
const OPERATION_DEFAULT: Record<OperationTypeNode, Permission> = {
  [OperationTypeNode.QUERY]: 'read',
  [OperationTypeNode.SUBSCRIPTION]: 'read',
  [OperationTypeNode.MUTATION]: 'admin',
};

export function requiredPermission(operation: OperationTypeNode, field: string): Permission {
  const rootType = operation === OperationTypeNode.QUERY ? 'Query' : operation === OperationTypeNode.MUTATION ? 'Mutation' : 'Subscription';
  return FIELD_PERMISSIONS[`${rootType}.${field}`] ?? OPERATION_DEFAULT[operation];
}
