// A real Chromium (Debian's, at /usr/bin/chromium) driven by playwright-core,
// with a fresh profile per launch, and a host-page server on a loopback address
// of its own, so that pages it serves have another origin than the gateway.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go (gitignored). */
export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-results/widget');

export type Browser = { context: BrowserContext; close(): Promise<void> };

export async function launchBrowser(): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'widget-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 720 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

export type HostSite = {
  /** e.g. http://127.0.0.2:41234: what the page's Origin header will say. */
  origin: string;
  /** Serves this HTML at the path (with the given extra headers). */
  page(pathname: string, html: string, headers?: Record<string, string>): string;
  close(): Promise<void>;
};

/** A web server for host pages on its own loopback address (127.0.0.2, 127.0.0.3, …). */
export async function startHostSite(address: string): Promise<HostSite> {
  const pages = new Map<string, { html: string; headers: Record<string, string> }>();
  const server: Server = createServer((req, res) => {
    const found = pages.get(new URL(req.url ?? '/', 'http://host').pathname);
    if (!found) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', ...found.headers }).end(found.html);
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const origin = `http://${address}:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    page(pathname, html, headers = {}) {
      pages.set(pathname, { html, headers });
      return `${origin}${pathname}`;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
