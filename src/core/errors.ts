/**
 * The error catalog: every error Follow Me reports to a client has a stable code here.
 * HTTP answers carry it as problem+json (RFC 9457); WebSocket error frames carry the same code.
 * docs/errors.md lists the same catalog; test/core/errors.test.ts keeps the two in step.
 */
export const catalog = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  malformed_json: { status: 400, title: 'The body is not valid JSON' },
  invalid_geometry: { status: 400, title: 'The geometry is not valid' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  forbidden: { status: 403, title: 'Not allowed for this principal' },
  tenant_suspended: { status: 403, title: 'The tenant is suspended' },
  quota_exceeded: { status: 403, title: "The tenant's plan does not allow more" },
  not_found: { status: 404, title: 'No such resource' },
  conflict: { status: 409, title: 'The resource conflicts with an existing one' },
  payload_too_large: { status: 413, title: 'The body or frame is too large' },
  unsupported_media_type: { status: 415, title: 'The content type is not supported' },
  rate_limited: { status: 429, title: 'Too many requests' },
  frame_invalid: { status: 400, title: 'The WebSocket frame is not valid' },
  unavailable: { status: 503, title: 'The service is not ready' },
  internal: { status: 500, title: 'An internal error occurred' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof catalog;

/** One problem with one input field: where it is (a JSON pointer) and why it was refused. */
export interface FieldProblem {
  field: string;
  reason: string;
}

/** An error that the API and the edge turn into a client-facing answer. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly errors: FieldProblem[];

  constructor(code: ErrorCode, detail: string, errors: FieldProblem[] = []) {
    super(detail);
    this.name = 'AppError';
    this.code = code;
    this.status = catalog[code].status;
    this.title = catalog[code].title;
    this.errors = errors;
  }

  /** The RFC 9457 problem document for this error. */
  toProblem(instance?: string): Problem {
    const problem: Problem = {
      type: `https://followme.dev/problems/${this.code}`,
      title: this.title,
      status: this.status,
      code: this.code,
      detail: this.message,
    };
    if (instance) problem.instance = instance;
    if (this.errors.length > 0) problem.errors = this.errors;
    return problem;
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  instance?: string;
  errors?: FieldProblem[];
}

/** A 400 naming the field and the reason. */
export function invalid(field: string, reason: string): AppError {
  return new AppError('validation_failed', `${field}: ${reason}`, [{ field, reason }]);
}

export function notFound(what: string, id: string): AppError {
  return new AppError('not_found', `${what} ${id} does not exist`);
}

export function forbidden(detail: string): AppError {
  return new AppError('forbidden', detail);
}
