// Assembles the schema from the domain files (each registers its own types).
import { builder } from './builder.ts';
import './organization.ts';
import './assistant.ts';
import './message.ts';
import './session.ts';
import './user-context.ts';
import './conversation.ts';
import './chat-stream.ts';
import './reply-control.ts';
import './knowledge.ts';
import './knowledge-search.ts';
import './handoff.ts';
import './feedback.ts';
import './webhook.ts';

export const schema = builder.toSchema();
