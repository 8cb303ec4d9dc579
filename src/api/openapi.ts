/** The OpenAPI document (/api/v1/openapi.json) and browsable docs (/api/v1/docs), generated from the route schemas. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { HttpServer } from '../http/server.js';

export async function registerOpenApi(app: HttpServer): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Follow Me API',
        version: '1',
        description:
          'Operator API of Follow Me: tenants, users, devices, groups, positions, geofences, messages and rules. ' +
          'Authenticate with `Authorization: Bearer <token>`: the platform admin key, or a user token from POST /api/v1/auth/login. ' +
          'Errors are application/problem+json (RFC 9457) with a stable `code` (docs/errors.md).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    // Only the API and the device HTTP routes are documented; health, metrics, pages and the docs themselves are not.
    transform: ({ schema, url }) => {
      const documented = (url.startsWith('/api/') || url.startsWith('/device/')) && !url.startsWith('/api/v1/docs') && !(schema as { hide?: boolean } | undefined)?.hide;
      return { schema: { ...schema, hide: !documented } as typeof schema, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/v1/docs' });
}
