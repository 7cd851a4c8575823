// Random ids of what a person may copy onto a command line (a connection, a room instance): URL-safe, and never
// starting with "-", which the command line would read as a flag (`switchboard audit --connection <id>`,
// `switchboard rooms close <id>`); one base64url id in 64 did.
import { randomBytes } from 'node:crypto';

/** `bytes` random bytes as base64url (4 characters per 3 bytes), drawn again while it starts with "-". */
export function randomId(bytes: number): string {
  for (;;) {
    const id = randomBytes(bytes).toString('base64url');
    if (id[0] !== '-') return id;
  }
}
