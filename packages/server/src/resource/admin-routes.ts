// Admin HTTP routes for resources: list them, read records, and write from back-end systems (every subscriber sees it).
import { ErrorCode, type PatchOperation } from '@switchboard/protocol';
import { adminError, type AdminApi, type AdminRequest, type AdminResponse } from '../admin.ts';
import type { LiveData } from './live.ts';

/** `?ifVersion=3` → 3; absent → undefined; anything else → an error answer. */
function ifVersion(request: AdminRequest): { ifVersion?: number } | AdminResponse {
  const raw = request.query.get('ifVersion');
  if (raw === null) return {};
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) return adminError(400, ErrorCode.invalidPayload, '"ifVersion" must be a non-negative integer');
  return { ifVersion: value };
}

function isAnswer(value: object): value is AdminResponse {
  return 'status' in value;
}

/**
 * Registers `/admin/resources…`:
 * - `GET /resources`: every resource with its record and subscriber counts;
 * - `GET /resources/:name`: its records and position; `GET /resources/:name/:key`: one record;
 * - `POST /resources/:name` (body: the record) creates; `PUT /resources/:name/:key` (body: the record)
 *   replaces; `PATCH /resources/:name/:key` (body: a JSON Patch array) changes; `DELETE /resources/:name/:key`
 *   deletes. Writes take `?ifVersion=N`; they are validated like any other and reach every subscriber.
 */
export function registerResourceRoutes(admin: AdminApi, live: LiveData): void {
  admin.route('GET', '/resources', () => ({ status: 200, body: { resources: live.list() } }));

  const target = (request: AdminRequest): { name: string; key: string | undefined } | AdminResponse => {
    const parts = request.path.split('/').slice(2).map((part) => decodeURIComponent(part));
    if (parts.length === 0 || parts.length > 2 || parts[0] === '') return adminError(404, 'not_found', `no admin route ${request.path}`);
    return { name: parts[0]!, key: parts[1] };
  };

  admin.route('GET', '/resources/*', (request) => {
    const at = target(request);
    if (isAnswer(at)) return at;
    // A MessageError (an unknown resource) is answered by the admin API with its status (MESSAGE_ERROR_STATUS).
    const runtime = live.served(at.name).runtime;
    if (at.key === undefined) return { status: 200, body: { resource: at.name, position: runtime.position, records: runtime.list() } };
    const record = runtime.get(at.key);
    return record ? { status: 200, body: record } : adminError(404, ErrorCode.notFound, `no record with key ${JSON.stringify(at.key)} in ${at.name}`);
  });

  const write = (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE') => async (request: AdminRequest): Promise<AdminResponse> => {
    const at = target(request);
    if (isAnswer(at)) return at;
    if ((method === 'POST') !== (at.key === undefined)) {
      return adminError(405, 'method_not_allowed', method === 'POST' ? 'POST to /resources/:name creates; use PUT to write a key' : `${method} needs /resources/:name/:key`);
    }
    const condition = ifVersion(request);
    if (isAnswer(condition)) return condition;
    // Refusals (invalid_payload 400, not_found 404, conflict 409 with `current`, limit_exceeded 413) are
    // MessageErrors, answered by the admin API with their details.
    const runtime = live.served(at.name).runtime;
    switch (method) {
      case 'POST':
        return { status: 201, body: await runtime.create(request.body) };
      case 'PUT':
        return { status: 200, body: await runtime.put(at.key!, request.body, condition) };
      case 'PATCH':
        return { status: 200, body: await runtime.patch(at.key!, request.body as PatchOperation[], condition) };
      case 'DELETE':
        return { status: 200, body: await runtime.delete(at.key!, condition) };
    }
  };
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) admin.route(method, '/resources/*', write(method));
}
