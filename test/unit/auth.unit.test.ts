import { OperationTypeNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { can, requiredPermission, ROLES } from '../../services/api/auth/roles.js';
import { generateToken, hashToken } from '../../services/api/auth/tokens.js';

describe('roles', () => {
  it('viewer reads, uploader also writes, admin also administers', () => {
    expect(ROLES.map((role) => ['read', 'write', 'admin'].filter((p) => can(role, p as 'read')))).toEqual([
      ['read'],
      ['read', 'write'],
      ['read', 'write', 'admin'],
    ]);
  });

  it('gates root fields by name, and closes unknown mutations to all but admin', () => {
    expect(requiredPermission(OperationTypeNode.QUERY, 'videos')).toBe('read');
    expect(requiredPermission(OperationTypeNode.SUBSCRIPTION, 'videoUpdated')).toBe('read');
    expect(requiredPermission(OperationTypeNode.QUERY, 'audit')).toBe('admin');
    expect(requiredPermission(OperationTypeNode.MUTATION, 'uploadVideo')).toBe('write');
    expect(requiredPermission(OperationTypeNode.MUTATION, 'retryVideo')).toBe('write');
    expect(requiredPermission(OperationTypeNode.MUTATION, 'rebuildProjections')).toBe('admin');
    expect(requiredPermission(OperationTypeNode.MUTATION, 'somethingNew')).toBe('admin');
  });
});

describe('tokens', () => {
  it('are 256 random bits behind a recognisable prefix, stored as a sha256', () => {
    const a = generateToken();
    expect(a).toMatch(/^flk_[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(a);
    expect(hashToken(a)).toHaveLength(32);
    expect(hashToken(a).equals(hashToken(a))).toBe(true);
  });
});
