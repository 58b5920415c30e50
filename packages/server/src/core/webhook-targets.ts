import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { InvalidRequestError } from './errors.ts';

/**
 * Where webhooks may be sent (review #8). Renova POSTs to an integrator's `notification_url` from
 * inside the operator's network, so a URL naming an internal address is a blind SSRF: loopback
 * services, the cloud metadata endpoint (169.254.169.254), private networks. Such URLs are refused
 * at registration (IP literals, in any spelling the WHATWG URL parser normalises, and `localhost`),
 * and every delivery connects only to an address vetted after its own DNS resolution, so a name
 * that later resolves inside (DNS rebinding) is refused too.
 */
export interface WebhookTargetPolicy {
  /**
   * RENOVA_WEBHOOK_ALLOW_PRIVATE=true, development only (and `serve --demo`): http and internal
   * addresses (loopback, private, link-local…) are allowed, at registration and at delivery.
   */
  allowPrivate: boolean;
  /** http as well as https, e.g. while the issuer itself is http://localhost. */
  allowHttp: () => boolean;
}

/** Production: https only, public addresses only. */
export const STRICT_WEBHOOK_TARGETS: WebhookTargetPolicy = { allowPrivate: false, allowHttp: () => false };

/** A delivery refused because of where it would connect; `last_error` shows the message. */
export class WebhookTargetError extends Error {
  readonly code = 'ERR_RENOVA_WEBHOOK_TARGET';
  constructor(message: string) {
    super(message);
    this.name = 'WebhookTargetError';
  }
}

const LOOPBACK = 'loopback (127.0.0.0/8, ::1)';
const PRIVATE = 'private (RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)';
const LINK_LOCAL = 'link-local (169.254.0.0/16, fe80::/10, where cloud metadata services answer)';
const CGNAT = 'shared address space (CGNAT, RFC 6598: 100.64.0.0/10)';
const MULTICAST = 'multicast (224.0.0.0/4, ff00::/8)';
const UNSPECIFIED = 'unspecified (0.0.0.0/8, ::)';
const ULA = 'unique local (RFC 4193: fc00::/7)';

/** IANA IPv4 special-purpose ranges that are not public unicast: [first address, prefix, rule]. */
const IPV4_RULES: [string, number, string][] = [
  ['0.0.0.0', 8, UNSPECIFIED],
  ['10.0.0.0', 8, PRIVATE],
  ['100.64.0.0', 10, CGNAT],
  ['127.0.0.0', 8, LOOPBACK],
  ['169.254.0.0', 16, LINK_LOCAL],
  ['172.16.0.0', 12, PRIVATE],
  ['192.0.0.0', 24, 'reserved (IETF protocol assignments, 192.0.0.0/24)'],
  ['192.0.2.0', 24, 'documentation (TEST-NET-1, 192.0.2.0/24)'],
  ['192.88.99.0', 24, 'reserved (6to4 relay anycast, 192.88.99.0/24)'],
  ['192.168.0.0', 16, PRIVATE],
  ['198.18.0.0', 15, 'benchmarking (198.18.0.0/15)'],
  ['198.51.100.0', 24, 'documentation (TEST-NET-2, 198.51.100.0/24)'],
  ['203.0.113.0', 24, 'documentation (TEST-NET-3, 203.0.113.0/24)'],
  ['224.0.0.0', 4, MULTICAST],
  ['240.0.0.0', 4, 'reserved (240.0.0.0/4, including the broadcast address 255.255.255.255)'],
];

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function ipv4Rule(value: number): string | undefined {
  for (const [first, prefix, rule] of IPV4_RULES) {
    const size = 2 ** (32 - prefix);
    const start = ipv4ToNumber(first);
    if (value >= start && value < start + size) return rule;
  }
  return undefined;
}

