// The chat widget in a real browser (Chromium through playwright-core): a shop
// page on another origin (a second loopback address) embeds the one tag, and a
// visitor uses it by keyboard only. Screenshots of each state go to
// test-results/widget/.
import { decodeJwt, SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { launchBrowser, screenshot, startHostSite, type Browser, type HostSite } from './utils/browser.ts';
import { createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
let gateway: string;
let browser: Browser;
/** On the organization's list of allowed origins. */
let shop: HostSite;
/** Not on it. */
let elsewhere: HostSite;
let knowledgeIds: string[];
/** Chromium starts slowly on a loaded machine; every step below waits this long at most. */
const WAIT = 20_000;
// Each test drives a browser through several such steps: the default 30 s is too short under load.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

const RETURNS_ANSWER = 'You can return any item within 30 days of delivery for a full refund.';

beforeAll(async () => {
  // A small visitor budget, so that the rate-limit test reaches it in a few messages.
  t = await createTestApp({ env: { KNOWLEDGE_URL_ALLOW_HOSTS: '127.0.0.2', VISITOR_RATE_LIMIT_PER_HOUR: '8' } });
  gateway = (await t.listen()).url;
  [shop, elsewhere, browser] = await Promise.all([startHostSite('127.0.0.2'), startHostSite('127.0.0.3'), launchBrowser()]);
  const allowed = await t.graphql('mutation ($origins: [String!]) { updateOrganization(allowedOrigins: $origins) { allowedOrigins } }', { origins: [shop.origin] });
  expect(allowed.body.data.updateOrganization.allowedOrigins).toEqual([shop.origin]);

  // What the replies cite: a stored answer (a title) and a web page of the shop (a link).
  shop.page('/help/returns', '<html><head><title>Returns and refunds</title></head><body><main><h1>Returns and refunds</h1><p>Return any item within 30 days of delivery. Refunds reach your card within five business days of the return.</p></main></body></html>');
  const qa = await t.json('POST', '/api/v1/knowledge/qa/', { body: { question: 'How do I return an item for a refund?', answer: RETURNS_ANSWER } });
  const url = await t.json('POST', '/api/v1/knowledge/urls/', { body: { url: `${shop.origin}/help/returns`, title: 'Returns and refunds' } });
  knowledgeIds = [qa.body.data.id, url.body.data.id];
  for (const [kind, id] of [['qa', knowledgeIds[0]], ['urls', knowledgeIds[1]]]) {
    for (let i = 0; ; i++) {
      const { body } = await t.json('GET', `/api/v1/knowledge/${kind}/${id}`);
      if (body.data.status === 'ready') break;
      if (body.data.status === 'failed' || i > 600) throw new Error(`knowledge source ${id} did not become ready: ${JSON.stringify(body.data)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});

// Each test sets the replies it needs; none inherits a failing model from another.
afterEach(() => t.ollama.setBehavior({ models: ['llama3.2', 'nomic-embed-text'], failAfterTokens: null, tokenDelayMs: 0 }));

afterAll(async () => {
  await browser?.close();
  await Promise.all([shop?.close(), elsewhere?.close()]);
  await t?.close();
});

async function assistant(fields: Record<string, unknown> = {}): Promise<string> {
  const { status, body } = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Shop helper', ...fields } });
  expect(status).toBe(201);
  return body.data.id;
}

/** A page of the site that embeds the widget with one tag, under a CSP that names only the gateway. */
function hostPage(site: HostSite, pathname: string, attributes: Record<string, string>): string {
  const data = Object.entries(attributes).map(([name, value]) => ` data-${name}="${value}"`).join('');
  return site.page(
    pathname,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Our shop</h1><p><a href="#catalogue">Catalogue</a></p>
<script src="${gateway}/widget.js" data-client-id="${t.org.clientId}"${data} async></script></body></html>`,
    { 'Content-Security-Policy': `default-src 'none'; script-src ${gateway}; connect-src ${gateway}; style-src ${gateway}; img-src ${gateway}` },
  );
}

type Visit = { page: Page; problems: string[]; gatewayRequests: () => string[] };

/** Opens a page and records what a person would not see: CSP violations, script errors, requests to the gateway. */
async function visit(url: string, options: { colorScheme?: 'light' | 'dark' } = {}): Promise<Visit> {
  const page = await browser.context.newPage();
  await page.emulateMedia({ colorScheme: options.colorScheme ?? 'light' });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('request', (request) => {
    if (request.url().startsWith(gateway)) requests.push(`${request.method()} ${request.url().slice(gateway.length)}`);
  });
  await page.goto(url);
  await page.locator('assistant-chat-widget .launcher').waitFor({ timeout: WAIT });
  return { page, problems, gatewayRequests: () => [...requests] };
}

/** The focused element inside the widget's shadow root, described by its tag and class. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const active = document.querySelector('assistant-chat-widget')?.shadowRoot?.activeElement;
    return active ? `${active.tagName.toLowerCase()}.${active.className}` : null;
  });

/** Tabs from the top of the page until the launcher has focus, as a keyboard user does. */
async function tabToLauncher(page: Page) {
  for (let i = 0; i < 5 && (await focused(page)) !== 'button.launcher'; i++) await page.keyboard.press('Tab');
  expect(await focused(page)).toBe('button.launcher');
}

async function openByKeyboard(page: Page) {
  await tabToLauncher(page);
  await page.keyboard.press('Enter');
  await expect.poll(() => focused(page), { timeout: WAIT }).toBe('textarea.');
}

/** Waits until no request reaches the gateway for a while: nothing retries behind the visitor's back. */
async function expectQuiet(visitor: Visit, ms = 1500) {
  const before = visitor.gatewayRequests().length;
  await new Promise((resolve) => setTimeout(resolve, ms));
  expect(visitor.gatewayRequests().slice(before)).toEqual([]);
}

const lastAssistantText = (page: Page) => page.locator('assistant-chat-widget .message.assistant .text').last().textContent();

describe('a visitor on a page of an allowed origin', () => {
  test('opens the chat by keyboard, asks, sees the reply stream in with its sources, and finds the conversation again after a reload', async () => {
    const assistantId = await assistant();
    const reply = `${RETURNS_ANSWER} Refunds reach your card within five business days, and the return label is free of charge for every order.`;
    t.ollama.setBehavior({ reply, tokenDelayMs: 40 });
    const visitor = await visit(hostPage(shop, '/shop', { 'assistant-id': assistantId }), {});
    const { page } = visitor;
    await openByKeyboard(page);
    await expect.poll(() => lastAssistantText(page), { timeout: WAIT }).toBe('Hello! How can I help you?');
    await expect.poll(() => page.locator('assistant-chat-widget h2').textContent()).toBe('Shop helper');
    await screenshot(page, 'open');

    await page.keyboard.type('How do I return an item for a refund?');
    await page.keyboard.press('Enter');
    // Token by token: part of the reply is on screen before the rest has been written.
    await expect
      .poll(async () => {
        const text = (await lastAssistantText(page)) ?? '';
        return text.length > 0 && text.length < reply.length / 2 && reply.startsWith(text);
      }, { timeout: WAIT, interval: 20 })
      .toBe(true);
    await screenshot(page, 'streaming');
    await expect.poll(() => lastAssistantText(page), { timeout: WAIT }).toBe(reply);
    const sources = page.locator('assistant-chat-widget .message.assistant').last().locator('.sources li');
    await expect.poll(() => sources.allTextContents(), { timeout: WAIT }).toEqual(expect.arrayContaining(['How do I return an item for a refund?', 'Returns and refunds']));
    expect(await sources.locator('a').getAttribute('href')).toBe(`${shop.origin}/help/returns`);
    // Screen readers hear the reply once it is complete.
    await expect.poll(() => page.locator('assistant-chat-widget [aria-live="polite"]').textContent()).toBe(`Shop helper replied: ${reply}`);
    await screenshot(page, 'reply-with-sources');

    // Escape closes the panel and gives the focus back to the launcher.
    await page.locator('assistant-chat-widget textarea').focus();
    await page.keyboard.press('Escape');
    expect(await page.locator('assistant-chat-widget .panel').isHidden()).toBe(true);
    expect(await focused(page)).toBe('button.launcher');
    expect(await page.locator('assistant-chat-widget .launcher').getAttribute('aria-expanded')).toBe('false');

    // The organization finds the session, with the question and the reply, through its API.
    const sessions = await t.json('GET', `/api/v1/sessions/?assistant_id=${assistantId}`);
    expect(sessions.body.data.total).toBe(1);
    const sessionId = sessions.body.data.items[0].id;
    const messages = await t.json('GET', `/api/v1/sessions/${sessionId}/messages`);
    expect(messages.body.data.items.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', 'How do I return an item for a refund?'],
      ['assistant', reply],
    ]);

    // A later page load shows the same conversation.
    await page.reload();
    await page.locator('assistant-chat-widget .launcher').waitFor({ timeout: WAIT });
    await openByKeyboard(page);
    await expect.poll(() => page.locator('assistant-chat-widget .message .text').allTextContents(), { timeout: WAIT }).toEqual([
      'How do I return an item for a refund?',
      reply,
    ]);
    expect(await page.locator('assistant-chat-widget .message.assistant .sources li').count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, 'after-reload');
    expect((await t.json('GET', `/api/v1/sessions/?assistant_id=${assistantId}`)).body.data.total).toBe(1);
    // The host page gained no global, and the page's CSP (only the gateway's origin) refused nothing.
    const blank = await browser.context.newPage();
    await blank.goto(shop.page('/blank', '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body><h1>Our shop</h1></body></html>'));
    const baseline = new Set(await blank.evaluate(() => Object.getOwnPropertyNames(window)));
    await blank.close();
    expect((await page.evaluate(() => Object.getOwnPropertyNames(window))).filter((name) => !baseline.has(name))).toEqual([]);
    expect(visitor.problems).toEqual([]);
    await page.close();
  });

  test('renews its widget token with previous_token before it expires, and keeps its session doing so', async () => {
    const assistantId = await assistant();
    t.ollama.setBehavior({ reply: 'Noted.', tokenDelayMs: 0 });
    const visitor = await visit(hostPage(shop, '/renewal', { 'assistant-id': assistantId }));
    const { page } = visitor;
    const mints: Array<Record<string, string>> = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/api/v1/auth/widget-token')) mints.push(JSON.parse(request.postData() ?? '{}'));
    });
    // The page's clock is the visitor's: it can be moved on without the gateway's.
    await page.clock.install();
    await page.reload();
    await openByKeyboard(page);
    await page.keyboard.type('Remember me.');
    await page.keyboard.press('Enter');
    await expect.poll(() => lastAssistantText(page), { timeout: WAIT }).toBe('Noted.');
    expect(mints).toHaveLength(1);
    expect(mints[0].previous_token).toBeUndefined();
    const first = await page.evaluate((key) => JSON.parse(localStorage.getItem(key)!).token as string, `assistant-widget:${t.org.clientId}:${assistantId}`);

    // Two minutes before the hour is up, the open page renews the token, presenting the old one.
    const renewal = page.waitForResponse((response) => response.url().endsWith('/api/v1/auth/widget-token'), { timeout: WAIT });
    await page.clock.fastForward('58:30');
    const response = await renewal;
    expect(response.status()).toBe(200);
    expect(mints[1]).toEqual({ client_id: t.org.clientId, previous_token: first });
    const renewed = ((await response.json()) as { token: string }).token;
    await expect
      .poll(() => page.evaluate((key) => JSON.parse(localStorage.getItem(key)!).token as string, `assistant-widget:${t.org.clientId}:${assistantId}`))
      .toBe(renewed);
    // The renewed token is the same visitor: the session and its messages are still theirs.
    expect(decodeJwt(renewed).sub).toBe(decodeJwt(first).sub);
    const sessionId = (await t.json('GET', `/api/v1/sessions/?assistant_id=${assistantId}`)).body.data.items[0].id;
    expect((await t.json('GET', `/api/v1/sessions/${sessionId}/messages`, { auth: { token: renewed } })).status).toBe(200);
    await page.keyboard.type('Still there?');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('assistant-chat-widget .message .text').allTextContents(), { timeout: WAIT }).toEqual([
      'Hello! How can I help you?',
      'Remember me.',
      'Noted.',
      'Still there?',
      'Noted.',
    ]);
    expect((await t.json('GET', `/api/v1/sessions/?assistant_id=${assistantId}`)).body.data.total).toBe(1);
    expect(visitor.problems).toEqual([]);
    await page.close();
  });

  test('is told when it sends too much (429) and when the model fails, in the chat, and nothing retries', async () => {
    const assistantId = await assistant();
    t.ollama.setBehavior({ reply: 'Fine.', tokenDelayMs: 0 });
    const visitor = await visit(hostPage(shop, '/limits', { 'assistant-id': assistantId }));
    const { page } = visitor;
    await openByKeyboard(page);
    await expect.poll(() => lastAssistantText(page), { timeout: WAIT }).toBe('Hello! How can I help you?');

    // The model is missing: the gateway answers 503 before any token.
    t.ollama.setBehavior({ models: ['nomic-embed-text'] });
    await page.keyboard.type('Are you there?');
    await page.keyboard.press('Enter');
    const note = page.locator('assistant-chat-widget .message.assistant .note').last();
    await expect.poll(() => note.textContent(), { timeout: WAIT }).toBe('The assistant cannot answer right now. Your message was kept; please try again later.');
    await screenshot(page, 'model-failed');
    await expectQuiet(visitor);

    // The model dies mid-reply: what arrived stays, with the failure under it.
    t.ollama.setBehavior({ models: ['llama3.2', 'nomic-embed-text'], reply: 'Let me check that for you right now', failAfterTokens: 3, tokenDelayMs: 30 });
    await page.keyboard.type('Please check my order.');
    await page.keyboard.press('Enter');
    const notes = page.locator('assistant-chat-widget .note');
    await expect.poll(() => notes.count(), { timeout: WAIT }).toBe(2);
    // The double drops the connection after three tokens; what the gateway relayed before that stays.
    const partial = (await lastAssistantText(page)) ?? '';
    expect(partial.length).toBeGreaterThan(0);
    expect('Let me check'.startsWith(partial), partial).toBe(true);
    expect(await note.textContent()).toBe('The assistant cannot answer right now. Your message was kept; please try again later.');
    await expectQuiet(visitor);

    // The visitor's hourly budget (8 calls here) runs out: the chat says how long to wait.
    t.ollama.setBehavior({ failAfterTokens: null, reply: 'Fine.', tokenDelayMs: 0 });
    for (let i = 0; i < 8 && !((await notes.allTextContents()).some((text) => text.startsWith('Too many messages'))); i++) {
      await page.keyboard.type(`Message ${i}`);
      await page.keyboard.press('Enter');
      await expect.poll(() => page.locator('assistant-chat-widget .send').isDisabled(), { timeout: WAIT }).toBe(false);
    }
    // An hourly budget: the wait is in minutes.
    expect((await notes.allTextContents()).at(-1)).toMatch(/^Too many messages right now\. Please wait \d+ minutes before sending another\.$/);
    await screenshot(page, 'rate-limited');
    await expectQuiet(visitor);
    await page.close();
  });

  test('labels follow data-locale, else the assistant\'s language; the widget reads well in light and dark (WCAG AA contrast)', async () => {
    const german = await visit(hostPage(shop, '/de', { 'assistant-id': await assistant(), locale: 'de-AT' }));
    expect(await german.page.locator('assistant-chat-widget .launcher').getAttribute('aria-label')).toBe('Chat öffnen');
    await german.page.close();

    const french = await visit(hostPage(shop, '/fr', { 'assistant-id': await assistant({ language: 'fr' }) }));
    await openByKeyboard(french.page);
    await expect.poll(() => french.page.locator('assistant-chat-widget .send').textContent(), { timeout: WAIT }).toBe('Envoyer');
    expect(await french.page.locator('assistant-chat-widget textarea').getAttribute('placeholder')).toBe('Écrivez votre message…');
    await french.page.close();

    const assistantId = await assistant();
    t.ollama.setBehavior({ reply: 'Here is the answer.', tokenDelayMs: 0 });
    for (const [theme, scheme] of [['light', 'light'], ['dark', 'light'], ['auto', 'dark']] as const) {
      const { page } = await visit(hostPage(shop, `/theme-${theme}`, { 'assistant-id': assistantId, theme }), { colorScheme: scheme });
      await openByKeyboard(page);
      await expect.poll(() => lastAssistantText(page), { timeout: WAIT }).not.toBeNull();
      if (theme === 'light') {
        await page.keyboard.type('How do I return an item for a refund?');
        await page.keyboard.press('Enter');
        await expect.poll(() => lastAssistantText(page), { timeout: WAIT }).toBe('Here is the answer.');
      } else {
        await expect.poll(() => page.locator('assistant-chat-widget .message.user').count(), { timeout: WAIT }).toBe(1);
      }
      const ratios = await page.evaluate(contrastRatios);
      for (const [element, ratio] of Object.entries(ratios)) expect(ratio, `${theme}: ${element}`).toBeGreaterThanOrEqual(4.5);
      const background = await page.evaluate(() => getComputedStyle(document.querySelector('assistant-chat-widget')!.shadowRoot!.querySelector('.panel')!).backgroundColor);
      expect(background, theme).toBe(theme === 'light' ? 'rgb(255, 255, 255)' : 'rgb(22, 25, 29)');
      await screenshot(page, `theme-${theme}`);
      await page.close();
    }
  });
});

/** Runs in the page: the contrast ratio (WCAG 2) of the text of each part of the widget against its background. */
function contrastRatios(): Record<string, number> {
  const root = document.querySelector('assistant-chat-widget')!.shadowRoot!;
  const parse = (color: string) => color.match(/[\d.]+/g)!.slice(0, 3).map(Number);
  const luminance = (color: string) => {
    const [r, g, b] = parse(color).map((value) => {
      const c = value / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  /** The first opaque background up the tree (the widget's own surfaces are opaque). */
  const backgroundOf = (element: Element | null): string => {
    for (let node = element; node; node = node.parentElement) {
      const color = getComputedStyle(node).backgroundColor;
      if (color !== 'rgba(0, 0, 0, 0)' && color !== 'transparent') return color;
    }
    return 'rgb(255, 255, 255)';
  };
  const ratio = (selector: string, pseudo?: string) => {
    const element = root.querySelector(selector);
    if (!element) return Number.NaN;
    const fg = luminance(getComputedStyle(element, pseudo).color);
    const bg = luminance(backgroundOf(element));
    return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  };
  return {
    launcher: ratio('.launcher'),
    title: ratio('h2'),
    'user message': ratio('.message.user .text'),
    'assistant message': ratio('.message.assistant .text'),
    'send button': ratio('.send'),
    'typed text': ratio('textarea'),
    placeholder: ratio('textarea', '::placeholder'),
  };
}

describe('the same tag elsewhere', () => {
  test('on a page whose origin is not on the list, the chat shows the refusal and never a reply', async () => {
    const assistantId = await assistant();
    const chatsBefore = t.ollama.requests.filter((request) => request.path === '/api/chat').length;
    const visitor = await visit(hostPage(elsewhere, '/copycat', { 'assistant-id': assistantId }));
    const { page } = visitor;
    await openByKeyboard(page);
    const refusal = 'This website is not allowed to use this chat. The site owner can allow it in the chat settings.';
    await expect.poll(() => page.locator('assistant-chat-widget .notice').textContent(), { timeout: WAIT }).toBe(refusal);
    await page.keyboard.type('Hello?');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('assistant-chat-widget .message.assistant .note').last().textContent(), { timeout: WAIT }).toBe(refusal);
    await screenshot(page, 'origin-refused');
    await expectQuiet(visitor);
    expect(await page.locator('assistant-chat-widget .message.assistant .text').allTextContents()).toEqual(['']);
    expect(t.ollama.requests.filter((request) => request.path === '/api/chat').length).toBe(chatsBefore);
    expect((await t.json('GET', `/api/v1/sessions/?assistant_id=${assistantId}`)).body.data.total).toBe(0);
    await page.close();
  });
});

describe('the demo page', () => {
  test('shows a working widget for a client id and an assistant, under its own strict CSP', async () => {
    // An organization without allowed origins: any page may embed its widget, the gateway's own included.
    const created = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Demo helper' }, auth: t.otherOrg });
    t.ollama.setBehavior({ reply: 'It works.', tokenDelayMs: 0 });
    const visitor = await visit(`${gateway}/widget/demo?client_id=${t.otherOrg.clientId}&assistant_id=${created.body.data.id}`);
    const { page } = visitor;
    expect(await page.locator('h1').textContent()).toBe('Chat widget demo');
    await openByKeyboard(page);
    await page.keyboard.type('Does it work?');
    await page.keyboard.press('Enter');
    await expect.poll(() => lastAssistantText(page), { timeout: WAIT }).toBe('It works.');
    await screenshot(page, 'demo');
    expect(visitor.problems).toEqual([]);
    await page.close();
  });
});

describe('a visitor signed in by the shop\'s backend (data-user-token)', () => {
  let identitySecret: string;
  beforeAll(async () => {
    identitySecret = (await t.app.services.identity.createSecret(t.org.organizationId)).identitySecret;
    await t.json('POST', '/api/v1/contexts/', { body: { user_reference: 'shopper-77', traits: { name: 'Ada', plan: 'gold', orders: 12 } } });
  });

  /** What the shop's backend does for a signed-in user: an HS256 JWT, sub = their reference, expiring within 24 h. */
  const sign = (sub: string, secret = identitySecret) =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(secret));

  test("has their traits in the model's prompt; the session is linked to their user context", async () => {
    const assistantId = await assistant();
    t.ollama.setBehavior({ reply: 'Welcome back, Ada! As a gold member, your returns are free.', tokenDelayMs: 0 });
    const { page, problems } = await visit(hostPage(shop, '/account', { 'assistant-id': assistantId, 'user-token': await sign('shopper-77') }));
    await openByKeyboard(page);
    await page.keyboard.type('Do I pay for returns?');
    await page.keyboard.press('Enter');
    await expect.poll(() => lastAssistantText(page), { timeout: WAIT }).toBe('Welcome back, Ada! As a gold member, your returns are free.');
    await screenshot(page, 'signed-in');
    const chat = t.ollama.requests.filter((request) => request.path === '/api/chat').at(-1)!;
    const system = (chat.body as { messages: Array<{ role: string; content: string }> }).messages.find((m) => m.role === 'system')!.content;
    expect(system).toContain('"plan": "gold"');
    expect(system).toContain('"name": "Ada"');
    const sessions = await t.json('GET', `/api/v1/sessions/?assistant_id=${assistantId}`);
    const context = await t.json('GET', '/api/v1/contexts/shopper-77');
    expect(sessions.body.data.items[0].user_context_id).toBe(context.body.data.id);
    expect(problems).toEqual([]);
    await page.close();
  });

  test('with a forged user token is refused, and the chat says so', async () => {
    const assistantId = await assistant();
    const forged = await sign('shopper-77', 'is_a-secret-the-shop-never-had-aaaaaaaaaaaaaaaaaaaa');
    const visitor = await visit(hostPage(shop, '/forged', { 'assistant-id': assistantId, 'user-token': forged }));
    const { page } = visitor;
    await openByKeyboard(page);
    await expect
      .poll(() => page.locator('assistant-chat-widget .notice').textContent(), { timeout: WAIT })
      .toBe('We could not confirm who you are. Please reload the page and try again.');
    await screenshot(page, 'identity-refused');
    await expectQuiet(visitor);
    expect((await t.json('GET', `/api/v1/sessions/?assistant_id=${assistantId}`)).body.data.total).toBe(0);
    await page.close();
  });
});
