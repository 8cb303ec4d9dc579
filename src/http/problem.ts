/** Turns every error that reaches HTTP into problem+json (RFC 9457) with a code from the catalog. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldProblem } from '../core/errors.js';

interface AjvIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/target/deviceIds/0` → `target.deviceIds[0]` */
export function pointerToField(pointer: string, prefix = ''): string {
  const parts = pointer.split('/').filter(Boolean);
  let field = prefix;
  for (const part of parts) field += /^\d+$/.test(part) ? `[${part}]` : field ? `.${part}` : part;
  return field;
}

function fromValidation(error: FastifyError & { validation: AjvIssue[]; validationContext?: string }): AppError {
  const where = error.validationContext === 'body' || !error.validationContext ? '' : error.validationContext;
  const problems: FieldProblem[] = error.validation.map((issue) => {
    let field = pointerToField(issue.instancePath, where);
    if (issue.keyword === 'required' && typeof issue.params.missingProperty === 'string') {
      field = field ? `${field}.${issue.params.missingProperty}` : issue.params.missingProperty;
      return { field, reason: 'is required' };
    }
    if (issue.keyword === 'additionalProperties' && typeof issue.params.additionalProperty === 'string') {
      field = field ? `${field}.${issue.params.additionalProperty}` : issue.params.additionalProperty;
      return { field, reason: 'is not a known field' };
    }
    return { field: field || (where || 'body'), reason: issue.message ?? issue.keyword };
  });
  const first = problems[0]!;
  return new AppError('validation_failed', `${first.field}: ${first.reason}`, problems);
}

/** Maps any thrown error to an AppError; unknown errors become `internal`. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const e = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (Array.isArray(e.validation)) return fromValidation(e as FastifyError & { validation: AjvIssue[] });
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', e.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', `${e.message}; send application/json`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('malformed_json', 'the body is empty; send a JSON document');
  }
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return new AppError('malformed_json', `the body is not valid JSON: ${e.message}`);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new AppError('validation_failed', e.message);
  return new AppError('internal', 'an internal error occurred; it has been logged');
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const appError = toAppError(error);
  if (appError.code === 'internal') request.log.error({ err: error }, 'request failed');
  else request.log.debug({ code: appError.code, detail: appError.message }, 'request refused');
  return reply.status(appError.status).type('application/problem+json').send(appError.toProblem(request.url));
}
