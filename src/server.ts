// `npm start`: reads the configuration, starts the gateway, stops it cleanly
// on SIGINT/SIGTERM. Everything it writes is a log line (JSON, or readable with
// LOG_FORMAT=pretty); the first organization's secret is never one of them.
import { ConfigError, loadConfig } from './config.ts';
import { DataLockedError } from './db/data-lock.ts';
import { createLogger, type Logger } from './log.ts';
import { startGateway } from './runtime.ts';

/** Why the process could not start goes to standard error. */
let failures: Logger = createLogger({ level: 'info', format: 'json', toStderr: true });
try {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  failures = createLogger({ level: 'info', format: config.logFormat, toStderr: true });
  const gateway = await startGateway(config, { logger });
  const where = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`;
  logger.info(
    { url: gateway.url, graphql: `${gateway.url}/graphql`, rest: `${gateway.url}/api/v1/`, database: where, ollama: config.ollamaHost, model: config.ollamaModel },
    `Assistant gateway listening on ${gateway.url} (GraphQL and GraphiQL at /graphql, REST at /api/v1/)`,
  );
  if (gateway.unshownCredentials) {
    const { file, credentials } = gateway.unshownCredentials;
    logger.warn(
      { organization_id: credentials.organizationId, client_id: credentials.clientId, credentials_file: file },
      `First start: created an organization. Its client id and secret are in ${file} (readable by this user only), ` +
        'and nowhere else: store the secret somewhere safe, then delete the file.',
    );
    // A person at a terminal sees them at once; a log collector never gets the secret.
    if (process.stdout.isTTY) {
      process.stderr.write(
        `\n  organization id: ${credentials.organizationId}\n  client id:       ${credentials.clientId}      (X-API-Key, widget client_id)\n` +
          `  client secret:   ${credentials.clientSecret}      (X-API-Secret)\n\n`,
      );
    }
    await gateway.credentialsShown();
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, `${signal}: stopping.`);
    gateway.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError || error instanceof DataLockedError) {
    failures.fatal(`Cannot start: ${error.message}`);
    process.exit(1);
  }
  // The port is taken or not ours to use: a message naming PORT, not a stack trace.
  const listenError = error as NodeJS.ErrnoException & { port?: number; address?: string };
  if (listenError.syscall === 'listen' && (listenError.code === 'EADDRINUSE' || listenError.code === 'EACCES')) {
    const reason = listenError.code === 'EADDRINUSE' ? 'is already in use' : 'may not be used by this user';
    failures.fatal(`Cannot start: port ${listenError.port} on ${listenError.address} ${reason}; set PORT to another port.`);
    process.exit(1);
  }
  failures.fatal({ err: error }, 'Cannot start');
  process.exit(1);
}
