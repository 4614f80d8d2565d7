// Runs a REST route's GraphQL documents through Yoga's own pipeline, so that a
// REST call gets the same plugins (limits, input guard), context and masking
// as the same operation sent to /graphql.
import type { DocumentNode } from 'graphql';
import type { EdgeContext } from '../context.ts';
import type { ServerContext, YogaServer } from '../yoga.ts';
import type { Operations } from './handler.ts';

export function yogaOperations(yoga: YogaServer, request: Request, edge: EdgeContext & ServerContext): Operations {
  const run = async (kind: 'execute' | 'subscribe', document: DocumentNode, variableValues: Record<string, unknown>) => {
    const enveloped = yoga.getEnveloped({ ...edge, request, params: {} } as never);
    const contextValue = await enveloped.contextFactory();
    return enveloped[kind]({ schema: enveloped.schema, document, variableValues, contextValue });
  };
  return {
    execute: (document, variables) => run('execute', document, variables) as never,
    subscribe: (document, variables) => run('subscribe', document, variables) as never,
  };
}
