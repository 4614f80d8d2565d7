// The CLI's commands, run against the services either in the CLI's own process
// or, when a gateway holds the data folder, inside the gateway (through the
// control socket). Each returns a JSON-able result.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AppError, invalid, notFound } from '../errors.ts';
import { EVALUATION_MAX_CASES } from '../knowledge/evaluate.ts';
import type { KnowledgeEvaluation } from '../services/knowledge-search.ts';
import type { Services } from '../services/services.ts';

export const USAGE = `Usage: npm run --silent cli -- <command> [options]

  org create --name NAME [--rate-limit N]   create an organization; prints its client id and secret (once)
  org list                                  list organizations
  org rate-limit --org ID --per-hour N      set an organization's hourly request limit
  org origins --org ID --set A,B | --list | --clear
                                            the web origins whose pages may ask for widget tokens
                                            (https://shop.example.com); none set: any origin
  org identity-secret --org ID [--list | --revoke SECRET_ID]
                                            a new secret for your backend to sign visitors' user tokens
                                            with (HS256; shown once; older ones stay live until revoked)
  key create --org ID                       add a secret (the old ones stay valid: rotate without downtime)
  key list --org ID                         list an organization's secrets (hints only)
  key revoke --org ID --key SECRET_ID       revoke a secret
  signing-key rotate [--revoke-old]         sign widget tokens with a new key; issued tokens stay valid for
                                            WIDGET_KEY_GRACE_SECONDS (default 3600), or are refused at once
                                            with --revoke-old
  knowledge eval --org ID --file CASES.json [--assistant ID]
                                            ask each question as a reply would; prints each case's rank,
                                            then recall@1, recall@5 and MRR. CASES.json: {"cases": [{"question",
                                            "expected_source_id"}]} (or the list alone), at most 500 cases

Options: --json prints JSON only.`;

export class UsageError extends Error {
  override name = 'UsageError';
}

const options = {
  name: { type: 'string' },
  'rate-limit': { type: 'string' },
  org: { type: 'string' },
  'per-hour': { type: 'string' },
  key: { type: 'string' },
  file: { type: 'string' },
  assistant: { type: 'string' },
  json: { type: 'boolean' },
  'revoke-old': { type: 'boolean' },
  set: { type: 'string' },
  list: { type: 'boolean' },
  clear: { type: 'boolean' },
  revoke: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseCommand(argv: string[]) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const COMMANDS = ['org create', 'org list', 'org rate-limit', 'org origins', 'org identity-secret', 'key create', 'key list', 'key revoke', 'signing-key rotate', 'knowledge eval'];

/**
 * Parses the arguments and rejects an unknown command before anything is opened: a typo must
 * not create (or lock) a data folder, nor wait for a database, only to be told it is unknown.
 */
export function checkCommand(argv: string[]) {
  const parsed = parseCommand(argv);
  const command = parsed.positionals.join(' ');
  if (!COMMANDS.includes(command)) throw new UsageError(command ? `Unknown command "${command}".` : 'No command given.');
  return parsed;
}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`--${flag} is required.`);
  return value;
}

function count(value: string | undefined, flag: string): number {
  const parsed = Number(required(value, flag));
  if (!Number.isInteger(parsed) || parsed < 1) throw new UsageError(`--${flag} must be a whole number above 0.`);
  return parsed;
}

/** An evaluation as read from its file: the evaluation itself checks each field and names the wrong ones. */
export type EvaluationInput = { assistantId?: unknown; cases: Array<{ question: unknown; expectedSourceId: unknown }> };

/**
 * What a command reads from files, read by the CLI's own process (with the
 * user's permissions, relative to its working folder) before the command runs
 * here or in the gateway. Only `knowledge eval` reads one: its cases.
 */
export async function readCommandInput(argv: string[]): Promise<EvaluationInput | undefined> {
  const { positionals, values } = parseCommand(argv);
  if (positionals.join(' ') !== 'knowledge eval') return undefined;
  const file = path.resolve(required(values.file, 'file'));
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new UsageError(`--file ${file} could not be read as JSON (${reason}).`);
  }
  const body = (Array.isArray(parsed) ? { cases: parsed } : parsed) as { cases?: unknown; assistant_id?: unknown } | null;
  if (!Array.isArray(body?.cases)) throw new UsageError(`--file ${file} must hold {"cases": [{"question", "expected_source_id"}, ...]} or that list alone.`);
  // Refused here already: the whole set travels to the gateway in one message.
  if (body.cases.length > EVALUATION_MAX_CASES) {
    throw new UsageError(`--file ${file} holds ${body.cases.length} cases; an evaluation takes at most ${EVALUATION_MAX_CASES}: split the set.`);
  }
  // The keys of the REST body, so one file serves both.
  return {
    assistantId: body.assistant_id,
    cases: body.cases.map((c: { question?: unknown; expected_source_id?: unknown } | null) => ({ question: c?.question, expectedSourceId: c?.expected_source_id })),
  };
}

/** An evaluation as the REST API shows it (snake_case), for --json. */
function evaluationJson(result: KnowledgeEvaluation) {
  return {
    assistant_id: result.assistantId,
    total: result.total,
    found: result.found,
    recall_at_1: result.recallAt1,
    recall_at_5: result.recallAt5,
    mrr: result.mrr,
    depth: result.depth,
    cases: result.cases.map((c) => ({
      question: c.question,
      expected_source_id: c.expectedSourceId,
      rank: c.rank,
      score: c.score,
      top_source_id: c.topSourceId,
      reason: c.reason,
      rewritten_question: c.rewrittenQuestion,
    })),
  };
}

