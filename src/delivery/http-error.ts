import { TcError } from '../util/errors.ts';

/**
 * What kind of failure, beside the HTTP status: `timeout` is ambiguous (the site may have written: never re-sent in
 * place, the next attempt reads first); `redirect` a 3xx we do not follow; `too-large` a body over the cap;
 * `insecure` a plain-http URL that is not loopback.
 */
export type FailureClass = 'http' | 'network' | 'timeout' | 'redirect' | 'too-large' | 'insecure';

/**
 * A site's FHIR endpoint (or its token endpoint) answered with an error, or could not be reached. The message holds
 * the method, status and a reason code, never the URL's query or a body (they may carry identifiers). The server's
 * OperationOutcome is in `outcome`, for the outbox only.
 */
export class FhirRequestError extends TcError {
  readonly status: number | undefined;
  readonly outcome: unknown;
  readonly retryAfterMs: number | undefined;
  readonly phase: 'request' | 'token' | 'auth';
  readonly reason: string;
  readonly failure: FailureClass;
  /** The Location host of a refused redirect (a host name, never a path or query). */
  readonly redirectHost: string | undefined;

  constructor(o: {
    failure?: FailureClass;
    redirectHost?: string;
    status?: number;
    reason: string;
    outcome?: unknown;
    retryAfterMs?: number;
    phase?: 'request' | 'token' | 'auth';
    cause?: unknown;
  }) {
    const failure = o.failure ?? (o.status === undefined ? 'network' : 'http');
    const transient =
      o.status === undefined || o.status === 408 || o.status === 409 || o.status === 429 || o.status >= 500;
    super(
      failure === 'timeout'
        ? 'TC_DELIVERY_TIMEOUT'
        : failure === 'redirect'
          ? 'TC_DELIVERY_REDIRECT'
          : failure === 'too-large'
            ? 'TC_DELIVERY_TOO_LARGE'
            : failure === 'insecure'
              ? 'TC_DELIVERY_INSECURE'
              : o.status === undefined
                ? 'TC_DELIVERY_NETWORK'
                : 'TC_DELIVERY_HTTP',
      o.reason,
      failure === 'timeout' || failure === 'too-large'
        ? 'ambiguous'
        : failure === 'redirect' || failure === 'insecure'
          ? 'permanent'
          : transient
            ? 'transient'
            : 'permanent',
      o.cause === undefined ? undefined : { cause: o.cause },
    );
    this.name = 'FhirRequestError';
    this.status = o.status;
    this.outcome = o.outcome;
    this.retryAfterMs = o.retryAfterMs;
    this.phase = o.phase ?? 'request';
    this.reason = o.reason;
    this.failure = failure;
    this.redirectHost = o.redirectHost;
  }
}

/** Retry-After as delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
