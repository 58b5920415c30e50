import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkGrantTypes, checkRedirectUri } from '../../../src/core/applications.ts';
import { coreWorld, errorOf, outcomeOf } from '../helpers/core.ts';

const sync = (f: () => unknown) => outcomeOf((async () => f())());

describe('core/applications', () => {
  const uris: [string, string][] = [
    ['https://shop.example/callback', 'ok'],
    ['http://localhost:3000/cb', 'ok'],
    ['http://127.0.0.1/cb', 'ok'],
    ['http://[::1]:8080/cb', 'ok'],
    ['http://shop.example/callback', 'invalid_request'],
    ['https://shop.example/cb#frag', 'invalid_request'],
    ['https://shop.example/cb#', 'invalid_request'],
    ['/relative/cb', 'invalid_request'],
    ['javascript:alert(1)', 'invalid_request'],
  ];
  for (const [uri, expected] of uris) {
    it(`checkRedirectUri(${JSON.stringify(uri)}): ${expected} (RFC 6749 §3.1.2, RFC 8252 §7.3)`, async () => {
      assert.equal(await sync(() => checkRedirectUri(uri)), expected);
    });
  }

  const grantTypes: { requested: string[]; expected: string; chosen?: string[] }[] = [
    { requested: ['client_credentials'], expected: 'ok', chosen: ['client_credentials'] },
    {
      requested: ['refresh_token', 'authorization_code'],
      expected: 'ok',
      chosen: ['authorization_code', 'refresh_token'],
    },
    {
      requested: ['authorization_code', 'authorization_code'],
      expected: 'ok',
      chosen: ['authorization_code'],
    },
    { requested: [], expected: 'invalid_request' },
    { requested: ['password'], expected: 'invalid_request' },
    { requested: ['refresh_token'], expected: 'invalid_request' },
  ];
  for (const row of grantTypes) {
    it(`checkGrantTypes(${JSON.stringify(row.requested)}): ${row.chosen?.join(',') ?? row.expected} (RFC 7591 §2)`, async () => {
      assert.equal(await sync(() => checkGrantTypes(row.requested)), row.expected);
      if (row.chosen) assert.deepEqual(checkGrantTypes(row.requested), row.chosen);
    });
  }

  it('create returns the domain object with both secrets; the record keeps only a hash and a sealed copy', async () => {
    const w = coreWorld();
    const owner = await w.accounts.createUser({ email: 'owner@example.com' });
    const created = await w.applications.create({
      name: ' Shop ',
      ownerUserId: owner.id,
      redirectUris: ['https://shop.example/cb'],
    });
    assert.match(created.clientId, /^[0-9]{16}$/);
    assert.equal(created.name, 'Shop');
    assert.equal(created.scope, 'offline_access read write');
    assert.deepEqual(created.grantTypes, ['authorization_code', 'refresh_token', 'client_credentials']);
    const record = await w.applications.require(created.clientId);
    assert.equal(record.secrets.length, 1);
    assert.equal(record.webhookSecretSealed.includes(Buffer.from(created.webhookSecret)), false);
  });

  it('require never echoes a malformed client id (security review #7)', async () => {
    const w = coreWorld();
    const error = await errorOf(w.applications.require('x'.repeat(5000)));
    assert.equal(error.error, 'not_found');
    assert.equal(error.description, 'client_id must be 16 digits');
  });
});
