// The embeddable chat widget, served as /widget.js. A page adds one tag:
//   <script src="https://HOST/widget.js" data-client-id="cid_…" data-assistant-id="…" async></script>
// with optional data-user-token (an HS256 user token the site's backend signed),
// data-api-base (default: the script's own origin), data-locale and data-theme
// (light, dark or auto). It adds a launcher button and a chat panel inside a
// shadow root, so the page's styles and the widget's never meet, and it
// defines no global. It talks to the REST API only: a widget token from the
// public client id, a session, messages streamed as server-sent events.
//
// Browser code, type-checked with the project and stripped of its types when
// the gateway starts; it joins labels.ts and styles.ts inside one function
// (no imports: a classic script, so that `async` tags and old pages work).
// Nothing here retries on its own except once after a refused token or a
// forgotten session: a failure becomes a message in the chat.

// Written by the bundle just before this file (labels.ts, styles.ts).
declare const WIDGET_LABELS: typeof import('./labels.ts').WIDGET_LABELS;
declare const WIDGET_CSS: string;

(() => {
  type Labels = typeof WIDGET_LABELS.en;
  type Source = { source_id?: string; kind?: string; title?: string | null; url?: string | null };
  type Reply = { content?: string; status?: string; sources?: Source[] | null };
  type StoredMessage = Reply & { role?: string };
  /** expiresAt: when the token expires by this browser's clock (its lifetime counted from when it arrived), so a wrong clock does not matter. */
  type Saved = { token?: string; sessionId?: string; expiresAt?: number };
  type Claims = { exp?: number; iat?: number; sub?: string; usr?: string };

  const script = (document.currentScript as HTMLScriptElement | null) ?? document.querySelector<HTMLScriptElement>('script[data-client-id][src*="widget.js"]');
  if (!script) return;
  const data = script.dataset;
  const clientId = data.clientId?.trim();
  const assistantId = data.assistantId?.trim();
  if (!clientId || !assistantId) {
    console.error('[assistant widget] The script tag needs data-client-id and data-assistant-id.');
    return;
  }
  const storageKey = `assistant-widget:${clientId}:${assistantId}`;
  // The same tag twice on a page mounts one widget.
  if (document.querySelector(`assistant-chat-widget[data-key="${CSS.escape(storageKey)}"]`)) return;

  /** The API's root: data-api-base (with or without /api/v1), else the origin the script came from. */
  const api = `${(data.apiBase?.trim() || new URL(script.src, location.href).origin).replace(/\/+$/, '').replace(/\/api\/v1$/, '')}/api/v1`;
  const userToken = data.userToken?.trim() || undefined;
  const chosenLocale = data.locale?.trim() || undefined;
  const theme = ['light', 'dark', 'auto'].includes(data.theme ?? '') ? data.theme! : 'auto';

  const labelsFor = (tag?: string | null): Labels =>
    (WIDGET_LABELS as Record<string, Labels>)[(tag ?? '').toLowerCase().split(/[-_]/)[0]] ?? WIDGET_LABELS.en;
  // Until the assistant's language is known, the page's own language.
  let labels = labelsFor(chosenLocale ?? document.documentElement.lang);
  let assistantName = '';
  const fill = (text: string, values: Record<string, string | number>) => text.replace(/\{(\w+)\}/g, (_, key: string) => String(values[key] ?? ''));

  // ---- Stored visitor state: the widget token and the session, per client id and assistant.
  const memory: Saved = {};
  function load(): Saved {
    try {
      const parsed: unknown = JSON.parse(localStorage.getItem(storageKey) ?? '{}');
      return parsed && typeof parsed === 'object' ? (parsed as Saved) : {};
    } catch {
      return { ...memory };
    }
  }
  function save(next: Saved) {
    saved = next;
    Object.assign(memory, next);
    try {
      localStorage.setItem(storageKey, JSON.stringify(next));
    } catch {
      // Storage refused (private mode, quota): the session lasts as long as the page.
    }
  }
  /** A JWT's claims, read without verifying (the gateway verifies; this only reads exp and who it is for). */
  function claimsOf(token?: string): Claims {
    try {
      return JSON.parse(atob(token!.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as Claims;
    } catch {
      return {};
    }
  }
  let saved = load();
  // Signed out, or someone else signed in on this browser: the stored visitor is not theirs.
  if ((claimsOf(saved.token).usr ?? null) !== (userToken ? (claimsOf(userToken).sub ?? null) : null)) save({});

  // ---- Failures as sentences in the visitor's language.
  class ChatFailure extends Error {}
  type Stage = 'token' | 'message' | 'read';

  async function failureOf(response: Response, stage: Stage): Promise<ChatFailure> {
    let detail = `HTTP ${response.status}`;
    try {
      detail = ((await response.json()) as { detail?: string }).detail ?? detail;
    } catch {
      // Not the JSON envelope (a proxy's page): the status says enough.
    }
    return failureFrom(response.status, detail, stage, response.headers.get('retry-after'));
  }

  function failureFrom(status: number, detail: string, stage: Stage, retryAfter?: string | null): ChatFailure {
    // The site owner needs the gateway's words; the visitor gets a sentence in their language.
    console.warn(`[assistant widget] ${detail}`);
    if (stage === 'token' && status === 403) return new ChatFailure(labels.originRefused);
    if (stage === 'token' && status === 401 && /^user_token\b/.test(detail)) return new ChatFailure(labels.identityRefused);
    if (status === 429) {
      const seconds = Number(retryAfter);
      if (!(seconds > 0)) return new ChatFailure(labels.rateLimitedSoon);
      return new ChatFailure(
        seconds < 90 ? fill(labels.rateLimited, { seconds: Math.ceil(seconds) }) : fill(labels.rateLimitedMinutes, { minutes: Math.ceil(seconds / 60) }),
      );
    }
    if (status === 503 || (stage === 'message' && status >= 500)) return new ChatFailure(labels.modelFailed);
    return new ChatFailure(fill(labels.failed, { detail }));
  }

  const textOf = (error: unknown) => (error instanceof ChatFailure ? error.message : labels.unreachable);

  /** fetch, with a network failure as the "unreachable" sentence. */
  async function request(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch {
      throw new ChatFailure(labels.unreachable);
    }
  }

  // ---- Widget tokens: minted on first use, renewed with previous_token before they expire.
  let minting: Promise<string> | null = null;
  let boundThisLoad = false;
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;

  async function mint(previous: string | undefined, bind: boolean): Promise<string> {
    const body: Record<string, string> = { client_id: clientId! };
    if (previous) body.previous_token = previous;
    if (bind) body.user_token = userToken!;
    const response = await request(`${api}/auth/widget-token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw await failureOf(response, 'token');
    const { token } = (await response.json()) as { token: string };
    const { exp = 0, iat = exp } = claimsOf(token);
    boundThisLoad ||= bind;
    save({ ...saved, token, expiresAt: Date.now() + (exp - iat) * 1000 });
    scheduleRefresh(token);
    return token;
  }

  /** One renewal two minutes before expiry (each renewal plans the next; a failed one plans nothing). */
  function scheduleRefresh(token: string) {
    clearTimeout(refreshTimer);
    if (!saved.expiresAt) return;
    refreshTimer = setTimeout(() => {
      if (saved.token === token) void renew(token).catch(() => {});
    }, Math.max(5_000, saved.expiresAt - 120_000 - Date.now()));
  }

  const renew = (previous: string | undefined, bind = false) => (minting ??= mint(previous, bind).finally(() => (minting = null)));

  /** A token good for at least a minute; the page's user token is presented once per page load. */
  function widgetToken(): Promise<string> {
    const current = saved.token;
    const bind = userToken !== undefined && !boundThisLoad;
    if (current && !bind && (saved.expiresAt ?? 0) - Date.now() > 60_000) {
      // A token from an earlier page load: renewed in time from here on too.
      if (refreshTimer === undefined) scheduleRefresh(current);
      return Promise.resolve(current);
    }
    return renew(current, bind);
  }

  /** An API call with the widget token; a refused token (a revoked key) is replaced once. */
  async function call(method: string, path: string, body?: unknown, accept = 'application/json'): Promise<Response> {
    const send = async (token: string) =>
      request(`${api}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, Accept: accept, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const response = await send(await widgetToken());
    if (response.status !== 401) return response;
    // A token refused (its signing key revoked): a new one, presenting the page's user token again.
    save({});
    boundThisLoad = false;
    return send(await widgetToken());
  }

  async function session(): Promise<string> {
    if (saved.sessionId) return saved.sessionId;
    const response = await call('POST', '/sessions/', { assistant_id: assistantId, ...(chosenLocale ? { locale: chosenLocale } : {}) });
    if (!response.ok) throw await failureOf(response, 'read');
    const id = ((await response.json()) as { data: { id: string } }).data.id;
    save({ ...saved, sessionId: id });
    return id;
  }

  // ---- The DOM, inside a shadow root.
  const SVG = 'http://www.w3.org/2000/svg';
  function icon(path: string): SVGSVGElement {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const shape = document.createElementNS(SVG, 'path');
    shape.setAttribute('d', path);
    svg.append(shape);
    return svg;
  }
  function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Array<Node | string>) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  const host = document.createElement('assistant-chat-widget');
  host.dataset.key = storageKey;
  host.dataset.theme = theme;
  const root = host.attachShadow({ mode: 'open' });
  // A constructed style sheet needs no 'unsafe-inline' in the page's CSP; a <style> where that is missing.
  if ('adoptedStyleSheets' in root && 'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(WIDGET_CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.append(el('style', {}, WIDGET_CSS));
  }

  const launcher = el('button', { type: 'button', class: 'launcher', 'aria-expanded': 'false', 'aria-controls': 'panel' },
    icon('M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z'));
  const title = el('h2', { id: 'title' });
  const closeButton = el('button', { type: 'button', class: 'close' }, icon('M6 6l12 12M18 6L6 18'));
  const log = el('div', { class: 'log' });
  const announcer = el('div', { class: 'sr', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
  const inputLabel = el('label', { for: 'input', class: 'sr' });
  const input = el('textarea', { id: 'input', rows: '2', autocomplete: 'off' });
  const sendButton = el('button', { type: 'submit', class: 'send' });
  const form = el('form', { class: 'compose' }, inputLabel, input, sendButton);
  const panel = el('section', { id: 'panel', class: 'panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'title', hidden: '' },
    el('header', {}, title, closeButton), log, announcer, form);
  root.append(launcher, panel);

  function applyLabels() {
    launcher.setAttribute('aria-label', panel.hidden ? labels.open : labels.close);
    closeButton.setAttribute('aria-label', labels.close);
    title.textContent = assistantName || labels.title;
    inputLabel.textContent = labels.input;
    input.placeholder = labels.placeholder;
    sendButton.textContent = labels.send;
  }
  applyLabels();

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  /** Where new bubbles go: the log, or (while the stored history renders) a fragment put before what the visitor already sent. */
  let into: ParentNode = log;

  /** A bubble in the log: its text, a note under it (cut off, failed) and its sources. */
  function bubble(role: 'user' | 'assistant' | 'notice', content = '') {
    const text = el('div', { class: 'text' }, content);
    const speaker = el('span', { class: 'sr' }, role === 'user' ? `${labels.you}: ` : role === 'assistant' ? `${assistantName || labels.assistant}: ` : '');
    const item = el('div', { class: `message ${role}` }, speaker, text);
    if (role === 'notice') item.setAttribute('role', 'alert');
    into.append(item);
    scrollDown();
    return {
      item,
      append(delta: string) {
        item.classList.remove('pending');
        text.textContent += delta;
        scrollDown();
      },
      pending() {
        item.classList.add('pending');
        text.textContent = '';
        text.setAttribute('data-placeholder', labels.thinking);
      },
      note(sentence: string) {
        item.classList.remove('pending');
        // Nothing of a reply arrived: the bubble is the failure.
        if (!text.textContent) item.classList.add('failed');
        item.append(el('div', { class: 'note', role: 'alert' }, sentence));
        scrollDown();
      },
      sources(sources: Source[] | null | undefined) {
        const list = (sources ?? []).filter((source) => source.title || source.url);
        if (list.length === 0) return;
        const items = list.map((source) => {
          const name = source.title || source.url!;
          const safe = source.url && /^https?:\/\//i.test(source.url) ? source.url : null;
          return el('li', {}, safe ? el('a', { href: safe, target: '_blank', rel: 'noopener noreferrer' }, name) : el('span', {}, name));
        });
        item.append(el('div', { class: 'sources' }, el('span', { class: 'sources-title' }, labels.sources), el('ul', {}, ...items)));
        scrollDown();
      },
      text: () => text.textContent ?? '',
    };
  }

  function showReply(reply: Reply, view = bubble('assistant')) {
    if (typeof reply.content === 'string') {
      view.item.classList.remove('pending');
      view.item.querySelector('.text')!.textContent = reply.content;
    }
    if (reply.status === 'incomplete') view.note(labels.cutOff);
    view.sources(reply.sources);
    return view;
  }

  // ---- Replies as server-sent events (token, done, error; any other event and id lines are ignored).
  async function readStream(response: Response, view: ReturnType<typeof bubble>) {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let ended = false;
    const handle = (block: string) => {
      let event = 'message';
      const lines: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') lines.push(value);
      }
      if (lines.length === 0) return;
      const payload = JSON.parse(lines.join('\n')) as { delta?: string; status_code?: number; detail?: string; data?: { assistant_message?: Reply } };
      if (event === 'token' && typeof payload.delta === 'string') view.append(payload.delta);
      else if (event === 'done') {
        ended = true;
        showReply(payload.data?.assistant_message ?? {}, view);
        announce(view.text());
      } else if (event === 'error') {
        ended = true;
        view.note(failureFrom(payload.status_code ?? 500, payload.detail ?? '', 'message').message);
      }
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = (buffer + value).replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          handle(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
      if (buffer.trim()) handle(buffer);
    } catch {
      // The connection dropped mid-reply: what arrived stays, with a note.
    }
    if (!ended) view.note(labels.cutOff);
  }

  function announce(text: string) {
    announcer.textContent = fill(labels.replied, { name: assistantName || labels.assistant, text });
  }

  // ---- Sending.
  let busy = false;
  async function send(content: string) {
    busy = true;
    sendButton.disabled = true;
    bubble('user', content);
    const view = bubble('assistant');
    view.pending();
    try {
      const post = async () => call('POST', `/sessions/${await session()}/messages`, { content }, 'text/event-stream');
      let response = await post();
      if (response.status === 404 && saved.sessionId) {
        // The stored session is gone (deleted, or another visitor's): start a new one, once.
        save({ ...saved, sessionId: undefined });
        response = await post();
      }
      if (!response.ok) throw await failureOf(response, 'message');
      if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) await readStream(response, view);
      else {
        showReply(((await response.json()) as { data: { assistant_message: Reply } }).data.assistant_message, view);
        announce(view.text());
      }
    } catch (error) {
      view.item.classList.remove('pending');
      view.note(textOf(error));
    } finally {
      busy = false;
      sendButton.disabled = false;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content || busy) return;
    input.value = '';
    void send(content);
  });
  input.addEventListener('keydown', (event) => {
    // Enter sends, Shift+Enter starts a new line; an input method composing a word keeps its Enter.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // ---- Opening: the first time, the assistant's name and language, and the stored session's messages.
  let started = false;
  async function start() {
    try {
      const assistant = await call('GET', `/assistants/${encodeURIComponent(assistantId!)}`);
      if (!assistant.ok) throw await failureOf(assistant, 'read');
      const { name, language } = ((await assistant.json()) as { data: { name?: string; language?: string } }).data;
      assistantName = name ?? '';
      if (!chosenLocale && language) labels = labelsFor(language);
      applyLabels();
      const history = saved.sessionId ? await storedMessages(saved.sessionId) : [];
      // The visitor may have sent a message meanwhile: the greeting or the history goes above it.
      const earlier = document.createDocumentFragment();
      into = earlier;
      try {
        if (history.length === 0) bubble('assistant', labels.greeting);
        for (const message of history) {
          if (message.role === 'user') bubble('user', message.content ?? '');
          else if (message.role === 'assistant') showReply(message);
        }
      } finally {
        into = log;
      }
      log.prepend(earlier);
      scrollDown();
    } catch (error) {
      bubble('notice', textOf(error));
    }
  }

  async function storedMessages(id: string): Promise<StoredMessage[]> {
    const page = async (offset: number) => {
      const response = await call('GET', `/sessions/${id}/messages?limit=100&offset=${offset}`);
      if (response.status === 404) return null;
      if (!response.ok) throw await failureOf(response, 'read');
      return ((await response.json()) as { data: { items: StoredMessage[]; total: number } }).data;
    };
    const first = await page(0);
    if (!first) {
      save({ ...saved, sessionId: undefined });
      return [];
    }
    // The latest hundred messages of a long session.
    return first.total > 100 ? ((await page(first.total - 100))?.items ?? []) : first.items;
  }

  function open() {
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    launcher.setAttribute('aria-label', labels.close);
    input.focus();
    if (!started) {
      started = true;
      void start();
    }
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-label', labels.open);
    launcher.focus();
  }
  launcher.addEventListener('click', () => (panel.hidden ? open() : close()));
  closeButton.addEventListener('click', close);
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      close();
    }
  });

  const mount = () => document.body.append(host);
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount, { once: true });
})();
