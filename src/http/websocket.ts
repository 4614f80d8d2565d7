// GraphQL over WebSocket (graphql-ws, protocol graphql-transport-ws) on the
// same port and path as HTTP. Operations run through Yoga's envelop pipeline,
// so the same validation, limits, masking and context apply as over HTTP.
// Credentials travel in connection_init's payload; each operation is counted
// against the organization's rate limit like an HTTP request.
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { EdgeContext } from '../context.ts';
import { AppError } from '../errors.ts';
import type { ClientAddressOf } from './client-address.ts';
import type { Cors } from './cors.ts';
import type { Credentials, Gate } from './gate.ts';

export type WebSocketOptions = {
  server: Server;
  path: string;
  yoga: YogaServerInstance<any, any>;
  gate: Gate;
  cors: Cors;
  /** The key of the client's address, as the HTTP edge computes it (per-address budgets). */
  clientAddressOf: ClientAddressOf;
  /** Largest message accepted, in bytes (the ws default of 100 MB invites abuse). */
  maxPayload?: number;
  /** Time a client has to send connection_init, in milliseconds. */
  connectionInitWaitTimeout?: number;
};

/** Reads credentials from connection_init, as header names or as plain keys. */
function credentialsFrom(payload: Record<string, unknown> | undefined): Credentials {
  const lower = Object.fromEntries(Object.entries(payload ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
  const text = (...keys: string[]) => {
    for (const key of keys) if (typeof lower[key] === 'string') return lower[key] as string;
    return null;
  };
  const token = text('token');
  return {
    apiKey: text('x-api-key', 'apikey', 'api_key'),
    apiSecret: text('x-api-secret', 'apisecret', 'api_secret'),
    authorization: text('authorization') ?? (token ? `Bearer ${token}` : null),
  };
}

type Extra = { credentials?: Credentials; closed?: AbortController };

export function attachWebSockets({ server, path, yoga, gate, cors, clientAddressOf, maxPayload = 64 * 1024, connectionInitWaitTimeout = 5_000 }: WebSocketOptions) {
  const wss = new WebSocketServer({
    server,
    path,
    maxPayload,
    // Browsers always send Origin; only allowed ones may open a socket. Other clients send none.
    verifyClient: ({ origin }: { origin?: string }, done: (ok: boolean, code?: number, reason?: string) => void) =>
      !origin || cors.isAllowed(origin) ? done(true) : done(false, 403, 'Origin not allowed (CORS_ORIGINS)'),
  });

  const disposable = useServer<Record<string, unknown>, Extra>(
    {
      connectionInitWaitTimeout,
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        const credentials = credentialsFrom(ctx.connectionParams);
        try {
          // Counted like a failed HTTP authentication, so sockets cannot be used to guess secrets without limit.
          await gate.authenticate(credentials, clientAddressOf(ctx.extra.request));
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          ctx.extra.socket.close(CloseCode.Unauthorized, error.message.slice(0, 120));
          return false;
        }
        ctx.extra.credentials = credentials;
        const closed = new AbortController();
        ctx.extra.closed = closed;
        ctx.extra.socket.once('close', () => closed.abort());
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const address = clientAddressOf(ctx.extra.request);
        let edge: EdgeContext;
        try {
          const admission = await gate.admit(ctx.extra.credentials ?? {}, address);
          edge = {
            viewer: admission.viewer,
            requestId: randomUUID(),
            signal: ctx.extra.closed?.signal,
            origin: ctx.extra.request.headers.origin ?? null,
            chargeWidget: admission.chargeWidget,
          };
        } catch (error) {
          if (error instanceof AppError) return [error];
          throw error;
        }
        const enveloped = yoga.getEnveloped({ ...edge, request: ctx.extra.request, params: payload } as never);
        let document;
        try {
          document = enveloped.parse(payload.query);
        } catch (error) {
          return [error as never];
        }
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) return errors;
        return {
          schema: enveloped.schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await enveloped.contextFactory(),
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
      },
    },
    wss,
  );

  return {
    async close() {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
