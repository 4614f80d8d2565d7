// Who may do what: API keys own their organization; a widget token (for a
// website visitor) may only read active assistants, open sessions and chat in
// the sessions it opened. Every refusal is the error envelope: 401 for missing
// or wrong credentials, 403 for a widget token outside its rights.
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { authHeaders, createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
let activeId: string;
let inactiveId: string;
beforeAll(async () => {
  t = await createTestApp();
  const active = await t.json('POST', '/api/v1/assistants/', {
    body: { name: 'Support', default_tasks: ['answer_questions'], model: 'llama3.2', temperature: 0.3, metadata: { internal: 'cost-center-7' } },
  });
  activeId = active.body.data.id;
  const inactive = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Draft', is_active: false } });
  inactiveId = inactive.body.data.id;
});
afterAll(() => t.close());

const unauthorized = { status: 'error', status_code: 401, detail: expect.any(String), data: null };
const forbidden = { status: 'error', status_code: 403, detail: expect.any(String), data: null };

async function widgetToken(clientId = t.org.clientId, previousToken?: string): Promise<string> {
  const { status, body } = await t.json('POST', '/api/v1/auth/widget-token', {
    body: previousToken ? { client_id: clientId, previous_token: previousToken } : { client_id: clientId },
    auth: null,
  });
  expect(status).toBe(200);
  return body.token;
}

/** The live signing key, as a forger who stole it (or the server itself) would hold it. */
async function signingKey(): Promise<{ kid: string; secret: Uint8Array }> {
  const row = await t.db.prisma.signingKey.findFirstOrThrow({ where: { retiredAt: null }, orderBy: { createdAt: 'desc' } });
  return { kid: row.id, secret: Buffer.from(row.secret, 'base64url') };
}

type Claims = { iss?: string; aud?: string; sub?: string; org?: string; iat?: number; exp?: number };

/** A token with the given claims, signed with the real key unless told otherwise. */
async function craftToken(claims: Claims, options: { secret?: Uint8Array; alg?: string; kid?: string } = {}): Promise<string> {
  const key = await signingKey();
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: 'assistant-gateway',
    aud: 'assistant-widget',
    sub: randomUUID(),
    org: t.org.organizationId,
    iat: now,
    exp: now + 3600,
    ...claims,
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', kid: options.kid ?? key.kid, typ: 'JWT' })
    .sign(options.secret ?? key.secret);
}

describe('API keys', () => {
  test('the client id and secret give full access to their organization', async () => {
    const { status, body } = await t.json('GET', '/api/v1/assistants/');
    expect(status).toBe(200);
    expect(body.data.items.map((a: { id: string }) => a.id)).toEqual(expect.arrayContaining([activeId, inactiveId]));
    expect(body.data.items.find((a: { id: string }) => a.id === activeId)).toMatchObject({
      default_tasks: ['answer_questions'],
      model: 'llama3.2',
      metadata: { internal: 'cost-center-7' },
    });
  });

  test('no credentials at all is a 401 envelope that says how to authenticate', async () => {
    const { status, body } = await t.json('GET', '/api/v1/assistants/', { auth: null });
    expect(status).toBe(401);
    expect(body).toEqual(unauthorized);
    expect(body.detail).toMatch(/X-API-Key/);
  });

  test('a wrong secret, an unknown client id, or only one of the two headers is a 401', async () => {
    const attempts: Array<Record<string, string>> = [
      { 'X-API-Key': t.org.clientId, 'X-API-Secret': 'cs_wrong' },
      { 'X-API-Key': 'cid_unknown', 'X-API-Secret': t.org.clientSecret },
      // Another organization's secret with this one's client id.
      { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.otherOrg.clientSecret },
      { 'X-API-Key': t.org.clientId },
      { 'X-API-Secret': t.org.clientSecret },
    ];
    for (const headers of attempts) {
      const { status, body } = await t.json('GET', '/api/v1/assistants/', { auth: null, headers });
      expect(status, JSON.stringify(Object.keys(headers))).toBe(401);
      expect(body).toEqual(unauthorized);
      expect(body.detail).not.toContain(t.org.clientSecret);
    }
  });

  test('the API key also works as "Authorization: Bearer CLIENT_ID:CLIENT_SECRET", and a wrong one is a 401', async () => {
    const bearer = { Authorization: `Bearer ${t.org.clientId}:${t.org.clientSecret}` };
    const { status, body } = await t.json('GET', '/api/v1/assistants/', { auth: null, headers: bearer });
    expect(status).toBe(200);
    expect(body.data.items.map((a: { id: string }) => a.id)).toEqual(expect.arrayContaining([activeId, inactiveId]));

    for (const authorization of [`Bearer ${t.org.clientId}:cs_wrong`, `Bearer ${t.org.clientId}:${t.otherOrg.clientSecret}`, `Bearer cid_unknown:${t.org.clientSecret}`]) {
      const refused = await t.json('GET', '/api/v1/assistants/', { auth: null, headers: { Authorization: authorization } });
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual(unauthorized);
      expect(refused.body.detail).toMatch(/CLIENT_ID:CLIENT_SECRET/);
      expect(refused.body.detail).not.toContain(t.org.clientSecret);
    }
  });

  test('a revoked secret stops working at once while a newer one works', async () => {
    const org = await t.createOrg('Rotating');
    const fresh = await t.app.services.organizations.createSecret(org.organizationId);
    expect((await t.json('GET', '/api/v1/assistants/', { auth: org })).status).toBe(200);
    const secrets = await t.app.services.organizations.listSecrets(org.organizationId);
    const old = secrets.find((s) => s.id !== fresh.secretId)!;
    await t.app.services.organizations.revokeSecret(org.organizationId, old.id);
    const revoked = await t.json('GET', '/api/v1/assistants/', { auth: org });
    expect(revoked.status).toBe(401);
    expect(revoked.body).toEqual(unauthorized);
    const rotated = await t.json('GET', '/api/v1/assistants/', { auth: { ...org, clientSecret: fresh.clientSecret } });
    expect(rotated.status).toBe(200);
  });

  test('a deactivated organization is locked out: its keys, its widget tokens and new widget tokens are refused', async () => {
    const org = await t.createOrg('Suspended');
    const token = await widgetToken(org.clientId);
    await t.app.services.organizations.setActive(org.organizationId, false);
    try {
      expect((await t.json('GET', '/api/v1/assistants/', { auth: org })).status).toBe(401);
      expect((await t.json('GET', '/api/v1/assistants/', { auth: { token } })).status).toBe(401);
      const issued = await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: org.clientId }, auth: null });
      expect(issued.status).toBe(401);
      expect(issued.body).toEqual(unauthorized);
    } finally {
      await t.app.services.organizations.setActive(org.organizationId, true);
    }
  });
});

