// The assistants the list benchmarks read: the same 20 rows whichever section
// (gateway, scaleout) creates them, so that their figures compare.
import { http, type Auth } from './http.ts';

/** Creates the i-th benchmark assistant through the REST API; returns its id. */
export async function createBenchmarkAssistant(url: string, auth: Auth, i: number): Promise<string> {
  const reply = await http('POST', `${url}/api/v1/assistants/`, {
    auth,
    body: {
      name: `Benchmark assistant ${i + 1}`,
      description: 'Answers questions about orders, deliveries and returns for the benchmark shop.',
      tone: 'friendly',
      language: 'en',
      default_tasks: ['answer_questions', 'track_orders', 'explain_returns'],
      is_active: true,
      temperature: 0.4,
      max_tokens: 512,
      metadata: { team: 'support', index: i },
    },
  });
  if (reply.status !== 201) throw new Error(`Creating an assistant answered ${reply.status}: ${reply.text}`);
  return reply.body.data.id;
}
