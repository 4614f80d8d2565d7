// CPU time of a process (all its threads), to tell whether the machine's cores were the
// bottleneck during a measurement: with 2 cores, the gateway, the Ollama double and the
// benchmark's clients compete for them. Linux only (/proc); elsewhere NaN.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU milliseconds used so far by `pid` (this process when omitted). */
export function cpuMs(pid?: number): number {
  if (pid === undefined || pid === process.pid) {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at state: utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / clockTicks()) * 1000;
  } catch {
    return Number.NaN;
  }
}

/** Starts measuring; `stop()` gives each process's CPU use in % of one core over the interval. */
export function cpuMeter(pids: Record<string, number | undefined>) {
  const started = performance.now();
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  return {
    stop(): Record<string, number> {
      const elapsed = performance.now() - started;
      return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, ((cpuMs(pid) - before[name]) / elapsed) * 100]));
    },
  };
}

export const describeCpu = (usage: Record<string, number>) =>
  Object.entries(usage)
    .map(([name, percent]) => `${name} ${Number.isFinite(percent) ? percent.toFixed(0) : '?'}%`)
    .join(', ');