/** The 16 bytes of an IPv6 address (`::` compression, an IPv4 tail, a `%zone` suffix). */
function ipv6Bytes(address: string): number[] | undefined {
  let text = address.replace(/%.*$/, '');
  const bytes: number[] = [];
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tailBytes: number[] = [];
  if (tail?.[1]) {
    tailBytes = tail[1].split('.').map(Number);
    text = `${text.slice(0, -tail[1].length)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  for (const group of [...head, ...Array<string>(missing).fill('0'), ...rest]) {
    const value = Number.parseInt(group, 16);
    if (!/^[0-9a-f]{1,4}$/i.test(group) || Number.isNaN(value)) return undefined;
    bytes.push(value >> 8, value & 255);
  }
  if (tailBytes.length === 4) bytes.splice(12, 4, ...tailBytes);
  return bytes;
}

const embeddedIpv4 = (bytes: number[], at: number) =>
  (((bytes[at] ?? 0) << 24) >>> 0) +
  ((bytes[at + 1] ?? 0) << 16) +
  ((bytes[at + 2] ?? 0) << 8) +
  (bytes[at + 3] ?? 0);

function ipv6Rule(address: string): string | undefined {
  const b = ipv6Bytes(address);
  if (!b) return 'unparseable IPv6';
  const zeroUpTo = (n: number) => b.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(16)) return UNSPECIFIED;
  if (zeroUpTo(15) && b[15] === 1) return LOOPBACK;
  // ::ffff:a.b.c.d reaches the IPv4 address itself: judged as that address.
  if (zeroUpTo(10) && b[10] === 0xff && b[11] === 0xff) {
    const rule = ipv4Rule(embeddedIpv4(b, 12));
    return rule ? `IPv4-mapped ${rule}` : undefined;
  }
  if (zeroUpTo(12)) return 'reserved (IPv4-compatible IPv6, ::/96, deprecated)';
  // NAT64 (RFC 6052, 64:ff9b::/96) translates to the embedded IPv4 address.
  if (
    b[0] === 0x00 &&
    b[1] === 0x64 &&
    b[2] === 0xff &&
    b[3] === 0x9b &&
    b.slice(4, 12).every((x) => x === 0)
  ) {
    const rule = ipv4Rule(embeddedIpv4(b, 12));
    return rule ? `NAT64-embedded ${rule}` : undefined;
  }
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b)
    return 'reserved (local-use NAT64, 64:ff9b:1::/48)';
  if (b[0] === 0x01 && b[1] === 0x00 && b.slice(2, 8).every((x) => x === 0))
    return 'reserved (discard-only, 100::/64)';
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8)
    return 'documentation (2001:db8::/32)';
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x00 && b[3] === 0x00) return 'reserved (Teredo, 2001::/32)';
  // 6to4 (RFC 3056, 2002::/16) carries an IPv4 address in bytes 2-5.
  if (b[0] === 0x20 && b[1] === 0x02) {
    const rule = ipv4Rule(embeddedIpv4(b, 2));
    return rule ? `6to4-embedded ${rule}` : undefined;
  }
  const first = b[0] ?? 0;
  const second = b[1] ?? 0;
  if ((first & 0xfe) === 0xfc) return ULA;
  if (first === 0xfe && (second & 0xc0) === 0x80) return LINK_LOCAL;
  if (first === 0xfe && (second & 0xc0) === 0xc0) return 'site-local (fec0::/10, deprecated)';
  if (first === 0xff) return MULTICAST;
  return undefined;
}

/** Why `address` (an IP) must not receive webhooks, or undefined for a public unicast address. */
export function forbiddenAddressRule(address: string): string | undefined {
  const version = isIP(address.replace(/%.*$/, ''));
  if (version === 4) return ipv4Rule(ipv4ToNumber(address));
  if (version === 6) return ipv6Rule(address);
  return 'not an IP address';
}

/**
 * Why the host of a parsed URL (`url.hostname`, already normalised by the WHATWG parser:
 * `2130706433`, `0x7f.1` and `0177.0.0.1` all arrive as `127.0.0.1`) must not receive webhooks, or
 * undefined when it is a public address or a name (names are vetted after resolution).
 */
export function forbiddenHostRule(hostname: string): string | undefined {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname.replace(/\.$/, '');
  if (isIP(host)) return forbiddenAddressRule(host);
  // RFC 6761 §6.3: `localhost` and every name under it are loopback.
  if (host.toLowerCase() === 'localhost' || host.toLowerCase().endsWith('.localhost')) return LOOPBACK;
  return undefined;
}

/** Registration (admin API and CLI): a 400 that names the rule, and how to fix it. */
export function checkNotificationUrl(uri: string, policy: WebhookTargetPolicy): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidRequestError(`notification_url "${uri}" is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidRequestError('notification_url must be an http or https URL');
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidRequestError('notification_url must not contain credentials (user:password@)');
  }
  if (url.protocol === 'http:' && !policy.allowPrivate && !policy.allowHttp()) {
    throw new InvalidRequestError(
      'notification_url must use https (http is allowed only while the issuer is http://localhost, or with RENOVA_WEBHOOK_ALLOW_PRIVATE=true in development)',
    );
  }
  if (!policy.allowPrivate) {
    const rule = forbiddenHostRule(url.hostname);
    if (rule) {
      throw new InvalidRequestError(
        `notification_url must not point at a ${rule} address: Renova would send requests into its own network. Use a public https URL (RENOVA_WEBHOOK_ALLOW_PRIVATE=true allows it in development only)`,
      );
    }
  }
  return uri;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for the delivery socket (net/tls `connect`) that resolves the name itself and refuses
 * it if ANY address it resolves to is internal: the connection then can only go to an address that
 * was vetted in this very resolution, whatever the name resolved to at registration (DNS
 * rebinding). Sockets connect to IP literals without calling `lookup`; the dispatcher checks those
 * with `forbiddenHostRule` before connecting.
 */
export function vettedLookup(base: LookupFunction = dnsLookup as unknown as LookupFunction): LookupFunction {
  return ((hostname: string, options: LookupOptions, callback: LookupCallback) => {
    base(hostname, { ...options, all: true }, (error, resolved, family) => {
      if (error) return callback(error, '', 0);
      const addresses: LookupAddress[] = Array.isArray(resolved)
        ? resolved
        : [{ address: resolved, family: family ?? (isIP(resolved) as 4 | 6) }];
      for (const { address } of addresses) {
        const rule = forbiddenAddressRule(address);
        if (rule) {
          return callback(
            new WebhookTargetError(
              `refused: ${hostname} resolves to ${address}, a ${rule} address; webhooks go to public addresses only (RENOVA_WEBHOOK_ALLOW_PRIVATE=true allows it in development)`,
            ),
            '',
            0,
          );
        }
      }
      const first = addresses[0];
      if (!first) {
        return callback(
          Object.assign(new Error(`${hostname} did not resolve`), { code: 'ENOTFOUND' }),
          '',
          0,
        );
      }
      if (options.all) return callback(null, addresses);
      return callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}
