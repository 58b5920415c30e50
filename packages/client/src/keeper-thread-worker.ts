/**
 * The keeper thread (keeper-thread.ts): loads the integrator's module, builds the keeper with the
 * named export, starts its scheduler and relays its events; stops it when told.
 *
 * @module
 */

import { parentPort, workerData } from 'node:worker_threads';
import type * as PromClient from 'prom-client';
import type { KeeperEvents, TokenKeeper } from './keeper.ts';
import type {
  ControlMessage,
  Question,
  SerializedError,
  ThreadData,
  ThreadMessage,
} from './keeper-thread.ts';
import { loadPromClient } from './stats.ts';

const port = parentPort;
if (port === null) throw new Error('keeper-thread-worker must run as a worker thread');
const data = workerData as ThreadData;
const send = (message: ThreadMessage): void => port.postMessage(message);

/** What a listener on the main thread can read of an error: its name, message, stack, fields. */
function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    // Only what clones without surprises: the response headers and body, and nested causes, stay
    // behind (they may hold anything; the message says what happened).
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) fields[key] = value;
  }
  return { name: error.name, message: error.message, stack: error.stack, fields };
}

/** An event payload made cloneable: errors serialized, everything else as is (plain data). */
function cloneable(name: keyof KeeperEvents, payload: unknown): unknown {
  const p = payload as Record<string, unknown>;
  if (name === 'error' || name === 'reauthorization_required')
    return { ...p, error: serializeError(p.error) };
  return p;
}

interface Built {
  keeper: TokenKeeper;
  close?: () => unknown;
}

function isKeeper(value: unknown): value is TokenKeeper {
  const k = value as TokenKeeper;
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof k.start === 'function' &&
    typeof k.stop === 'function' &&
    typeof k.on === 'function' &&
    typeof k.metrics === 'function'
  );
}

async function build(): Promise<Built> {
  const module = (await import(data.module)) as Record<string, unknown>;
  const factory = module[data.exportName];
  if (typeof factory !== 'function') {
    throw new TypeError(`${data.module} has no function export named ${data.exportName}`);
  }
  const made = (await (factory as (d: unknown) => unknown)(data.data)) as unknown;
  if (isKeeper(made)) return { keeper: made };
  const pair = made as Partial<Built> | null;
  if (pair !== null && typeof pair === 'object' && isKeeper(pair.keeper)) {
    if (pair.close !== undefined && typeof pair.close !== 'function')
      throw new TypeError(`${data.exportName}() returned a close that is not a function`);
    return { keeper: pair.keeper, close: pair.close };
  }
  throw new TypeError(`${data.exportName}() must return a TokenKeeper or { keeper, close }`);
}

/** The thread's own registry of the keeper's Prometheus metrics, made on the first question. */
let registry: Promise<PromClient.Registry> | undefined;

async function answer(keeper: TokenKeeper, question: Question): Promise<unknown> {
  if (question.what === 'metrics') return keeper.metrics();
  if (question.what === 'stats') return keeper.stats();
  registry ??= (async () => {
    const prom = await loadPromClient('KeeperThread.prometheusRegistry()');
    const own = new prom.Registry();
    await keeper.prometheus({ registry: own, prefix: question.prefix });
    return own;
  })();
  // A failed set-up (no prom-client, a bad prefix) is answered, and tried again next time.
  const own = await registry.catch((error: unknown) => {
    registry = undefined;
    throw error;
  });
  return own.getMetricsAsJSON();
}

/** Builds the keeper, relays its events, starts it; a module that cannot build one is reported. */
async function main(): Promise<void> {
  let built: Built;
  try {
    built = await build();
  } catch (error) {
    send({ type: 'failed', error: serializeError(error) });
    process.exit(1);
  }
  const { keeper, close } = built;
  // Only what the main thread listens to crosses over (keeper-thread.ts ThreadData.events).
  let relayed = new Set(data.events);
  for (const name of ['rotated', 'reauthorization_required', 'error', 'notification'] as const) {
    keeper.on(name, (payload) => {
      if (!relayed.has(name)) return;
      try {
        send({ type: 'event', name, payload: cloneable(name, payload) });
      } catch (error) {
        // A payload that does not clone (a hook put a function on it): say so rather than lose it.
        send({ type: 'event', name: 'error', payload: { during: 'thread', error: serializeError(error) } });
      }
    });
  }

  let stopping = false;
  port?.on('message', (message: ControlMessage) => {
    if (message.type === 'ask') {
      answer(keeper, message.question).then(
        (value) => send({ type: 'answer', id: message.id, value }),
        (error: unknown) => send({ type: 'answer', id: message.id, error: serializeError(error) }),
      );
      return;
    }
    if (message.type === 'subscribe') {
      relayed = new Set(message.events);
      return;
    }
    if (message.type === 'stop' && !stopping) {
      stopping = true;
      const report = (error: unknown): void =>
        send({ type: 'event', name: 'error', payload: { during: 'thread', error: serializeError(error) } });
      void (async () => {
        await keeper.stop().catch(report);
        try {
          await close?.();
        } catch (error) {
          report(error);
        }
        send({ type: 'stopped' });
        // The store's connections (a pool, a Redis client, a SQLite writer thread) would keep the
        // thread alive when the module has no close: the scheduler has stopped and every write it
        // made is durable, so the thread ends here.
        process.exit(0);
      })();
    }
  });

  keeper.start();
  send({ type: 'ready' });
}

// Not a top-level await: run from the sources, this file is bundled as CommonJS (worker-script.ts).
void main();
