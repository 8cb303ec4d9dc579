/** The native protocol's HTTP alternative: POST /device/v1/positions with the device token (docs/device-protocol.md §6). */
import { Type } from 'typebox';
import { AppError } from '../core/errors.js';
import type { HttpServer } from '../http/server.js';
import type { EdgeDeps } from './deps.js';
import { decodeNativeFix } from './fix.js';

const Result = Type.Object({
  status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('rejected'), Type.Literal('filtered')]),
  code: Type.Optional(Type.String()),
  filter: Type.Optional(Type.String()),
  field: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
});

export function registerHttpBatch(app: HttpServer, deps: EdgeDeps): void {
  app.post(
    '/device/v1/positions',
    {
      schema: {
        tags: ['device'],
        summary: 'Upload a batch of positions with a device token',
        security: [{ bearer: [] }],
        body: Type.Object({ fixes: Type.Array(Type.Object({}, { additionalProperties: true }), { minItems: 1, maxItems: 1000 }) }),
        response: { 200: Type.Object({ results: Type.Array(Result) }) },
      },
    },
    async (request) => {
      const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
      if (!token) throw new AppError('unauthenticated', 'send the device token as Authorization: Bearer <token>');
      const device = await deps.authenticateDevice(token);
      if (!device) throw new AppError('unauthenticated', 'the device token is not valid');
      const results = await deps.ingest(device, request.body.fixes.map(decodeNativeFix));
      return { results: results.map((r, i) => (r.field ? { ...r, field: `fixes[${i}].${r.field}` } : r)) };
    },
  );
}
