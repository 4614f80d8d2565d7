// Signed visitor identity: an organization's backend signs an HS256 user token
// (sub = the user reference, exp at most 24 h ahead) with an identity secret;
// POST /auth/widget-token with that user_token binds the widget token to the
// user, sessions it opens are linked to their user context, and the traits
// reach the prompt. Every bad token is a 401 saying what is wrong with it.
import { randomBytes } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
let assistantId: string;
let identitySecret: string;
beforeAll(async () => {
  t = await createTestApp();
  const assistant = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Support' } });
  assistantId = assistant.body.data.id;
  identitySecret = (await t.app.services.identity.createSecret(t.org.organizationId)).identitySecret;
  // Building a gateway took over a minute once, on a machine at load average 20.
}, 120_000);
afterAll(() => t.close());

const now = () => Math.floor(Date.now() / 1000);

/** A user token as the organization's backend signs it (jose, HS256, the identity secret as UTF-8 bytes). */
function userToken(claims: Record<string, unknown>, { secret = identitySecret, alg = 'HS256' }: { secret?: string; alg?: string } = {}) {
  return new SignJWT({ exp: now() + 600, ...claims }).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
}

const mint = (body: Record<string, unknown>) => t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId, ...body }, auth: null });

async function openSession(token: string) {
  const session = await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistantId }, auth: { token } });
  expect(session.status).toBe(201);
  return session.body.data;
}

/** The system prompt of the model's last chat request. */
function lastSystemPrompt(): string {
  const chats = t.ollama.requests.filter((request) => request.path === '/api/chat');
  const messages = (chats.at(-1)!.body as { messages: Array<{ role: string; content: string }> }).messages;
  return messages.filter((message) => message.role === 'system').map((message) => message.content).join('\n');
}

