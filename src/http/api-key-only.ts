// The surfaces for integrations (the OpenAI-compatible API, MCP) act with an
// organization's full rights, so they take its API key only: a widget token
// (a website visitor's) is refused as a wrong key would be.
import { AppError } from '../errors.ts';
import type { ApiKeyViewer } from '../services/viewer.ts';
import type { AdmittedContext } from './edge.ts';

/**
 * Admits the request (counting it against its budgets) and returns its API
 * key's viewer; 401 otherwise. `how` tells the caller how to send the key.
 */
export async function admitApiKey(admit: () => Promise<AdmittedContext>, how: string): Promise<ApiKeyViewer> {
  const edge = await admit();
  if (edge.viewer?.kind === 'apiKey') return edge.viewer;
  // No credentials at all is a failed authentication of the address, as on the other APIs.
  if (!edge.viewer && edge.authOutcome) edge.authOutcome.unauthenticated = true;
  throw new AppError(
    'UNAUTHENTICATED',
    edge.viewer ? `Widget tokens are not accepted here: use your API key, ${how}.` : `Authentication required: send your API key, ${how}.`,
  );
}
