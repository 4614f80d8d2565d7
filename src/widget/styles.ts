// The widget's style sheet, applied inside its shadow root (never to the host
// page). `all: initial` on the host stops the page's inherited styles (fonts,
// colours, line height) at the boundary. Colours meet WCAG AA: at least 4.5:1
// for text in both themes (a browser test measures them). Joined with
// widget.ts like labels.ts.

/** The dark palette: chosen with data-theme="dark", or by the visitor's system with "auto". */
const DARK_PALETTE = `
  color-scheme: dark;
  --bg: #16191d;
  --fg: #e6e8eb;
  --muted: #aeb4bb;
  --border: #3a4047;
  --accent: #8ab4f8;
  --on-accent: #0b1a33;
  --assistant-bg: #262a30;
  --assistant-fg: #e6e8eb;
  --alert-bg: #3b1d20;
  --alert-fg: #ffb4ab;
  --link: #a8c7fa;
  --focus: #8ab4f8;
`;

export const WIDGET_CSS = `
:host {
  all: initial;
  display: block;
  position: fixed;
  right: 20px;
  bottom: 20px;
  z-index: 2147483000;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color-scheme: light;
  --bg: #ffffff;
  --fg: #1f2328;
  --muted: #57606a;
  --border: #d0d7de;
  --accent: #0b57d0;
  --on-accent: #ffffff;
  --assistant-bg: #eef1f4;
  --assistant-fg: #1f2328;
  --alert-bg: #fff1f0;
  --alert-fg: #a40e26;
  --link: #0b57d0;
  --focus: #0b57d0;
}
:host([data-theme="dark"]) {
${DARK_PALETTE}}
@media (prefers-color-scheme: dark) {
  :host([data-theme="auto"]) {
${DARK_PALETTE}  }
}
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
button, textarea { font: inherit; color: inherit; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.sr {
  position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0;
  overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap;
}
.launcher {
  display: grid; place-items: center; width: 56px; height: 56px; margin-left: auto;
  border: 0; border-radius: 50%; cursor: pointer;
  background: var(--accent); color: var(--on-accent);
  box-shadow: 0 4px 14px rgb(0 0 0 / 0.25);
}
.launcher svg { width: 26px; height: 26px; fill: currentColor; }
.panel {
  position: absolute; right: 0; bottom: 72px;
  display: flex; flex-direction: column;
  width: min(380px, calc(100vw - 40px)); height: min(560px, calc(100vh - 120px));
  background: var(--bg); color: var(--fg);
  border: 1px solid var(--border); border-radius: 14px; overflow: hidden;
  box-shadow: 0 10px 40px rgb(0 0 0 / 0.3);
}
header {
  display: flex; align-items: center; gap: 8px; padding: 12px 12px 12px 16px;
  background: var(--accent); color: var(--on-accent);
}
h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.close {
  display: grid; place-items: center; width: 32px; height: 32px; padding: 0;
  border: 0; border-radius: 8px; background: transparent; color: inherit; cursor: pointer;
}
.close svg { width: 20px; height: 20px; stroke: currentColor; stroke-width: 2.2; fill: none; stroke-linecap: round; }
.close:focus-visible { outline-color: var(--on-accent); outline-offset: -3px; }
.log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 10px; }
.message { max-width: 85%; padding: 8px 12px; border-radius: 12px; overflow-wrap: anywhere; }
.message .text { white-space: pre-wrap; }
.user { align-self: flex-end; background: var(--accent); color: var(--on-accent); border-bottom-right-radius: 4px; }
.assistant { align-self: flex-start; background: var(--assistant-bg); color: var(--assistant-fg); border-bottom-left-radius: 4px; }
.notice, .note { background: var(--alert-bg); color: var(--alert-fg); }
.notice { align-self: stretch; max-width: none; }
.failed { background: var(--alert-bg); color: var(--alert-fg); }
.failed .text { display: none; }
.failed .note { margin: 0; padding: 0; font-size: inherit; }
.note { margin-top: 6px; padding: 6px 8px; border-radius: 8px; font-size: 14px; }
.pending .text::before { content: attr(data-placeholder); color: var(--muted); font-style: italic; }
.sources { margin-top: 8px; padding-top: 6px; border-top: 1px solid var(--border); font-size: 13px; }
.sources-title { display: block; font-weight: 600; color: var(--assistant-fg); }
.sources ul { margin: 2px 0 0; padding-left: 18px; }
.sources a { color: var(--link); }
.compose { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--border); background: var(--bg); }
textarea {
  flex: 1; resize: none; min-height: 42px; max-height: 120px; padding: 9px 10px;
  border: 1px solid var(--muted); border-radius: 10px; background: var(--bg); color: var(--fg);
}
textarea::placeholder { color: var(--muted); opacity: 1; }
.send {
  padding: 0 16px; border: 0; border-radius: 10px; cursor: pointer; font-weight: 600;
  background: var(--accent); color: var(--on-accent);
}
.send:disabled { cursor: progress; opacity: 0.75; }
`;