/** The fields of the cases file as the user wrote them (expected_source_id, not expectedSourceId). */
const fileField = (field: string) => field.replace(/expectedSourceId/, 'expected_source_id').replace(/^assistantId$/, 'assistant_id');

/** Runs one command; throws UsageError for bad arguments and AppError for refused operations. */
export async function runCommand(services: Services, argv: string[], input?: EvaluationInput): Promise<unknown> {
  const { positionals, values } = parseCommand(argv);
  const command = positionals.join(' ');
  const { organizations, widgetTokens } = services;
  switch (command) {
    case 'org create': {
      const created = await organizations.create({
        name: required(values.name, 'name'),
        rateLimitPerHour: values['rate-limit'] === undefined ? undefined : count(values['rate-limit'], 'rate-limit'),
      });
      return { organization_id: created.organizationId, client_id: created.clientId, client_secret: created.clientSecret };
    }
    case 'org list':
      return (await organizations.list()).map((org) => ({
        organization_id: org.id,
        name: org.name,
        client_id: org.clientId,
        is_active: org.isActive,
        rate_limit_per_hour: org.rateLimitPerHour,
        created_at: org.createdAt.toISOString(),
      }));
    case 'org rate-limit': {
      const org = await organizations.setRateLimit(required(values.org, 'org'), count(values['per-hour'], 'per-hour'));
      return { organization_id: org.id, rate_limit_per_hour: org.rateLimitPerHour };
    }
    case 'org origins': {
      const organizationId = required(values.org, 'org');
      const chosen = [values.set !== undefined, values.list, values.clear].filter(Boolean).length;
      if (chosen !== 1) throw new UsageError('org origins takes one of --set A,B, --list or --clear.');
      const org =
        values.set !== undefined || values.clear
          ? await organizations.setAllowedOrigins(organizationId, values.clear ? [] : values.set!.split(',').map((o) => o.trim()).filter(Boolean))
          : await organizations.get(organizationId);
      return { organization_id: org.id, allowed_origins: org.allowedOrigins };
    }
    case 'org identity-secret': {
      const organizationId = required(values.org, 'org');
      if (values.list && values.revoke !== undefined) throw new UsageError('org identity-secret takes --list or --revoke SECRET_ID, not both.');
      if (values.list) {
        return (await services.identity.listSecrets(organizationId)).map((secret) => ({
          secret_id: secret.id,
          hint: `${secret.hint}…`,
          created_at: secret.createdAt.toISOString(),
          revoked_at: secret.revokedAt?.toISOString() ?? null,
          last_used_at: secret.lastUsedAt?.toISOString() ?? null,
        }));
      }
      if (values.revoke !== undefined) {
        const revoked = await services.identity.revokeSecret(organizationId, required(values.revoke, 'revoke'));
        return { secret_id: revoked.id, revoked_at: revoked.revokedAt?.toISOString() ?? null };
      }
      return { identity_secret: (await services.identity.createSecret(organizationId)).identitySecret };
    }
    case 'key create': {
      const created = await organizations.createSecret(required(values.org, 'org'));
      return { organization_id: created.organizationId, client_id: created.clientId, secret_id: created.secretId, client_secret: created.clientSecret };
    }
    case 'key list':
      return (await organizations.listSecrets(required(values.org, 'org'))).map((secret) => ({
        secret_id: secret.id,
        hint: `${secret.hint}…`,
        created_at: secret.createdAt.toISOString(),
        revoked_at: secret.revokedAt?.toISOString() ?? null,
        last_used_at: secret.lastUsedAt?.toISOString() ?? null,
      }));
    case 'key revoke': {
      const revoked = await organizations.revokeSecret(required(values.org, 'org'), required(values.key, 'key'));
      return { secret_id: revoked.id, revoked_at: revoked.revokedAt?.toISOString() ?? null };
    }
    case 'signing-key rotate': {
      const rotated = await widgetTokens.rotate({ revokeOld: values['revoke-old'] ?? false });
      return { key_id: rotated.keyId, revoked_keys: rotated.revokedKeys, old_keys_valid_for_seconds: rotated.graceSeconds };
    }
    case 'knowledge eval': {
      const organizationId = required(values.org, 'org');
      if (!input) throw new UsageError('--file is required.');
      const org = await organizations.findAuth(organizationId);
      if (!org) throw notFound('Organization', organizationId);
      try {
        const result = await services.knowledgeSearch.evaluate(
          { kind: 'apiKey', organizationId: org.id, rateLimitPerHour: org.rateLimitPerHour },
          // --assistant wins over the file's assistant_id.
          { ...(input as { assistantId?: string; cases: Array<{ question: string; expectedSourceId: string }> }), ...(values.assistant ? { assistantId: values.assistant } : {}) },
        );
        return evaluationJson(result);
      } catch (error) {
        const errors = error instanceof AppError ? error.extensions.errors : undefined;
        if (errors) throw invalid(errors.map((e) => ({ ...e, field: fileField(e.field) })));
        throw error;
      }
    }
    default:
      throw new UsageError(command ? `Unknown command "${command}".` : 'No command given.');
  }
}

/** A failure as the CLI reports it, whether it happened here or in the gateway. */
export function describeFailure(error: unknown): { message: string; usage: boolean } {
  if (error instanceof UsageError) return { message: error.message, usage: true };
  if (error instanceof AppError) return { message: error.message, usage: false };
  throw error;
}
