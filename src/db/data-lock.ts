// PGlite supports one process per data folder and does not enforce it: a second process opens
// the folder without error and the two corrupt each other. Every process that opens a data
// folder (gateway, CLI) takes this lock first.
//
// The lock is proper-lockfile's: an atomic mkdir of `<dataDir>/gateway.lock`, whose mtime the
// holder refreshes. Beside it, `gateway.pid` names the holder, which gives a useful error and a
// better staleness test than mtime alone: a holder that is alive keeps its lock even when a
// long synchronous PGlite query (an index build) stops it refreshing the mtime, and the lock of
// a holder that has died is taken over at once, so a crashed gateway restarts without waiting.
import { hostname } from 'node:os';
import { mkdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lock } from 'proper-lockfile';

export class DataLockedError extends Error {
  override name = 'DataLockedError';
  /** The holder's process id, or null when it has not yet written it (it is still starting). */
  readonly holderPid: number | null;
  readonly dataDir: string;

  constructor(dataDir: string, holderPid: number | null) {
    const holder = holderPid === null ? 'another process' : `process ${holderPid}`;
    super(
      `Data folder ${dataDir} is in use by ${holder} (another gateway or CLI). ` +
        'Stop it or set DATA_DIR to another folder.',
    );
    this.holderPid = holderPid;
    this.dataDir = dataDir;
  }
}

export type DataLock = { release(): Promise<void> };

const LOCK_DIR = 'gateway.lock';
const PID_FILE = 'gateway.pid';
// proper-lockfile's default: the mtime is refreshed every half of it.
const STALE_MS = 10_000;

// What is found at the lock: nothing, a lock whose holder is gone, or a live holder.
type LockState = { held: false; stale: boolean } | { held: true; pid: number | null };
type PidRecord = { pid: number; hostname: string };

// Folders locked by this process: proper-lockfile would refuse a second lock here too, but
// without this the pid check below would take the holder for a previous run of ours.
const heldHere = new Set<string>();

/**
 * Takes the data folder (creating it if needed) for this process, or throws DataLockedError
 * naming the live holder. Released by `release()` or, at the latest, when the process exits.
 * Should the lock be lost later (its folder removed or taken by another process),
 * `onCompromised` runs; by default it throws, which stops the process.
 */
export async function acquireDataLock(
  dataDir: string,
  options: { onCompromised?: (error: Error) => void } = {},
): Promise<DataLock> {
  await mkdir(dataDir, { recursive: true });
  const dir = await realpath(dataDir);
  const state = await inspectLock(dir);
  if (state.held) throw new DataLockedError(dataDir, state.pid);
  // Left by a holder that is gone: proper-lockfile alone would wait for its mtime to age. (Two
  // processes taking over the same stale lock at the same instant can both win, as with
  // proper-lockfile's own stale check; a narrow window, after a crash only.)
  if (state.stale) await rm(path.join(dir, LOCK_DIR), { recursive: true, force: true });

  let unlock: () => Promise<void>;
  try {
    unlock = await lock(dir, {
      lockfilePath: path.join(dir, LOCK_DIR),
      stale: STALE_MS,
      realpath: false,
      onCompromised: options.onCompromised ?? compromised(dataDir),
    });
  } catch (error) {
    // Another process won the race since we looked.
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    const winner = await inspectLock(dir);
    throw new DataLockedError(dataDir, winner.held ? winner.pid : null);
  }
  heldHere.add(dir);
  const record: PidRecord = { pid: process.pid, hostname: hostname() };
  await writeFile(path.join(dir, PID_FILE), `${JSON.stringify(record)}\n`);

  let released: Promise<void> | undefined;
  return {
    release: () =>
      (released ??= (async () => {
        await rm(path.join(dir, PID_FILE), { force: true });
        heldHere.delete(dir);
        await unlock();
      })()),
  };
}

/** Whether a live process (this one included) holds the data folder. */
export async function isDataLocked(dataDir: string): Promise<boolean> {
  const dir = await realpath(dataDir).catch(() => null);
  return dir !== null && (await inspectLock(dir)).held;
}

async function inspectLock(dir: string): Promise<LockState> {
  const lockStat = await stat(path.join(dir, LOCK_DIR)).catch(() => null);
  if (!lockStat) return { held: false, stale: false };
  if (heldHere.has(dir)) return { held: true, pid: process.pid };

  const record = await readPidRecord(dir, lockStat.birthtimeMs);
  // A pid means something only on the host that wrote it (containers sharing a volume do not
  // share pids); elsewhere, or before the holder has written it, only the mtime can tell.
  if (!record || record.hostname !== hostname()) {
    const fresh = Date.now() - lockStat.mtimeMs < STALE_MS;
    return fresh ? { held: true, pid: record?.pid ?? null } : { held: false, stale: true };
  }
  // Our own pid, yet not held here: a previous run (a restarted container is pid 1 again).
  if (record.pid !== process.pid && isAlive(record.pid)) return { held: true, pid: record.pid };
  return { held: false, stale: true };
}

async function readPidRecord(dir: string, lockBornMs: number): Promise<PidRecord | null> {
  const file = path.join(dir, PID_FILE);
  try {
    // A pid file older than the lock was left by an earlier holder that died; the current
    // holder has not written its own yet.
    if ((await stat(file)).mtimeMs < lockBornMs) return null;
    const record = JSON.parse(await readFile(file, 'utf8')) as Partial<PidRecord>;
    return Number.isInteger(record.pid) && typeof record.hostname === 'string'
      ? (record as PidRecord)
      : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, owned by another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// The lock was removed or touched by someone else: two processes may now be writing the same
// folder, so stopping is safer than carrying on.
function compromised(dataDir: string) {
  return (error: Error) => {
    throw new Error(
      `Lost the lock on data folder ${dataDir} (${error.message}); stopping to protect the data.`,
      { cause: error },
    );
  };
}
