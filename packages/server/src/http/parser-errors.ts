import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { toErrorReply } from './errors.ts';

/**
 * Longest path parameter the router accepts (client ids are 16 digits, user ids a few): a longer
 * one is answered 414 before any handler runs.
 */
export const MAX_PARAM_LENGTH = 64;

/** How long a refused connection is kept reading (and discarding) before it is destroyed. */
const LINGER_MS = 2_000;

/** Node's parser error (`clientError`); Fastify types `rawPacket` as its JSON form, it is a Buffer. */
interface ParserError extends Error {
  code?: string;
  rawPacket?: unknown;
  bytesParsed?: number;
}

const STATUS_LINE: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/** What the client is told, and how to fix it. */
function describe(error: ParserError): { status: number; description: string } {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      description:
        'the request line and headers are larger than the server accepts (16 KiB); send fewer or shorter headers',
    };
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, description: 'the request was not received in time; send it again' };
  }
  return {
    status: 400,
    description: `the HTTP request is malformed (${error.code ?? 'parse error'}); send "METHOD /path HTTP/1.1", then one "Name: value" header per line`,
  };
}

/**
 * The method of the request that failed, when the parser's buffer shows its start: the failing
 * request begins after the last blank line before the error (earlier requests on a kept-alive
 * connection were complete).
 */
function failedMethod(error: ParserError): string | undefined {
  const raw = error.rawPacket;
  if (!Buffer.isBuffer(raw)) return undefined;
  const parsed = raw.subarray(0, Math.min(raw.length, error.bytesParsed ?? raw.length));
  const end = parsed.lastIndexOf('\r\n\r\n');
  const start = end < 0 ? 0 : end + 4;
  return /^([A-Z]+) /.exec(raw.subarray(start, start + 16).toString('latin1'))?.[1];
}

const refused = new WeakSet<Duplex>();

/**
 * Fastify's `clientErrorHandler`: what the HTTP parser rejects (oversized headers → 431, a bad
 * request line or header → 400) is answered in the error body of docs/api.md §4.3, never with a body
 * to a HEAD (RFC 9110 §9.3.2), and closes the connection cleanly: `Connection: close` (RFC 9112
 * §9.6), a FIN after the answer, and the rest of what the client sends read and discarded for a
 * moment, so that closing with unread data does not reset the socket and destroy the answer before
 * the client has read it (RFC 9112 §9.6, "lingering close"). Node's default destroys the socket.
 */
export function answerParserError(
  error: ParserError,
  socket: Duplex,
  log: FastifyBaseLogger | undefined,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // The parser stays in its error state: every further chunk reports the same error again.
  if (refused.has(socket)) return;
  refused.add(socket);
  const { status, description } = describe(error);
  const head = failedMethod(error) === 'HEAD';
  log?.debug({ code: error.code, status }, 'malformed HTTP request refused');

  const answer = () => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(toErrorReply({ statusCode: status, message: description }).body);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_LINE[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\n' +
        'Connection: close\r\n\r\n' +
        (head ? '' : body),
    );
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.resume();
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  };
  // A response still being written on this kept-alive connection (a pipelined request) finishes
  // first: writing into the middle of it would corrupt both.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight && !inFlight.writableFinished) {
    let once = false;
    const after = () => {
      if (once) return;
      once = true;
      answer();
    };
    inFlight.once('finish', after);
    inFlight.once('close', after);
  } else {
    answer();
  }
}

/**
 * Fastify's `frameworkErrors`: errors the router raises before any route runs (bad
 * percent-encoding in the path → FST_ERR_BAD_URL, 400; a path parameter over MAX_PARAM_LENGTH →
 * FST_ERR_MAX_PARAM_LENGTH, 414) get the contract's body and close the connection. Node sends no
 * body to a HEAD.
 */
export function answerFrameworkError(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = typeof error.statusCode === 'number' ? error.statusCode : 400;
  const description =
    error.code === 'FST_ERR_BAD_URL'
      ? 'the path has invalid percent-encoding; encode "%" as %25 and other reserved bytes as %XX with two hex digits'
      : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? `a path segment is longer than ${MAX_PARAM_LENGTH} characters; check the identifier in the URL`
        : error.message;
  const answer = toErrorReply({ statusCode: status, message: description });
  void reply
    .code(answer.status)
    .header('cache-control', 'no-store')
    .header('connection', 'close')
    .send(answer.body);
}
