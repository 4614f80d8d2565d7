// Who is calling, resolved once per request at the HTTP or WebSocket edge.
export type ApiKeyViewer = { kind: 'apiKey'; organizationId: string; rateLimitPerHour: number };
/**
 * A website visitor holding a widget token: `subject` is its visitor id (the token's `sub`);
 * `userReference` the signed-in user the token is bound to, if any.
 */
export type WidgetViewer = { kind: 'widget'; organizationId: string; rateLimitPerHour: number; subject: string; userReference?: string };
export type Viewer = ApiKeyViewer | WidgetViewer;
