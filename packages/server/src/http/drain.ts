import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

/** What a drain did, for the shutdown log line. */
export interface DrainResult {
  /** Requests that were still running at the deadline, cut with their connections. */
  cutRequests: number;
  /** Connections closed at the deadline (busy or idle). */
  cutConnections: number;
  elapsedMs: number;
}

/**
 * Graceful shutdown of one HTTP listener, without resetting a client (docs/operations.md
 * "Shutdown"). Attached at start, it counts requests in flight; `drain()` then
 *
 * 1. stops accepting connections, WITHOUT closing the idle keep-alive ones: since Node 19
 *    `http.Server#close()` also closes idle connections at once, and a client that sent its next
 *    request on one in that instant sees ECONNRESET (a POST to /oauth/token is not retried);
 * 2. answers every request still arriving on an open connection, with `Connection: close`
 *    (RFC 9112 §9.6: "the server … SHOULD send a 'close' connection option"), so that each
 *    connection ends after its in-flight request, by the server, cleanly;
 * 3. once nothing ran for `idleGraceMs`, closes the connections still idle (a client that had
 *    not sent anything since its last keep-alive response);
 * 4. at `deadlineMs`, cuts whatever is left, so that shutdown is bounded.
 */
export class ListenerDrain {
  readonly #server: Server;
  readonly #inFlight = new Set<ServerResponse>();
  readonly #sockets = new Set<Socket>();
  #draining = false;
  #lastActivity = Date.now();

  constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // Runs beside Fastify's own 'request' listener, before any handler answers.
    server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
      this.#inFlight.add(response);
      this.#lastActivity = Date.now();
      if (this.#draining) response.setHeader('connection', 'close');
      response.once('close', () => {
        this.#inFlight.delete(response);
        this.#lastActivity = Date.now();
      });
    });
  }

  get draining(): boolean {
    return this.#draining;
  }

  async drain(options: { deadlineMs: number; idleGraceMs?: number }): Promise<DrainResult> {
    const started = Date.now();
    const idleGraceMs = options.idleGraceMs ?? 250;
    this.#draining = true;
    for (const response of this.#inFlight) {
      if (!response.headersSent) response.setHeader('connection', 'close');
    }
    // net.Server#close: no new connections; the open ones are left to finish (see step 1 above).
    if (this.#server.listening) NetServer.prototype.close.call(this.#server);
    for (;;) {
      if (this.#sockets.size === 0)
        return { cutRequests: 0, cutConnections: 0, elapsedMs: Date.now() - started };
      const now = Date.now();
      if (now - started >= options.deadlineMs) {
        const result = {
          cutRequests: this.#inFlight.size,
          cutConnections: this.#sockets.size,
          elapsedMs: now - started,
        };
        for (const socket of this.#sockets) socket.destroy();
        return result;
      }
      if (this.#inFlight.size === 0 && now - this.#lastActivity >= idleGraceMs) {
        this.#server.closeIdleConnections();
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
