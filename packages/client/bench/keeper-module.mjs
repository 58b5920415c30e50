// The keeper of the benchmark's `thread` path (bench/keeper.ts): built in the KeeperThread's worker
// from the run's store spec and scheduler options. It imports the package as an integrator does
// (the compiled dist/: `npm run build` first).
import { OAuth, PostgresTokenStore, RedisTokenStore, SqliteTokenStore, TokenKeeper } from '@renova/client';

function openStore(spec) {
  if (spec.kind === 'sqlite') return new SqliteTokenStore({ path: spec.path });
  if (spec.kind === 'postgres') {
    return new PostgresTokenStore({ connectionString: spec.connectionString, schema: spec.schema });
  }
  if (spec.kind === 'redis') return new RedisTokenStore({ url: spec.url, keyPrefix: spec.keyPrefix });
  throw new Error(`the keeper thread cannot share a ${spec.kind} store with the main thread`);
}

export function createKeeper(d) {
  const store = openStore(d.spec);
  const keeper = new TokenKeeper({
    oauth: new OAuth({ baseUrl: d.baseUrl }),
    clientId: d.clientId,
    clientSecret: d.clientSecret,
    store,
    scheduler: d.scheduler,
  });
  return { keeper, close: () => store.close() };
}
