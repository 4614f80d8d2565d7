// A Unix socket in the data folder through which the CLI asks the running
// gateway to run a command, since PGlite allows only one process to open the
// database. Mode 0600: only the user running the gateway may use it.
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import type { Services } from '../services/services.ts';
import { describeFailure, runCommand, type EvaluationInput } from './commands.ts';

/** The command line, and what the CLI read from the files it names (see readCommandInput). */
export type ControlRequest = { argv: string[]; input?: EvaluationInput };
export type ControlReply = { ok: true; result: unknown } | { ok: false; error: string; usage: boolean };

/** Room for an evaluation's 500 questions of up to 2,000 characters each. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export function controlSocketPath(dataDir: string): string {
  return path.join(dataDir, 'control.sock');
}

async function answer(services: Services, line: string): Promise<ControlReply> {
  try {
    const request = JSON.parse(line) as ControlRequest;
    if (!Array.isArray(request.argv) || !request.argv.every((arg) => typeof arg === 'string')) {
      return { ok: false, error: 'Malformed control request.', usage: false };
    }
    const input = Array.isArray(request.input?.cases) ? request.input : undefined;
    return { ok: true, result: await runCommand(services, request.argv, input) };
  } catch (error) {
    if (error instanceof SyntaxError) return { ok: false, error: 'Malformed control request.', usage: false };
    const failure = describeFailure(error);
    return { ok: false, error: failure.message, usage: failure.usage };
  }
}

export async function startControlSocket(socketPath: string, services: Services) {
  // A socket file left by a gateway that died would refuse the bind; we hold the data lock, so it is ours to replace.
  await rm(socketPath, { force: true });
  const server = createServer((socket: Socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_BYTES) return socket.destroy();
      const newline = buffer.indexOf('\n');
      if (newline === -1) return;
      const line = buffer.slice(0, newline);
      buffer = '';
      answer(services, line)
        .catch((error: unknown) => ({ ok: false, error: `The gateway failed to run the command: ${(error as Error).message}`, usage: false }))
        .then((reply) => socket.end(`${JSON.stringify(reply)}\n`));
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  await chmod(socketPath, 0o600);
  return {
    close: () => new Promise<void>((resolve) => server.close(() => rm(socketPath, { force: true }).then(() => resolve(), () => resolve()))),
  };
}
