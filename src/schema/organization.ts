import { builder } from './builder.ts';

const WidgetTokenRef = builder
  .objectRef<{ token: string; expiresIn: number; tokenType: string }>('WidgetToken')
  .implement({
    description: 'A short-lived token for a website visitor (send it as Authorization: Bearer <token>).',
    fields: (t) => ({
      token: t.exposeString('token'),
      expiresIn: t.exposeInt('expiresIn', { description: 'Seconds until it expires.' }),
      tokenType: t.exposeString('tokenType'),
    }),
  });

const OrganizationRef = builder.prismaObject('Organization', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    clientId: t.exposeString('clientId'),
    rateLimitPerHour: t.exposeInt('rateLimitPerHour'),
    allowedOrigins: t.exposeStringList('allowedOrigins', {
      description: 'Web origins whose pages may ask for widget tokens; empty: any origin.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  organization: t.field({
    type: OrganizationRef,
    authScopes: { apiKey: true },
    description: 'The organization the API key belongs to.',
    resolve: (_root, _args, ctx) => ctx.services.organizations.get(ctx.viewer!.organizationId),
  }),
}));

builder.mutationFields((t) => ({
  updateOrganization: t.field({
    type: OrganizationRef,
    authScopes: { apiKey: true },
    description: "Changes the API key's own organization. allowedOrigins: the web origins whose pages may ask for widget tokens ([] lets any).",
    args: { allowedOrigins: t.arg.stringList() },
    resolve: async (_root, { allowedOrigins }, ctx) => {
      const organizationId = ctx.viewer!.organizationId;
      if (allowedOrigins) return ctx.services.organizations.setAllowedOrigins(organizationId, allowedOrigins);
      return ctx.services.organizations.get(organizationId);
    },
  }),
  createWidgetToken: t.field({
    type: WidgetTokenRef,
    description:
      'Issues a widget token for a client id, no secret needed. Pass the visitor\'s previous token ' +
      '(expired up to 24 hours ago) to keep its visitor id and so its sessions. Pass a userToken ' +
      '(an HS256 JWT your backend signed with an identity secret: sub = the user reference, exp at most ' +
      '24 hours ahead) to bind the token to that user: their sessions are linked to their user context.',
    args: { clientId: t.arg.string({ required: true }), previousToken: t.arg.string(), userToken: t.arg.string() },
    resolve: async (_root, { clientId, previousToken, userToken }, ctx) => {
      const issued = await ctx.services.widgetTokens.issue({ clientId, previousToken, origin: ctx.origin, userToken });
      // Nobody is authenticated yet: the request counts against the widget budget of the client id's organization.
      await ctx.chargeWidget?.(issued.organizationId);
      return issued;
    },
  }),
}));
