import { SITES } from '../core/registry.ts';
import type { UserRecord } from '../storage/contract.ts';

/** `GET /users/me` in the shape of Mercado Pago's users API (CONTRACT §4.4). */
export function usersMeView(user: UserRecord) {
  return {
    id: user.id,
    nickname: user.nickname,
    email: user.email,
    site_id: user.siteId,
    country_id: SITES[user.siteId] ?? null,
    registration_date: new Date(user.createdAt).toISOString(),
    status: { site_status: 'active' },
  };
}