describe('a visitor signed in by the organization\'s backend', () => {
  test('gets a widget token bound to the user; the session it opens is linked to a user context created for them', async () => {
    const minted = await mint({ user_token: await userToken({ sub: 'customer-1001' }) });
    expect(minted.status).toBe(200);
    expect(minted.body).toMatchObject({ token: expect.any(String), expires_in: 3600, token_type: 'Bearer' });
    const session = await openSession(minted.body.token);
    expect(session.user_context_id).toMatch(/^[0-9a-f-]{36}$/);
    const context = await t.json('GET', '/api/v1/contexts/customer-1001');
    expect(context.status).toBe(200);
    expect(context.body.data).toMatchObject({ id: session.user_context_id, user_reference: 'customer-1001', traits: {} });
    // The organization sees the link too.
    const listed = await t.json('GET', `/api/v1/sessions/${session.id}`);
    expect(listed.body.data.user_context_id).toBe(session.user_context_id);
  });

  test("the user's traits reach the prompt, as in conversations; an anonymous visitor's session carries none", async () => {
    await t.json('POST', '/api/v1/contexts/', { body: { user_reference: 'customer-2002', traits: { name: 'Ingrid', plan: 'enterprise' } } });
    const minted = await mint({ user_token: await userToken({ sub: 'customer-2002' }) });
    const session = await openSession(minted.body.token);
    const sent = await t.json('POST', `/api/v1/sessions/${session.id}/messages`, { body: { content: 'Which plan am I on?' }, auth: { token: minted.body.token } });
    expect(sent.status).toBe(201);
    expect(lastSystemPrompt()).toContain('"plan": "enterprise"');
    expect(lastSystemPrompt()).toContain('"name": "Ingrid"');

    const anonymous = await mint({});
    const anonymousSession = await openSession(anonymous.body.token);
    expect(anonymousSession.user_context_id).toBeNull();
    await t.json('POST', `/api/v1/sessions/${anonymousSession.id}/messages`, { body: { content: 'Which plan am I on?' }, auth: { token: anonymous.body.token } });
    expect(lastSystemPrompt()).not.toContain('enterprise');
  });

  test('renewing with previous_token keeps the binding and the visitor id; another user signing in on the same browser does not inherit them', async () => {
    const first = await mint({ user_token: await userToken({ sub: 'customer-3003' }) });
    const session = await openSession(first.body.token);
    const renewed = await mint({ previous_token: first.body.token });
    expect(renewed.status).toBe(200);
    expect((await t.json('GET', `/api/v1/sessions/${session.id}`, { auth: { token: renewed.body.token } })).status).toBe(200);
    expect((await openSession(renewed.body.token)).user_context_id).toBe(session.user_context_id);

    const someoneElse = await mint({ previous_token: renewed.body.token, user_token: await userToken({ sub: 'customer-4004' }) });
    expect((await t.json('GET', `/api/v1/sessions/${session.id}`, { auth: { token: someoneElse.body.token } })).status).toBe(404);
    expect((await openSession(someoneElse.body.token)).user_context_id).not.toBe(session.user_context_id);
  });

  test('GraphQL createWidgetToken takes the same userToken', async () => {
    const { body } = await t.graphql(
      'mutation ($clientId: String!, $userToken: String) { createWidgetToken(clientId: $clientId, userToken: $userToken) { token } }',
      { clientId: t.org.clientId, userToken: await userToken({ sub: 'customer-5005' }) },
      {},
    );
    expect(body.errors).toBeUndefined();
    expect((await openSession(body.data.createWidgetToken.token)).user_context_id).toEqual(expect.any(String));

    const forged = await t.graphql(
      'mutation ($clientId: String!, $userToken: String) { createWidgetToken(clientId: $clientId, userToken: $userToken) { token } }',
      { clientId: t.org.clientId, userToken: await userToken({ sub: 'customer-5005' }, { secret: 'not-the-secret' }) },
      {},
    );
    expect(forged.body.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' }, message: expect.stringMatching(/forged/) });
  });
});

describe('a user token that cannot be trusted is refused with 401 saying why', () => {
  const refusals: Array<[string, () => Promise<string>, RegExp]> = [
    ['forged (signed with another key)', () => userToken({ sub: 'mallory' }, { secret: `is_${randomBytes(32).toString('base64url')}` }), /forged/],
    ['expired', () => userToken({ sub: 'customer-1001', exp: now() - 3600 }), /expired at \d{4}-/],
    ['without exp', () => new SignJWT({ sub: 'customer-1001' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(identitySecret)), /no exp claim/],
    ['expiring more than 24 hours ahead', () => userToken({ sub: 'customer-1001', exp: now() + 25 * 3600 }), /more than 24 hours ahead/],
    ['unsigned (alg none)', async () => new UnsecuredJWT({ sub: 'customer-1001', exp: now() + 600 }).encode(), /unsigned \(alg "none"\)/],
    ['signed with another algorithm', () => userToken({ sub: 'customer-1001' }, { alg: 'HS512' }), /signed with "HS512"/],
    ['without sub', () => userToken({}), /no sub claim/],
    ['not a JWT at all', async () => 'hello', /is not a JWT/],
    ['empty', async () => '', /is not a JWT/],
  ];
  test.each(refusals)('%s', async (_, make, detail) => {
    const refused = await mint({ user_token: await make() });
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ status: 'error', status_code: 401, data: null });
    expect(refused.body.detail).toMatch(/^user_token /);
    expect(refused.body.detail).toMatch(detail);
  });

  test('a user_token that is not a string is a 422 naming it', async () => {
    const refused = await mint({ user_token: 42 });
    expect(refused.status).toBe(422);
    expect(refused.body.data.errors).toEqual([expect.objectContaining({ field: 'user_token' })]);
  });

  test('a token expiring exactly 24 hours ahead is accepted', async () => {
    expect((await mint({ user_token: await userToken({ sub: 'customer-1001', exp: now() + 24 * 3600 }) })).status).toBe(200);
  });

  test("another organization's identity secret does not vouch for this one's users", async () => {
    const otherSecret = (await t.app.services.identity.createSecret(t.otherOrg.organizationId)).identitySecret;
    const refused = await mint({ user_token: await userToken({ sub: 'customer-1001' }, { secret: otherSecret }) });
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toMatch(/forged/);
  });

  test('an organization without identity secrets is told to create one', async () => {
    const org = await t.createOrg('No identity');
    const refused = await t.json('POST', '/api/v1/auth/widget-token', {
      body: { client_id: org.clientId, user_token: await userToken({ sub: 'customer-1001' }) },
      auth: null,
    });
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toMatch(/no live identity secret.*org identity-secret/);
  });
});

describe('identity secrets rotate like API secrets', () => {
  test('a second secret verifies beside the first; a revoked one verifies nothing', async () => {
    const org = await t.createOrg('Rotating');
    const identity = t.app.services.identity;
    const oldSecret = await identity.createSecret(org.organizationId);
    const newSecret = await identity.createSecret(org.organizationId);
    const mintWith = async (secret: string) =>
      (await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: org.clientId, user_token: await userToken({ sub: 'u-1' }, { secret }) }, auth: null })).status;
    expect(await mintWith(oldSecret.identitySecret)).toBe(200);
    expect(await mintWith(newSecret.identitySecret)).toBe(200);
    await identity.revokeSecret(org.organizationId, oldSecret.id);
    expect(await mintWith(oldSecret.identitySecret)).toBe(401);
    expect(await mintWith(newSecret.identitySecret)).toBe(200);
    const listed = await identity.listSecrets(org.organizationId);
    expect(listed.map((secret) => [secret.id, secret.revokedAt !== null])).toEqual([
      [oldSecret.id, true],
      [newSecret.id, false],
    ]);
  });
});
