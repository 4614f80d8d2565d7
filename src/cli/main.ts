// `npm run --silent cli -- <command>`: manages organizations and keys, and checks
// what the knowledge base answers (knowledge eval). When a
// gateway holds the data folder, the command runs inside it (control socket);
// otherwise the CLI takes the folder's lock and opens the database itself.
// With DATABASE_URL it simply connects.
import { connect } from 'node:net';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { acquireDataLock, DataLockedError } from '../db/data-lock.ts';
import { AppError } from '../errors.ts';
import { checkCommand, describeFailure, parseCommand, readCommandInput, runCommand, USAGE, type EvaluationInput } from './commands.ts';
import { controlSocketPath, type ControlReply, type ControlRequest } from './control-socket.ts';
import { textOf } from './text-output.ts';

/** Asks the running gateway; null when none is listening. */
function viaGateway(config: Config, request: ControlRequest): Promise<ControlReply | null> {
  return new Promise((resolve, reject) => {
    const socket = connect(controlSocketPath(config.dataDir));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('end', () => {
      try {
        resolve(JSON.parse(reply) as ControlReply);
      } catch {
        reject(new Error('The gateway gave no answer on its control socket.'));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(null);
      else reject(error);
    });
  });
}

async function locally(config: Config, argv: string[], input: EvaluationInput | undefined): Promise<ControlReply> {
  // Loaded only here: a command answered by the running gateway needs none of this.
  const [{ openDatabase }, { createLlm }, { createServices }, { createLogger }] = await Promise.all([
    import('../db/database.ts'),
    import('../llm/ollama.ts'),
    import('../services/services.ts'),
    import('../log.ts'),
  ]);
  const lock = config.databaseUrl ? null : await acquireDataLock(config.dataDir);
  try {
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? undefined : config.dataDir });
    try {
      // Warnings (the knowledge base working without embeddings...) on standard error, apart from the command's output.
      const logger = createLogger({ level: 'warn', format: config.logFormat, toStderr: true });
      const services = createServices({ prisma: db.prisma, llm: createLlm({ host: config.ollamaHost }), config, logger });
      try {
        return { ok: true, result: await runCommand(services, argv, input) };
      } catch (error) {
        const failure = describeFailure(error);
        return { ok: false, error: `${failure.message}${isNotFound(error) ? elsewhereHint(config) : ''}`, usage: failure.usage };
      }
    } finally {
      await db.close();
    }
  } finally {
    await lock?.release();
  }
}

const isNotFound = (error: unknown) => error instanceof AppError && error.extensions.code === 'NOT_FOUND';

/** Run without the gateway's settings, the CLI opens (and creates) a database of its own, where nothing is found. */
function elsewhereHint(config: Config): string {
  const where = config.databaseUrl ? 'the database at DATABASE_URL' : `the embedded database in ${config.dataDir}`;
  return ` (This looked in ${where}, with no gateway running on it: run the command with the DATA_DIR or DATABASE_URL the gateway uses.)`;
}

function print(command: string, result: unknown, json: boolean) {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const text = textOf(command, result);
  if (text !== null) {
    process.stdout.write(text);
    return;
  }
  const rows = Array.isArray(result) ? result : [result];
  if (rows.length === 0) console.log('(none)');
  for (const row of rows) {
    console.log(Object.entries(row as object).map(([key, value]) => `${key}: ${value}`).join('\n'));
    if (rows.length > 1) console.log('');
  }
}

async function main(argv: string[]): Promise<number> {
  let json = false;
  try {
    const { values } = parseCommand(argv);
    json = values.json === true;
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const command = checkCommand(argv).positionals.join(' ');
    const config = loadConfig();
    const input = await readCommandInput(argv);
    const reply = (config.databaseUrl ? null : await viaGateway(config, { argv, input })) ?? (await locally(config, argv, input));
    if (!reply.ok) {
      console.error(reply.error);
      if (reply.usage) console.error(`\n${USAGE}`);
      return reply.usage ? 2 : 1;
    }
    print(command, reply.result, json);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataLockedError) {
      console.error(error.message);
      return 1;
    }
    const failure = describeFailure(error);
    console.error(failure.message);
    if (failure.usage) console.error(`\n${USAGE}`);
    return failure.usage ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
