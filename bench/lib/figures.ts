// What every section reports: named figures with one value per run, and
// optionally a target that the median must meet.
import { summarize, type Summary } from './stats.ts';

export type SectionName = 'gateway' | 'messages' | 'startup' | 'knowledge' | 'hostile' | 'serving' | 'rewrite' | 'scaleout';

export type Target = { op: '>=' | '<='; value: number };

export type Figure = Summary & {
  section: SectionName;
  /** Stable key, used to compare with the last run's JSON. */
  key: string;
  label: string;
  unit: string;
  /** One value per measured run. */
  runs: number[];
  target?: Target;
  /** Whether the median meets the target; absent when there is none. */
  pass?: boolean;
};

/** Collects figures of one section, run by run. */
export class FigureSet {
  readonly section: SectionName;
  private readonly figures = new Map<string, { label: string; unit: string; runs: number[]; target?: Target }>();

  constructor(section: SectionName) {
    this.section = section;
  }

  add(key: string, label: string, unit: string, value: number, target?: Target) {
    let figure = this.figures.get(key);
    if (!figure) {
      figure = { label, unit, runs: [], target };
      this.figures.set(key, figure);
    }
    figure.runs.push(value);
  }

  list(): Figure[] {
    return [...this.figures].map(([key, { label, unit, runs, target }]) => {
      const summary = summarize(runs);
      const pass = target && Number.isFinite(summary.median) ? (target.op === '>=' ? summary.median >= target.value : summary.median <= target.value) : undefined;
      return { section: this.section, key, label, unit, runs, ...summary, target, pass: target ? (pass ?? false) : undefined };
    });
  }
}
