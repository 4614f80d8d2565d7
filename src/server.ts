// `npm start`: reads the configuration, starts the gateway, stops it cleanly
// on SIGINT/SIGTERM.
import { ConfigError, loadConfig } from './config.ts';
import { DataLockedError } from './db/data-lock.ts';
import { startGateway } from './runtime.ts';

try {
  const config = loadConfig();
  const gateway = await startGateway(config);
  const where = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`;
  console.log(`Assistant gateway listening on ${gateway.url} (database: ${where}; Ollama: ${config.ollamaHost}, model ${config.ollamaModel})`);
  console.log(`  GraphQL:  ${gateway.url}/graphql (GraphiQL in a browser)`);
  console.log(`  REST:     ${gateway.url}/api/v1/`);
  if (gateway.firstCredentials) {
    const { organizationId, clientId, clientSecret } = gateway.firstCredentials;
    console.log('\nFirst start: created an organization. Its secret is shown only now; keep it somewhere safe.');
    console.log(`  organization id: ${organizationId}`);
    console.log(`  client id:       ${clientId}      (X-API-Key, widget client_id)`);
    console.log(`  client secret:   ${clientSecret}      (X-API-Secret)\n`);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log(`${signal}: stopping.`);
    gateway.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError || error instanceof DataLockedError) {
    console.error(`Cannot start: ${error.message}`);
    process.exit(1);
  }
  // The port is taken or not ours to use: a message naming PORT, not a stack trace.
  const listenError = error as NodeJS.ErrnoException & { port?: number; address?: string };
  if (listenError.syscall === 'listen' && (listenError.code === 'EADDRINUSE' || listenError.code === 'EACCES')) {
    const reason = listenError.code === 'EADDRINUSE' ? 'is already in use' : 'may not be used by this user';
    console.error(`Cannot start: port ${listenError.port} on ${listenError.address} ${reason}; set PORT to another port.`);
    process.exit(1);
  }
  throw error;
}
