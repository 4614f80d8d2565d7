// The node:http request listener: the server adapter's own, except that a
// streamed body (src/http/streamed-body.ts) is written straight to the socket
// instead of through the adapter's web-stream pump.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { sendNodeResponse, type ServerAdapterObject } from '@whatwg-node/server';
import type { Logger } from '../log.ts';
import type { ServerContext } from '../yoga.ts';
import { sendStreamed } from './streamed-body.ts';

export function nodeListener(adapter: Pick<ServerAdapterObject<ServerContext>, 'handleNodeRequestAndResponse'>, logger: Pick<Logger, 'error'>): RequestListener {
  const cutShort = (error: unknown) => logger.error({ err: error }, 'a streamed response failed mid-stream');
  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        const response = await adapter.handleNodeRequestAndResponse(req, res, { req, res } as ServerContext);
        if (!sendStreamed(response, req, res, cutShort)) await sendNodeResponse(response, res, req, true);
      } catch (error) {
        // The edge answers every failure of a surface; this is one of sending the answer.
        logger.error({ err: error }, 'sending a response failed');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      }
    })();
  };
}
