// Admin HTTP routes for channels: list them, and publish or broadcast from back-end systems without a WebSocket.
import { CHANNEL_NAME_PATTERN, ErrorCode } from '@switchboard/protocol';
import { adminError, type AdminApi, type AdminRequest, type AdminResponse } from '../admin.ts';
import type { Auth } from '../auth/auth.ts';
import { grantFor } from '../grants/grant-set.ts';
import { jsonLength, type Channels } from './channels.ts';

interface EventBody {
  channel?: unknown;
  event?: unknown;
  data?: unknown;
}

function eventBody(body: unknown): EventBody | undefined {
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as EventBody) : undefined;
}

function badEvent(event: unknown): AdminResponse | undefined {
  return typeof event === 'string' && event.length > 0 && event.length <= 128
    ? undefined
    : adminError(400, ErrorCode.invalidPayload, '"event" must be a string of 1 to 128 characters');
}

function tooBig(data: unknown, max: number): AdminResponse | undefined {
  return jsonLength(data) > max ? adminError(413, ErrorCode.limitExceeded, `"data" is larger than ${max} bytes of JSON (channels.maxMessageBytes)`) : undefined;
}

/**
 * Who publishes over HTTP: the admin token (no `from`), or a JWT whose identity has `publish:<channel>`
 * (its id becomes `from`). Returns the refusal, or the publisher.
 */
async function publisher(request: AdminRequest, auth: Auth, channel: string): Promise<{ from: string | undefined } | AdminResponse> {
  if (request.admin) return { from: undefined };
  const header = request.request.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) {
    return adminError(401, 'unauthorized', 'send "Authorization: Bearer <adminToken>", or a JWT with the publish:<channel> grant');
  }
  const verified = await auth.authenticate(header.slice(7).trim(), request.request);
  if (verified === undefined) return adminError(401, ErrorCode.authFailed, 'the credentials were refused');
  if (!verified.ok) return adminError(verified.code === ErrorCode.userDisabled ? 403 : 401, verified.code, verified.message);
  const answer = auth.identityAllows(verified.identity, 'publish', channel);
  if (!(typeof answer === 'boolean' ? answer : await answer)) {
    const grant = grantFor('publish', channel);
    return { status: 403, body: { error: { code: ErrorCode.forbidden, message: `missing grant "${grant}"`, grant } } };
  }
  return { from: verified.identity.id };
}

/**
 * Registers `GET /channels`, `POST /publish` (admin token, or a JWT with `publish:<channel>`) and
 * `POST /broadcast` (admin token).
 *
 * @example
 * registerChannelRoutes(admin, channels, auth);
 * // curl -X POST localhost:3000/admin/publish -H 'Authorization: Bearer …' -d '{"channel":"orders.eu","event":"created","data":{"id":7}}'
 */
export function registerChannelRoutes(admin: AdminApi, channels: Channels, auth: Auth): void {
  admin.route('GET', '/channels', () => ({ status: 200, body: { channels: channels.channels() } }));

  admin.route(
    'POST',
    '/publish',
    async (request) => {
      const body = eventBody(request.body);
      if (!body) return adminError(400, 'bad_request', 'send { "channel": "...", "event": "...", "data": ... }');
      const channel = body.channel;
      if (typeof channel !== 'string' || !CHANNEL_NAME_PATTERN.test(channel)) {
        return adminError(400, ErrorCode.badChannel, '"channel" must be 1 to 200 of A-Z a-z 0-9 _-.:@=,;');
      }
      const by = await publisher(request, auth, channel);
      if ('status' in by) return by;
      const refusal = badEvent(body.event) ?? tooBig(body.data, channels.options.maxMessageBytes);
      if (refusal) return refusal;
      // Answered once the message has its place in the channel's stream (when it keeps history); refused while
      // too many messages wait for theirs (`channels.history.maxPending`): a `rate_limited` MessageError, 429.
      await channels.send(channel, body.event as string, body.data, by.from, undefined);
      return { status: 200, body: { channel, event: body.event } };
    },
    { ownAuth: true },
  );

  admin.route('POST', '/broadcast', ({ body: raw }) => {
    const body = eventBody(raw);
    if (!body) return adminError(400, 'bad_request', 'send { "event": "...", "data": ... }');
    const refusal = badEvent(body.event) ?? tooBig(body.data, channels.options.maxMessageBytes);
    if (refusal) return refusal;
    channels.broadcastEvent(body.event as string, body.data, undefined, undefined);
    return { status: 200, body: { event: body.event } };
  });
}
