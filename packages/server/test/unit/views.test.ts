import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applicationView,
  createdApplicationView,
  issuedCodeView,
  usersMeView,
  userView,
} from '../../src/views.ts';
import { coreWorld } from './helpers/core.ts';

/** The wire shapes are the contract: field names and order (docs/api.md §4.4, §4.5). */
describe('views', () => {
  it('maps core domain objects to the admin API and --json shapes', async () => {
    const w = coreWorld();
    const user = await w.accounts.createUser({ email: 'seller@example.com', siteId: 'mlb' });
    assert.deepEqual(userView(user), {
      id: user.id,
      email: 'seller@example.com',
      nickname: 'SELLER',
      site_id: 'MLB',
    });
    const me = usersMeView(user);
    assert.deepEqual(Object.keys(me), [
      'id',
      'nickname',
      'email',
      'site_id',
      'country_id',
      'registration_date',
      'status',
    ]);
    assert.equal(me.country_id, 'BR');

    const created = await w.applications.create({
      name: 'Shop',
      ownerUserId: user.id,
      redirectUris: ['https://shop.example/cb'],
    });
    assert.deepEqual(Object.keys(createdApplicationView(created)), [
      'client_id',
      'client_secret',
      'name',
      'description',
      'logo_url',
      'owner_user_id',
      'redirect_uris',
      'scopes',
      'pkce_required',
      'notification_url',
      'grant_types',
      'webhook_secret',
    ]);
    assert.deepEqual(createdApplicationView(created).scopes, ['offline_access', 'read', 'write']);
    const updated = await w.applications.update(created.clientId, { grantTypes: ['client_credentials'] });
    assert.deepEqual(applicationView(updated), {
      client_id: created.clientId,
      name: 'Shop',
      description: '',
      logo_url: null,
      owner_user_id: user.id,
      redirect_uris: ['https://shop.example/cb'],
      scopes: ['offline_access', 'read', 'write'],
      pkce_required: false,
      notification_url: null,
      grant_types: ['client_credentials'],
    });
    assert.deepEqual(issuedCodeView({ code: 'TG-x-1', redirectUri: 'https://shop.example/cb' }), {
      code: 'TG-x-1',
      redirect_uri: 'https://shop.example/cb',
    });
  });
});
