// The MCP server at /mcp as an MCP client meets it: the official SDK's client
// over Streamable HTTP against a listening gateway, with the Ollama test
// double standing in for the model.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SEED_ASSISTANT } from './fixtures/seed.ts';
import { createTestApp, type Credentials, type TestApp } from './utils/app.ts';

let t: TestApp;
let mcpUrl: URL;
let assistantId: string;
let qaId: string;
const clients: Client[] = [];

/** A connected SDK client sending the given headers (by default the API key as X-API-Key/X-API-Secret). */
async function connect(headers: Record<string, string> = keyHeaders(t.org)): Promise<Client> {
  const client = new Client({ name: 'gateway-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers } }));
  clients.push(client);
  return client;
}

const keyHeaders = (org: Credentials) => ({ 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret });

beforeAll(async () => {
  t = await createTestApp();
  mcpUrl = new URL(`${(await t.listen()).url}/mcp`);
  assistantId = (await t.json('POST', '/api/v1/assistants/', { body: SEED_ASSISTANT })).body.data.id;
  await t.json('POST', '/api/v1/assistants/', { body: { name: 'Draft', is_active: false } });
  qaId = (
    await t.json('POST', '/api/v1/knowledge/qa/', {
      body: { question: 'What are your business hours?', answer: 'We are open Monday to Friday, 9 AM to 6 PM EST.', tags: ['hours'] },
    })
  ).body.data.id;
  for (let i = 0; i < 300; i++) {
    const { body } = await t.json('GET', `/api/v1/knowledge/qa/${qaId}`);
    if (body.data.status === 'ready') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
afterAll(async () => {
  for (const client of clients) await client.close();
  await t.close();
});

describe('tools', () => {
  test('the SDK client connects and lists the three tools', async () => {
    const client = await connect();
    expect(client.getServerVersion()).toMatchObject({ name: 'assistant-gateway' });
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['ask_assistant', 'list_assistants', 'search_knowledge']);
    for (const tool of tools) {
      expect(tool.description).toBeTruthy();
      expect(tool.outputSchema).toBeTruthy();
    }
  });

  test('list_assistants gives the active assistants only', async () => {
    const client = await connect();
    const result = await client.callTool({ name: 'list_assistants', arguments: {} });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({
      assistants: [{ id: assistantId, name: 'Customer Support Bot', description: 'Helpful assistant for customer inquiries', tone: 'professional', language: 'en' }],
    });
    expect((result.content as Array<{ text: string }>)[0].text).toContain(assistantId);
  });

  test('search_knowledge finds the Q&A pair with its source, with or without an assistant', async () => {
    const client = await connect();
    for (const args of [{ query: 'business hours' }, { query: 'When are you open? business hours', assistant_id: assistantId, limit: 3 }]) {
      const result = await client.callTool({ name: 'search_knowledge', arguments: args });
      expect(result.isError).toBeFalsy();
      const { passages, searched } = result.structuredContent as { passages: Array<Record<string, unknown>>; searched: boolean };
      expect(searched).toBe(true);
      expect(passages[0]).toMatchObject({ source_id: qaId, kind: 'qa', title: 'What are your business hours?', url: null });
      expect(passages[0].content).toContain('Monday to Friday, 9 AM to 6 PM EST');
      expect((result.content as Array<{ text: string }>)[0].text).toContain('Monday to Friday');
    }
    const nothing = await client.callTool({ name: 'search_knowledge', arguments: { query: 'quantum chromodynamics lattice' } });
    expect((nothing.structuredContent as { passages: unknown[] }).passages).toEqual([]);
  });

  test('a source scoped to one assistant is found only when searching as that assistant', async () => {
    const scoped = await t.json('POST', '/api/v1/knowledge/qa/', {
      body: { question: 'Where is the warehouse?', answer: 'The warehouse is in Rotterdam, dock 7.', assistant_ids: [assistantId] },
    });
    for (let i = 0; i < 300; i++) {
      const { body } = await t.json('GET', `/api/v1/knowledge/qa/${scoped.body.data.id}`);
      if (body.data.status === 'ready') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const client = await connect();
    const search = async (args: Record<string, unknown>) =>
      ((await client.callTool({ name: 'search_knowledge', arguments: args })).structuredContent as { passages: Array<{ source_id: string }> }).passages;
    expect((await search({ query: 'warehouse Rotterdam' })).map((p) => p.source_id)).not.toContain(scoped.body.data.id);
    expect((await search({ query: 'warehouse Rotterdam', assistant_id: assistantId }))[0].source_id).toBe(scoped.body.data.id);
  });

  test('ask_assistant replies as the assistant, grounded in the Q&A pair, citing it, in a stored conversation', async () => {
    t.ollama.setBehavior({ reply: ({ messages }) => /<reference number="1"[^>]*>\n([\s\S]*?)\n<\/reference>/.exec(messages[0].content)?.[1] ?? 'I do not know.' });
    try {
      const client = await connect();
      const result = await client.callTool({ name: 'ask_assistant', arguments: { assistant_id: assistantId, question: 'What are your business hours?' } });
      expect(result.isError).toBeFalsy();
      const answer = result.structuredContent as { reply: string; sources: Array<Record<string, unknown>>; conversation_id: string; usage: { total_tokens: number } };
      expect(answer.reply).toContain('Monday to Friday, 9 AM to 6 PM EST');
      expect(answer.sources).toEqual([expect.objectContaining({ source_id: qaId, kind: 'qa', title: 'What are your business hours?' })]);
      expect(answer.usage.total_tokens).toBeGreaterThan(0);
      expect((result.content as Array<{ text: string }>)[0].text).toMatch(/Sources:\n\[1\] What are your business hours\?/);
      const conversation = await t.json('GET', `/api/v1/conversations/${answer.conversation_id}`);
      expect(conversation.body.data).toMatchObject({ assistant_id: assistantId, metadata: { channel: 'mcp' } });
    } finally {
      t.ollama.setBehavior({ reply: ({ messages }) => `You said: ${messages.findLast((m) => m.role === 'user')?.content ?? ''}` });
    }
  });

  test('an unknown assistant or a model that is down is a tool error the calling model can read', async () => {
    const client = await connect();
    const unknown = await client.callTool({ name: 'ask_assistant', arguments: { assistant_id: 'nope', question: 'Hi' } });
    expect(unknown.isError).toBe(true);
    expect((unknown.content as Array<{ text: string }>)[0].text).toMatch(/list_assistants/);

    t.ollama.setBehavior({ models: ['nomic-embed-text'] });
    try {
      const down = await client.callTool({ name: 'ask_assistant', arguments: { assistant_id: assistantId, question: 'Anyone there?' } });
      expect(down.isError).toBe(true);
      expect((down.content as Array<{ text: string }>)[0].text).toMatch(/llama3\.2/);
    } finally {
      t.ollama.setBehavior({ models: ['llama3.2', 'nomic-embed-text'] });
    }
  });
});

describe('credentials', () => {
  test('the API key as a Bearer token works too', async () => {
    const client = await connect({ Authorization: `Bearer ${t.org.clientId}:${t.org.clientSecret}` });
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(3);
  });

  test('another organization\'s key sees its own assistants only', async () => {
    const client = await connect(keyHeaders(t.otherOrg));
    const result = await client.callTool({ name: 'list_assistants', arguments: {} });
    expect(result.structuredContent).toEqual({ assistants: [] });
    const search = await client.callTool({ name: 'search_knowledge', arguments: { query: 'business hours' } });
    expect((search.structuredContent as { passages: unknown[] }).passages).toEqual([]);
  });

  test('no credentials, a wrong key or a widget token is a 401', async () => {
    const minted = await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null });
    const attempts: Array<Record<string, string>> = [{}, { 'X-API-Key': t.org.clientId, 'X-API-Secret': 'cs_wrong' }, { Authorization: `Bearer ${minted.body.token}` }];
    for (const headers of attempts) {
      const error = await connect(headers).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, JSON.stringify(headers)).toBeInstanceOf(StreamableHTTPError);
      expect((error as StreamableHTTPError).code).toBe(401);
    }
    const raw = await fetch(mcpUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toMatchObject({ jsonrpc: '2.0', error: { message: expect.stringContaining('X-API-Key') }, id: null });
  });

  test('GET and DELETE are a 405: the server is stateless', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(mcpUrl, { method, headers: keyHeaders(t.org) });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
    }
  });
});
