// The benchmark's handle on the Ollama test double running in its own process.
import path from 'node:path';
import { ROOT, spawnNode, tail } from './children.ts';
import type { ChatRecord, DoubleConfig } from './double-process.ts';

export type { ChatRecord };

export type Double = {
  url: string;
  pid: number;
  configure(config: DoubleConfig): Promise<void>;
  /** The /api/chat requests since the last drain (and forgets them). */
  drain(): Promise<ChatRecord[]>;
  close(): Promise<void>;
};

export async function startDouble(): Promise<Double> {
  const child = spawnNode(path.join(ROOT, 'bench/lib/double-process.ts'), [], { label: 'ollama double', ipc: true });
  let nextId = 1;
  const pending = new Map<number, (reply: any) => void>();
  const ready = new Promise<string>((resolve, reject) => {
    child.exited.then(() => reject(new Error(`The Ollama double exited.\n${tail(child.stdout(), child.stderr())}`)));
    child.process.on('message', (message: any) => {
      if (message?.type === 'ready') return resolve(message.url);
      pending.get(message?.id)?.(message);
      pending.delete(message?.id);
    });
  });
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 60_000);
  const url = await ready.finally(() => clearTimeout(timer));
  const ask = (message: Record<string, unknown>) =>
    new Promise<any>((resolve, reject) => {
      if (child.hasExited()) return reject(new Error('The Ollama double is gone.'));
      const id = nextId++;
      const timeout = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`The Ollama double did not answer "${message.type}".`));
      }, 30_000);
      pending.set(id, (reply) => {
        clearTimeout(timeout);
        resolve(reply);
      });
      child.process.send({ ...message, id });
    });
  return {
    url,
    pid: child.pid,
    async configure(config) {
      await ask({ type: 'configure', config });
    },
    async drain() {
      return (await ask({ type: 'drain' })).chats as ChatRecord[];
    },
    async close() {
      if (child.hasExited()) return;
      await ask({ type: 'close' }).catch(() => {});
      await child.stop(5_000);
    },
  };
}
