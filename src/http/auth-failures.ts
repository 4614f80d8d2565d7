// Anonymous requests that the schema refused as UNAUTHENTICATED (a protected
// field asked for without credentials, or an unknown client_id at the
// widget-token endpoint) are failed authentications too. Resolvers cannot see
// the client address, so this plugin only notes the outcome on the request's
// context; the edge then counts it against the address, as it counts wrong
// credentials, and answers 429 past the allowance.
import type { Plugin } from 'graphql-yoga';

/** Set by the plugin when an anonymous operation ended UNAUTHENTICATED. */
export type AuthOutcome = { unauthenticated: boolean };

export function useAuthFailureReport(): Plugin {
  return {
    onExecute({ args }) {
      const context = args.contextValue as { viewer?: unknown; authOutcome?: AuthOutcome };
      const outcome = context.authOutcome;
      if (context.viewer || !outcome) return;
      return {
        onExecuteDone({ result }) {
          if (!('errors' in result)) return;
          if (result.errors?.some((error) => error.extensions?.code === 'UNAUTHENTICATED')) outcome.unauthenticated = true;
        },
      };
    },
  };
}
