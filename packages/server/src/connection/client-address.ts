// The client's address: the socket's peer, or — behind a proxy the server was told to trust — the address the
// proxy saw, from X-Forwarded-For. Hand-written: a dozen lines for one header, with the rule spelled out.
import type { IncomingMessage } from 'node:http';

/** `::ffff:10.0.0.1` and `10.0.0.1` are one address. */
function plain(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The address a request comes from. When the socket's peer is one of `trusted` (the proxies in front of the
 * server), the client is the rightmost X-Forwarded-For entry that is not itself a trusted proxy: entries to
 * its left were written by the client and prove nothing. Without trusted proxies the header is ignored.
 *
 * @example
 * clientAddress(request, new Set(['127.0.0.1'])) // '203.0.113.7' for X-Forwarded-For: 203.0.113.7 via nginx on loopback
 */
export function clientAddress(request: IncomingMessage, trusted: ReadonlySet<string>): string {
  const peer = plain(request.socket.remoteAddress ?? '');
  if (trusted.size === 0 || !trusted.has(peer)) return peer;
  const header = request.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((hop) => plain(hop.trim())).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted.has(hops[i]!)) return hops[i]!;
  return hops[0] ?? peer;
}