describe('the widget-token endpoint', () => {
  test('a client id alone gets a bearer token valid for an hour, in the documented unenveloped shape', async () => {
    const { status, body } = await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null });
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(['expires_in', 'token', 'token_type']);
    expect(body).toMatchObject({ expires_in: 3600, token_type: 'Bearer' });
    expect(decodeProtectedHeader(body.token).alg).toBe('HS256');
    const claims = decodeJwt(body.token);
    expect(claims).toMatchObject({ iss: 'assistant-gateway', aud: 'assistant-widget', org: t.org.organizationId });
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(Math.abs(claims.exp! - (Date.now() / 1000 + 3600))).toBeLessThan(60);
    expect(typeof claims.sub).toBe('string');
    // No secret and no organization internals in the token.
    expect(JSON.stringify(claims)).not.toContain(t.org.clientSecret);
  });

  test('each new visitor gets its own visitor id', async () => {
    const a = decodeJwt(await widgetToken());
    const b = decodeJwt(await widgetToken());
    expect(a.sub).not.toBe(b.sub);
  });

  test('an unknown client id is a 401 in the error envelope', async () => {
    const { status, body } = await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: 'cid_nobody' }, auth: null });
    expect(status).toBe(401);
    expect(body).toEqual(unauthorized);
  });

  test('a missing client id is a 422 naming client_id', async () => {
    const { status, body } = await t.json('POST', '/api/v1/auth/widget-token', { body: {}, auth: null });
    expect(status).toBe(422);
    expect(body.data.errors).toEqual([{ field: 'client_id', message: 'is required' }]);
  });
});

