/** Rules (events that send alerts), the templates they use, and what noise control left out. */
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Problem, Rule, RuleInput, Suppression, Template, TenantItemParams, TenantParams } from '../schemas.js';

export function ruleRoutes(app: HttpServer, { client, notification }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];
  const Limit = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) });

  app.post('/tenants/:tenantId/rules', {
    schema: {
      tags: ['rules'], security, params: TenantParams, body: RuleInput, response: { 201: Rule, 400: Problem },
      summary: 'Create a rule: on a fence, proximity or device event, send a text or template to a target. Texts may use {person}, {device}, {fence}, {event}, {time}, {link}, {battery}, {text}',
    },
  }, async (request, reply) => reply.status(201).send(await notification.createRule(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body as Parameters<typeof notification.createRule>[1])));
  app.get('/tenants/:tenantId/rules', { schema: { tags: ['rules'], summary: 'List rules', security, params: TenantParams, response: { 200: Type.Array(Rule) } } },
    async (request) => notification.listRules(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.delete('/tenants/:tenantId/rules/:id', { schema: { tags: ['rules'], summary: 'Delete a rule', security, params: TenantItemParams } }, async (request, reply) => {
    await notification.deleteRule(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id);
    return reply.status(204).send();
  });
  app.get('/tenants/:tenantId/rules/:id/suppressed', { schema: { tags: ['rules'], summary: "The rule's alerts and recipients noise control left out, newest first, with reasons", security, params: TenantItemParams, querystring: Limit, response: { 200: Type.Array(Suppression) } } },
    async (request) => notification.suppressed(await contextOf(request, auth, request.params.tenantId, 'operator'), { ruleId: request.params.id }, request.query.limit));
  app.get('/tenants/:tenantId/messages/:id/suppressed', { schema: { tags: ['messages'], summary: 'Recipients noise control left out of this alert, with reasons', security, params: TenantItemParams, querystring: Limit, response: { 200: Type.Array(Suppression) } } },
    async (request) => notification.suppressed(await contextOf(request, auth, request.params.tenantId, 'operator'), { messageId: request.params.id }, request.query.limit));

  app.post('/tenants/:tenantId/templates', {
    schema: { tags: ['rules'], summary: 'Store a message template; title and body may use {person}, {device}, {fence}, {event}, {time}, {link}, {battery}, {text}', security, params: TenantParams, body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), title: Type.String({ minLength: 1, maxLength: 200 }), body: Type.Optional(Type.String({ maxLength: 10_000 })) }), response: { 201: Template, 400: Problem, 409: Problem } },
  }, async (request, reply) => reply.status(201).send(await notification.createTemplate(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body)));
  app.get('/tenants/:tenantId/templates', { schema: { tags: ['rules'], summary: 'List templates', security, params: TenantParams, response: { 200: Type.Array(Template) } } },
    async (request) => notification.listTemplates(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.patch('/tenants/:tenantId/templates/:id', {
    schema: { tags: ['rules'], summary: "Change a template's name, title or body; rules using it send the new text from now on", security, params: TenantItemParams, body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })), title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), body: Type.Optional(Type.String({ maxLength: 10_000 })) }, { additionalProperties: false }), response: { 200: Template, 400: Problem, 404: Problem, 409: Problem } },
  }, async (request) => notification.updateTemplate(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id, request.body));
  app.delete('/tenants/:tenantId/templates/:id', { schema: { tags: ['rules'], summary: 'Delete a template no rule uses (409 while one does)', security, params: TenantItemParams } }, async (request, reply) => {
    await notification.deleteTemplate(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id);
    return reply.status(204).send();
  });
}
