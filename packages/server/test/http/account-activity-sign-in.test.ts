import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ownPage } from '../../src/http/seller.ts';
import { type Harness, harness } from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

/** A signed-out seller asking for their activity signs in and comes back to it, not elsewhere. */
describe('the activity page signs in back to itself', () => {
  let h: Harness;
  before(async () => {
    h = await harness(storageFactories[0] ?? assert.fail('no storage factory'));
  });
  after(async () => h.close());

  test('the sign-in form of /account/activity returns to /account/activity', async () => {
    const page = await h.app.inject({ url: '/account/activity', headers: { 'accept-language': 'en' } });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /action="\/login"/);
    assert.match(page.body, /name="next" value="\/account\/activity"/);
  });

  test('`next` keeps /account/activity, path only; look-alikes fall back to the applications page', () => {
    const issuer = 'http://renova.test';
    assert.equal(ownPage('/account/activity', issuer), '/account/activity');
    assert.equal(ownPage('/account/activity?cursor=9', issuer), '/account/activity');
    assert.equal(ownPage('/account/activityx', issuer), '/account/applications');
    assert.equal(ownPage('//evil.example/account/activity', issuer), '/account/applications');
    assert.equal(ownPage('/account/activity%0d%0aSet-Cookie:x', issuer), null);
  });
});
