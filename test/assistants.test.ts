import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SEED_ASSISTANT } from './fixtures/seed.ts';
import { createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const seedAssistant = SEED_ASSISTANT;

describe('assistants over REST', () => {
  test('the reference example creates an assistant and returns every field it sent', async () => {
    const { status, body } = await t.json('POST', '/api/v1/assistants/', { body: seedAssistant });
    expect(status).toBe(201);
    expect(body).toMatchObject({ status: 'success', status_code: 201, data: seedAssistant });
    expect(body.data.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof body.detail).toBe('string');
    expect(new Date(body.data.created_at).toString()).not.toBe('Invalid Date');
  });

  test('the list works with and without the trailing slash and is paginated', async () => {
    for (let i = 0; i < 3; i++) await t.json('POST', '/api/v1/assistants', { body: { name: `Bot ${i}` } });
    const withSlash = await t.json('GET', '/api/v1/assistants/');
    const without = await t.json('GET', '/api/v1/assistants');
    expect(withSlash.status).toBe(200);
    expect(withSlash.body.data).toEqual(without.body.data);
    expect(withSlash.body.data).toMatchObject({ limit: 20, offset: 0 });
    const total = withSlash.body.data.total;
    expect(total).toBeGreaterThanOrEqual(4);

    const page = await t.json('GET', '/api/v1/assistants/?limit=2&offset=1');
    expect(page.body.data).toMatchObject({ total, limit: 2, offset: 1 });
    expect(page.body.data.items).toHaveLength(2);
    expect(page.body.data.items[0].id).toBe(withSlash.body.data.items[1].id);
  });

  test('a page larger than 100 or a negative offset is refused naming the parameter', async () => {
    const big = await t.json('GET', '/api/v1/assistants/?limit=500');
    expect(big.status).toBe(422);
    expect(big.body.data.errors).toEqual([{ field: 'limit', message: 'must be at most 100' }]);
    const negative = await t.json('GET', '/api/v1/assistants/?offset=-1');
    expect(negative.status).toBe(422);
    expect(negative.body.data.errors[0].field).toBe('offset');
    const text = await t.json('GET', '/api/v1/assistants/?limit=ten');
    expect(text.status).toBe(422);
    expect(text.body.data.errors[0]).toEqual({ field: 'limit', message: 'must be a whole number' });
  });

  test('one assistant can be read, updated and deleted', async () => {
    const created = await t.json('POST', '/api/v1/assistants/', { body: seedAssistant });
    const id = created.body.data.id;

    const read = await t.json('GET', `/api/v1/assistants/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual(created.body.data);

    const updated = await t.json('PATCH', `/api/v1/assistants/${id}/`, {
      body: { tone: 'friendly', model: 'mistral', temperature: 0.2, max_tokens: 256 },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.data).toMatchObject({ ...seedAssistant, tone: 'friendly', model: 'mistral', temperature: 0.2, max_tokens: 256 });

    const removed = await t.json('DELETE', `/api/v1/assistants/${id}`);
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ status: 'success', data: null });
    const gone = await t.json('GET', `/api/v1/assistants/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ status: 'error', status_code: 404, data: null });
  });

  test('missing, mistyped and out-of-range fields are named in a 422', async () => {
    const missing = await t.json('POST', '/api/v1/assistants/', { body: { description: 'no name' } });
    expect(missing.status).toBe(422);
    expect(missing.body).toMatchObject({ status: 'error', status_code: 422 });
    expect(missing.body.data.errors).toEqual([{ field: 'name', message: 'is required' }]);

    const mistyped = await t.json('POST', '/api/v1/assistants/', { body: { name: 5, is_active: 'yes' } });
    expect(mistyped.status).toBe(422);
    expect(mistyped.body.data.errors).toEqual(
      expect.arrayContaining([
        { field: 'name', message: 'must be a string' },
        { field: 'is_active', message: 'must be true or false' },
      ]),
    );

    const range = await t.json('POST', '/api/v1/assistants/', { body: { name: ' ', temperature: 3, language: 'english!' } });
    expect(range.status).toBe(422);
    expect(range.body.data.errors.map((e: { field: string }) => e.field).sort()).toEqual(['language', 'name', 'temperature']);
  });

  test('server-owned fields cannot be set through the body', async () => {
    for (const field of ['id', 'organization_id', 'created_at']) {
      const { status, body } = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Bot', [field]: 'x' } });
      expect(status).toBe(422);
      expect(body.data.errors).toEqual([{ field, message: 'is not a field that can be set here' }]);
    }
  });

  test('an id that is not a UUID answers 404 like any unknown id', async () => {
    const { status, body } = await t.json('GET', '/api/v1/assistants/not-a-uuid');
    expect(status).toBe(404);
    expect(body.detail).toContain('not-a-uuid');
  });
});
