// The handoff states of a session or conversation, in a module of their own so
// that the thread services can check a filter without importing the handoff rules.
import { invalid } from '../errors.ts';

export const HANDOFF_STATES = ['none', 'requested', 'active'] as const;
export type HandoffState = (typeof HANDOFF_STATES)[number];

/** A list filter naming a state that does not exist is a mistake worth saying, not an empty list. */
export function assertHandoffState(value: string | null | undefined) {
  if (value != null && value !== '' && !HANDOFF_STATES.includes(value as HandoffState)) {
    throw invalid([{ field: 'handoff', message: `must be one of ${HANDOFF_STATES.join(', ')}` }]);
  }
}
