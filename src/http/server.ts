/** The HTTP listener shared by the api and the edge in one process: problem+json errors, health, metrics. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { registry } from '../core/metrics.js';
import { sendProblem } from './problem.js';

export type HttpServer = FastifyInstance<import('node:http').Server, import('node:http').IncomingMessage, import('node:http').ServerResponse, Logger, TypeBoxTypeProvider>;

/** Connections waiting to be accepted (the kernel caps it at net.core.somaxconn): devices reconnect in bursts after an outage or a restart. */
export const LISTEN_BACKLOG = 4096;

export interface HttpOptions {
  logger: Logger;
  bodyLimit: number;
  /** HTTPS: the default certificate and key files, and a folder of per-domain ones (<host>.crt, <host>.key) chosen by SNI. */
  tls?: { cert: string; key: string; dir?: string | undefined } | undefined;
  /** Answers /readyz: true once every role in this process has started. */
  ready: () => boolean;
}

export function createHttpServer(options: HttpOptions): HttpServer {
  const app = Fastify({
    ...(options.tls ? { https: httpsOptions(options.tls, options.logger) } : {}),
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

/** The default certificate, plus one secure context per <host>.crt/<host>.key pair in the folder, picked by SNI. */
function httpsOptions(tls: { cert: string; key: string; dir?: string | undefined }, logger: Logger) {
  const cert = readFileSync(tls.cert);
  const key = readFileSync(tls.key);
  const contexts = new Map<string, SecureContext>();
  if (tls.dir) {
    for (const file of readdirSync(tls.dir).filter((f) => f.endsWith('.crt'))) {
      const host = file.slice(0, -'.crt'.length).toLowerCase();
      contexts.set(host, createSecureContext({ cert: readFileSync(join(tls.dir, file)), key: readFileSync(join(tls.dir, `${host}.key`)) }));
    }
    logger.info({ domains: [...contexts.keys()] }, 'per-domain certificates loaded');
  }
  return {
    cert,
    key,
    SNICallback(servername: string, done: (err: Error | null, ctx?: SecureContext) => void) {
      done(null, contexts.get(servername.toLowerCase()));
    },
  };
}