describe('what a widget token may do', () => {
  let token: string;
  beforeAll(async () => {
    token = await widgetToken();
  });

  test('it lists only active assistants, with their public fields only', async () => {
    const { status, body } = await t.json('GET', '/api/v1/assistants/', { auth: { token } });
    expect(status).toBe(200);
    const ids = body.data.items.map((a: { id: string }) => a.id);
    expect(ids).toContain(activeId);
    expect(ids).not.toContain(inactiveId);
    const active = body.data.items.find((a: { id: string }) => a.id === activeId);
    expect(active).toMatchObject({ id: activeId, name: 'Support', is_active: true });
    // Configuration and internal metadata are the organization's business.
    expect(active).toMatchObject({ default_tasks: null, model: null, temperature: null, max_tokens: null, metadata: null });
  });

  test('it reads an active assistant but not an inactive one', async () => {
    expect((await t.json('GET', `/api/v1/assistants/${activeId}`, { auth: { token } })).status).toBe(200);
    const inactive = await t.json('GET', `/api/v1/assistants/${inactiveId}`, { auth: { token } });
    expect(inactive.status).toBe(404);
    expect(inactive.body).toMatchObject({ status: 'error', status_code: 404, data: null });
  });

  test('it opens a session, chats in it and reads the history back', async () => {
    const session = await t.json('POST', '/api/v1/sessions/', { auth: { token }, body: { assistant_id: activeId } });
    expect(session.status).toBe(201);
    const sessionId = session.body.data.id;
    // With no visitor_id sent, the visitor is the token's.
    expect(session.body.data.visitor_id).toBe(decodeJwt(token).sub);

    const sent = await t.json('POST', `/api/v1/sessions/${sessionId}/messages`, { auth: { token }, body: { content: 'Where is my order?' } });
    expect(sent.status).toBe(201);
    expect(sent.body.data.assistant_message).toMatchObject({ role: 'assistant', status: 'complete', content: 'You said: Where is my order?' });

    const history = await t.json('GET', `/api/v1/sessions/${sessionId}/messages`, { auth: { token } });
    expect(history.status).toBe(200);
    expect(history.body.data.items.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect((await t.json('GET', `/api/v1/sessions/${sessionId}`, { auth: { token } })).status).toBe(200);
  });

  test('another visitor of the same organization cannot see or use that session', async () => {
    const session = await t.json('POST', '/api/v1/sessions/', { auth: { token }, body: { assistant_id: activeId } });
    const sessionId = session.body.data.id;
    const stranger = await widgetToken();
    for (const [method, path, body] of [
      ['GET', `/api/v1/sessions/${sessionId}`],
      ['GET', `/api/v1/sessions/${sessionId}/messages`],
      ['POST', `/api/v1/sessions/${sessionId}/messages`, { content: 'hi' }],
    ] as const) {
      const reply = await t.json(method, path, { auth: { token: stranger }, body });
      expect(reply.status, `${method} ${path}`).toBe(404);
      expect(reply.body).toMatchObject({ status: 'error', status_code: 404, data: null });
    }
    // Nothing was written into it.
    const history = await t.json('GET', `/api/v1/sessions/${sessionId}/messages`);
    expect(history.body.data.total).toBe(0);
  });

  test('sessions opened with the API key are not a visitor\'s', async () => {
    const session = await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: activeId, visitor_id: 'visitor-123' } });
    const reply = await t.json('GET', `/api/v1/sessions/${session.body.data.id}`, { auth: { token } });
    expect(reply.status).toBe(404);
  });

  test('it cannot open a session with an inactive assistant', async () => {
    const { status, body } = await t.json('POST', '/api/v1/sessions/', { auth: { token }, body: { assistant_id: inactiveId } });
    expect(status).toBe(404);
    expect(body.status).toBe('error');
  });

  test('everything else is a 403 in the error envelope', async () => {
    const conversation = await t.json('POST', '/api/v1/conversations/', { body: { assistant_id: activeId, customer_id: 'user-456' } });
    await t.json('POST', '/api/v1/contexts/', { body: { user_reference: 'user-456', traits: { name: 'John' } } });
    const conversationId = conversation.body.data.id;
    const refused: Array<[string, string, unknown?]> = [
      ['POST', '/api/v1/assistants/', { name: 'Sneaky' }],
      ['PATCH', `/api/v1/assistants/${activeId}`, { name: 'Renamed' }],
      ['PUT', `/api/v1/assistants/${activeId}`, { name: 'Renamed' }],
      ['DELETE', `/api/v1/assistants/${activeId}`],
      ['GET', '/api/v1/sessions/'],
      ['GET', '/api/v1/conversations/'],
      ['POST', '/api/v1/conversations/', { assistant_id: activeId }],
      ['GET', `/api/v1/conversations/${conversationId}`],
      ['GET', `/api/v1/conversations/${conversationId}/messages`],
      ['POST', `/api/v1/conversations/${conversationId}/messages`, { content: 'hi' }],
      ['GET', '/api/v1/contexts/'],
      ['POST', '/api/v1/contexts/', { user_reference: 'user-456', traits: { name: 'Mallory' } }],
      ['GET', '/api/v1/contexts/user-456'],
      ['PATCH', '/api/v1/contexts/user-456', { traits: { name: 'Mallory' } }],
      ['DELETE', '/api/v1/contexts/user-456'],
    ];
    for (const [method, path, body] of refused) {
      const reply = await t.json(method, path, { auth: { token }, body });
      expect(reply.status, `${method} ${path}`).toBe(403);
      expect(reply.body, `${method} ${path}`).toEqual(forbidden);
    }
    // And nothing changed.
    const assistant = await t.json('GET', `/api/v1/assistants/${activeId}`);
    expect(assistant.body.data.name).toBe('Support');
    const context = await t.json('GET', '/api/v1/contexts/user-456');
    expect(context.body.data.traits).toEqual({ name: 'John' });
  });

  test('over GraphQL the same refusals carry the codes UNAUTHENTICATED and FORBIDDEN', async () => {
    const asWidget = { Authorization: `Bearer ${token}` };
    const forbiddenReply = await t.graphql('{ conversations { total } }', {}, asWidget);
    expect(forbiddenReply.body.errors?.[0].extensions.code).toBe('FORBIDDEN');
    const create = await t.graphql('mutation { createAssistant(input: { name: "Sneaky" }) { id } }', {}, asWidget);
    expect(create.body.errors?.[0].extensions.code).toBe('FORBIDDEN');
    const anonymous = await t.graphql('{ assistants { total } }', {}, {});
    expect(anonymous.body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
    const allowed = await t.graphql('{ assistants { items { id name model } } }', {}, asWidget);
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.body.data.assistants.items.find((a: { id: string }) => a.id === activeId)).toEqual({ id: activeId, name: 'Support', model: null });
  });
});

