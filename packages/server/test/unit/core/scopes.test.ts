import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScope, hasScope, narrowScope, scopeSet } from '../../../src/core/scopes.ts';
import { outcomeOf } from '../helpers/core.ts';

const ALL = 'offline_access read write';

describe('core/scopes', () => {
  const rows: { requested: string; allowed: string; expected: string; scope?: string }[] = [
    { requested: 'read', allowed: ALL, expected: 'ok', scope: 'read' },
    { requested: 'write read', allowed: ALL, expected: 'ok', scope: 'read write' },
    { requested: 'read read', allowed: ALL, expected: 'ok', scope: 'read' },
    { requested: 'read,write', allowed: ALL, expected: 'ok', scope: 'read write' },
    { requested: 'read+write', allowed: ALL, expected: 'ok', scope: 'read write' },
    { requested: '  read  ', allowed: ALL, expected: 'ok', scope: 'read' },
    { requested: 'write offline_access read', allowed: ALL, expected: 'ok', scope: ALL },
    { requested: '', allowed: ALL, expected: 'invalid_scope' },
    { requested: ' , ', allowed: ALL, expected: 'invalid_scope' },
    { requested: 'admin', allowed: ALL, expected: 'invalid_scope' },
    { requested: 'READ', allowed: ALL, expected: 'invalid_scope' },
    { requested: 'write', allowed: 'offline_access read', expected: 'invalid_scope' },
    { requested: 'read offline_access', allowed: 'read', expected: 'invalid_scope' },
  ];
  for (const row of rows) {
    it(`narrowScope(${JSON.stringify(row.requested)}, "${row.allowed}"): ${row.scope ?? row.expected} (RFC 6749 §3.3)`, async () => {
      assert.equal(
        await outcomeOf((async () => narrowScope(row.requested, row.allowed, 'the ceiling'))()),
        row.expected,
      );
      if (row.scope !== undefined)
        assert.equal(narrowScope(row.requested, row.allowed, 'the ceiling'), row.scope);
    });
  }

  it('names the unknown scopes and the ceiling in its messages', () => {
    assert.throws(
      () => narrowScope('read admin', ALL, 'the ceiling'),
      /unknown scope "admin"; valid scopes are offline_access, read, write/,
    );
    assert.throws(
      () => narrowScope('write', 'read', 'the ceiling'),
      /scope "write" is outside the ceiling \("read"\)/,
    );
  });

  it('formatScope keeps known scopes, once each, in the order of docs/api.md §3', () => {
    assert.equal(formatScope(['write', 'bogus', 'read', 'write']), 'read write');
    assert.equal(formatScope([]), '');
  });

  it('scopeSet and hasScope read a space-separated scope', () => {
    assert.deepEqual([...scopeSet(' read  write ')], ['read', 'write']);
    assert.equal(hasScope('read write', 'write'), true);
    assert.equal(hasScope('read', 'offline_access'), false);
  });
});
