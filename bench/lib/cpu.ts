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

/** Busy and total jiffies of all cores since boot (/proc/stat's first line); undefined off Linux. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: idle and iowait are the idle ones.
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    return { busy: total - fields[3] - fields[4], total };
  } catch {
    return undefined;
  }
}

/**
 * Starts measuring the whole machine (every process, ours and others'); `stop()` gives the
 * share of all cores that was busy over the interval (0..1, NaN off Linux). A figure taken at
 * 0.95 was limited by the cores, whatever the software did.
 */
export function machineCpuMeter() {
  const before = machineTicks();
  return {
    stop(): number {
      const after = machineTicks();
      if (!before || !after || after.total === before.total) return Number.NaN;
      return (after.busy - before.busy) / (after.total - before.total);
    },
  };
}
