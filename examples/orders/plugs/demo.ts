// DEMO ONLY: a stand-in for a real identity provider, so the example runs with no user database or setup.
//
// `demo.signIn` signs anyone in with whatever name and role they ask for. A real application gets its
// tokens from its identity provider (Auth0, Keycloak, Cognito, its own login) and configures the server
// to verify them (`auth.secret`, `auth.publicKeys` or `auth.jwksUrl`; see docs/auth.md). Do not ship this.
import { SignJWT } from 'jose';
import { definePlug, z } from '@switchboard/server';
import { grantsFor, jwtSecret, ROLES, userIdFor, usingDevSecret } from '../auth.ts';

/** Tokens are short-lived: the pages sign in again when the server announces the expiry (`$auth.expiring`). */
export const TOKEN_TTL_SECONDS = 15 * 60;

const key = new TextEncoder().encode(jwtSecret);

export default definePlug({
  name: 'demo',
  messages: {
    'demo.signIn': {
      description: 'DEMO ONLY: a short-lived token for any name and role; real apps get tokens from their identity provider',
      input: z.object({
        name: z.string().trim().min(1).max(32),
        role: z.enum(ROLES),
      }),
      output: z.object({ token: z.string(), expiresAt: z.number().int() }),
      async handler({ name, role }) {
        const exp = Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS;
        // `info` is who the user is (the shop plug reads the role from it); `grants` what they may do.
        const token = await new SignJWT({ info: { name, role }, grants: grantsFor(role) })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setSubject(userIdFor(name))
          .setIssuedAt()
          .setExpirationTime(exp)
          .sign(key);
        return { token, expiresAt: exp * 1000 };
      },
    },
  },
  onLoad(server) {
    if (usingDevSecret) server.log.warn('demo.signIn signs tokens with the development secret; set ORDERS_JWT_SECRET before exposing this server');
  },
});
