/** The HTTP listener shared by the api and the edge in one process: problem+json errors, health, metrics. */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { registry } from '../core/metrics.js';
import { sendProblem } from './problem.js';

export type HttpServer = FastifyInstance<import('node:http').Server, import('node:http').IncomingMessage, import('node:http').ServerResponse, Logger, TypeBoxTypeProvider>;

export interface HttpOptions {
  logger: Logger;
  bodyLimit: number;
  /** Answers /readyz: true once every role in this process has started. */
  ready: () => boolean;
}

export function createHttpServer(options: HttpOptions): HttpServer {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimit,
    // Per-request logs would drown the log at device rates; errors are logged where they are answered.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: false } },
    forceCloseConnections: true,
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as HttpServer;
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, new AppError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (!options.ready()) return reply.status(503).type('application/problem+json').send(new AppError('unavailable', 'starting or stopping').toProblem('/readyz'));
    return { status: 'ready' };
  });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return app;
}
