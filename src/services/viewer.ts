// Who is calling, resolved once per request at the HTTP or WebSocket edge.
export type ApiKeyViewer = { kind: 'apiKey'; organizationId: string; rateLimitPerHour: number };
/** A website visitor holding a widget token: `subject` is its visitor id (the token's `sub`). */
export type WidgetViewer = { kind: 'widget'; organizationId: string; rateLimitPerHour: number; subject: string };
export type Viewer = ApiKeyViewer | WidgetViewer;
