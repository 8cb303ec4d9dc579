/**
 * `npm start`: Follow Me in one process on the embedded default (SQLite, in-process bus).
 * `node dist/src/main.js --roles edge,api`: some of the roles, in a cluster (docs/cluster.md).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from './config.js';
import { createLogger } from './core/log.js';
import { startPlatform } from './roles.js';
import { startDemo } from './demo/index.js';

async function main(): Promise<void> {
  let config;
  try {
    const { values } = parseArgs({ args: process.argv.slice(2), options: { roles: { type: 'string' } }, strict: false });
    // --roles wins over FOLLOWME_ROLES; both go through the same validation.
    config = loadConfig(typeof values.roles === 'string' ? { ...process.env, FOLLOWME_ROLES: values.roles } : process.env);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  const platform = await startPlatform(config, logger);
  logger.info({ url: platform.url, roles: platform.roles, dataDir: config.dataDir, store: config.store, bus: config.bus }, `Follow Me is running at ${platform.url} (API docs: ${platform.url}/api/v1/docs)`);
  if (platform.generatedAdminKey) {
    // Printed once, on the console as well as the log: it is kept only hashed.
    const line = `Platform admin key (shown once, keep it): ${platform.generatedAdminKey}`;
    logger.warn({ adminKey: platform.generatedAdminKey }, line);
    if (!process.stdout.isTTY) console.error(line);
  }
  // The demo drives every role through one process: embedded only.
  const demo = config.demo === 'on' && platform.local.client && platform.edge ? await startDemo(platform) : undefined;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining connections and in-flight work');
    const timer = setTimeout(() => {
      logger.error({ phase: platform.stoppingPhase() }, `shutdown took longer than 20 s (still ${platform.stoppingPhase() ?? 'stopping the demo'}); exiting`);
      process.exit(1);
    }, 20_000);
    timer.unref();
    await demo?.stop();
    await platform.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