describe('tokens that must not be accepted', () => {
  async function expectRejected(token: string, label: string) {
    const { status, body } = await t.json('GET', '/api/v1/assistants/', { auth: { token } });
    expect(status, label).toBe(401);
    expect(body, label).toEqual(unauthorized);
  }

  test('a token signed with another key is a 401', async () => {
    await expectRejected(await craftToken({}, { secret: randomBytes(32) }), 'forged');
  });

  test('a token whose payload was edited after signing is a 401', async () => {
    const genuine = await widgetToken();
    const [header, , signature] = genuine.split('.');
    const edited = Buffer.from(JSON.stringify({ ...decodeJwt(genuine), org: t.otherOrg.organizationId })).toString('base64url');
    await expectRejected(`${header}.${edited}.${signature}`, 'edited');
  });

  test('an unsigned token (alg "none") is a 401', async () => {
    const key = await signingKey();
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const header = encode({ alg: 'none', kid: key.kid, typ: 'JWT' });
    const payload = encode({ iss: 'assistant-gateway', aud: 'assistant-widget', sub: 'v', org: t.org.organizationId, iat: now, exp: now + 3600 });
    await expectRejected(`${header}.${payload}.`, 'alg none');
    await expectRejected(`${header}.${payload}`, 'alg none without a signature part');
  });

  test('a token signed with another HMAC algorithm than HS256 is a 401, even with the right key', async () => {
    await expectRejected(await craftToken({}, { alg: 'HS512' }), 'HS512');
  });

  test('an expired token is a 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(await craftToken({ iat: now - 7200, exp: now - 60 }), 'expired');
  });

  test('a token for another issuer or audience is a 401', async () => {
    await expectRejected(await craftToken({ iss: 'someone-else' }), 'issuer');
    await expectRejected(await craftToken({ aud: 'another-app' }), 'audience');
  });

  test('a token naming an organization that does not exist, or none, is a 401', async () => {
    await expectRejected(await craftToken({ org: randomUUID() }), 'unknown org');
    await expectRejected(await craftToken({ org: undefined }), 'no org');
    await expectRejected(await craftToken({ exp: undefined }), 'no expiry');
  });

  test('garbage and other schemes in Authorization are a 401', async () => {
    for (const authorization of ['Bearer', 'Bearer not.a.jwt', 'Bearer a b', `Basic ${Buffer.from('a:b').toString('base64')}`, 'Bearer ' + 'x'.repeat(5000)]) {
      const { status, body } = await t.json('GET', '/api/v1/assistants/', { auth: null, headers: { Authorization: authorization } });
      expect(status, authorization.slice(0, 20)).toBe(401);
      expect(body).toEqual(unauthorized);
    }
  });

  test('a forged token is a 401 over GraphQL too', async () => {
    const reply = await t.graphql('{ assistants { total } }', {}, { Authorization: `Bearer ${await craftToken({}, { secret: randomBytes(32) })}` });
    expect(reply.status).toBe(401);
    expect(reply.body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('a returning visitor', () => {
  async function openSession(token: string): Promise<string> {
    const session = await t.json('POST', '/api/v1/sessions/', { auth: { token }, body: { assistant_id: activeId } });
    expect(session.status).toBe(201);
    await t.json('POST', `/api/v1/sessions/${session.body.data.id}/messages`, { auth: { token }, body: { content: 'Remember me' } });
    return session.body.data.id;
  }

  test('passing its previous token keeps its visitor id and so its sessions', async () => {
    const first = await widgetToken();
    const sessionId = await openSession(first);
    const renewed = await widgetToken(t.org.clientId, first);
    expect(decodeJwt(renewed).sub).toBe(decodeJwt(first).sub);
    const history = await t.json('GET', `/api/v1/sessions/${sessionId}/messages`, { auth: { token: renewed } });
    expect(history.status).toBe(200);
    expect(history.body.data.items[0].content).toBe('Remember me');
  });

  test('a previous token that expired less than 24 hours ago still keeps the visitor id', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sub = randomUUID();
    const expired = await craftToken({ sub, iat: now - 23 * 3600, exp: now - 22 * 3600 });
    const renewed = await widgetToken(t.org.clientId, expired);
    expect(decodeJwt(renewed).sub).toBe(sub);
  });

  test('a previous token that expired more than 24 hours ago starts a new visitor', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sub = randomUUID();
    const stale = await craftToken({ sub, iat: now - 26 * 3600, exp: now - 25 * 3600 });
    const renewed = await widgetToken(t.org.clientId, stale);
    expect(decodeJwt(renewed).sub).not.toBe(sub);
  });

  test('a previous token of another organization, or a forged one, does not carry its visitor id over', async () => {
    const foreign = await widgetToken(t.otherOrg.clientId);
    const renewed = await widgetToken(t.org.clientId, foreign);
    expect(decodeJwt(renewed).sub).not.toBe(decodeJwt(foreign).sub);
    expect(decodeJwt(renewed).org).toBe(t.org.organizationId);

    const sub = randomUUID();
    const forged = await craftToken({ sub }, { secret: randomBytes(32) });
    expect(decodeJwt(await widgetToken(t.org.clientId, forged)).sub).not.toBe(sub);
    // A garbage previous token is ignored, not an error.
    expect((await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId, previous_token: 'junk' }, auth: null })).status).toBe(200);
  });
});


describe('widget tokens and inactive assistants', () => {
  test('asking for inactive assistants with a widget token still lists active ones only', async () => {
    const t = await createTestApp();
    try {
      await t.json('POST', '/api/v1/assistants', { body: { name: 'Hidden', is_active: false } });
      const token = (await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null })).body.token;
      const listed = await t.json('GET', '/api/v1/assistants/?is_active=false', { auth: { token } });
      expect(listed.status).toBe(200);
      expect(listed.body.data.items.map((a: { name: string }) => a.name)).not.toContain('Hidden');
    } finally {
      await t.close();
    }
  });
});

describe('rotating the signing key', () => {
  test('a token signed by a rotated key works for the grace period, then is refused and cannot be renewed as the same visitor', async () => {
    const app = await createTestApp({ env: { WIDGET_KEY_GRACE_SECONDS: '1' } });
    try {
      const mint = async (previous_token?: string) =>
        (await app.json('POST', '/api/v1/auth/widget-token', { auth: null, body: { client_id: app.org.clientId, previous_token } })).body.token as string;
      const before = await mint();
      await app.app.services.widgetTokens.rotate();
      expect((await app.json('GET', '/api/v1/assistants/', { auth: { token: before } })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const refused = await app.json('GET', '/api/v1/assistants/', { auth: { token: before } });
      expect(refused.status).toBe(401);
      expect(refused.body.detail).toMatch(/invalid or expired/);
      const renewed = await mint(before);
      expect(decodeJwt(renewed).sub).not.toBe(decodeJwt(before).sub);
      // Tokens of the new key are unaffected.
      expect((await app.json('GET', '/api/v1/assistants/', { auth: { token: renewed } })).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('allowed origins of an organization\'s widget', () => {
  test('with a list set, a page of another origin is refused a widget token with a 403 naming it; listed origins and servers are not', async () => {
    const org = await t.createOrg('Shop with a widget');
    const mint = (origin?: string) =>
      t.json('POST', '/api/v1/auth/widget-token', { auth: null, body: { client_id: org.clientId }, headers: origin ? { Origin: origin } : {} });
    // No list: any origin, as before.
    expect((await mint('https://anywhere.example')).status).toBe(200);

    const updated = await t.graphql(
      'mutation ($o: [String!]) { updateOrganization(allowedOrigins: $o) { allowedOrigins } }',
      { o: ['https://Shop.example', 'http://localhost:3000'] },
      authHeaders(org),
    );
    expect(updated.body.data.updateOrganization.allowedOrigins).toEqual(['https://shop.example', 'http://localhost:3000']);

    const refused = await mint('https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ status: 'error', status_code: 403, data: null });
    expect(refused.body.detail).toContain('https://evil.example');
    // The refusal is readable by the page, so the widget can say why.
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://evil.example');

    const allowed = await mint('https://shop.example');
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect((await mint('http://localhost:3000')).status).toBe(200);
    // A server sends no Origin: the reference's curl example keeps working.
    expect((await mint()).status).toBe(200);

    // Over GraphQL the same rule, the same status.
    const overGraphql = await t.app.fetch(
      new Request('http://gateway.test/graphql', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: 'https://evil.example' },
        body: JSON.stringify({ query: `mutation { createWidgetToken(clientId: "${org.clientId}") { token } }` }),
      }),
    );
    expect(overGraphql.status).toBe(403);
    expect((await overGraphql.json()).errors[0].extensions.code).toBe('FORBIDDEN');

    // Cleared: any origin again.
    await t.graphql('mutation { updateOrganization(allowedOrigins: []) { allowedOrigins } }', {}, authHeaders(org));
    expect((await mint('https://evil.example')).status).toBe(200);
  });

  test('an origin that is not one (a path, no scheme) is a 422 naming the entry', async () => {
    const reply = await t.graphql('mutation { updateOrganization(allowedOrigins: ["https://shop.example/page", "shop.example"]) { id } }');
    expect(reply.body.errors![0].extensions.code).toBe('VALIDATION_FAILED');
    expect(reply.body.errors![0].extensions.errors.map((e: { field: string }) => e.field)).toEqual(['allowedOrigins.0', 'allowedOrigins.1']);
    expect(reply.status).toBe(422);
  });

  test('a widget token cannot change its organization', async () => {
    const token = (await t.json('POST', '/api/v1/auth/widget-token', { auth: null, body: { client_id: t.org.clientId } })).body.token;
    const reply = await t.graphql('mutation { updateOrganization(allowedOrigins: []) { id } }', {}, { Authorization: `Bearer ${token}` });
    expect(reply.body.errors![0].extensions.code).toBe('FORBIDDEN');
  });
});
