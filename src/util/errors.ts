/** One error base with closed codes. Retry decisions read `kind`, never message text. */
export const ErrorKind = { Transient: 'transient', Permanent: 'permanent', Ambiguous: 'ambiguous' } as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

export class TcError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: string,
    message: string,
    kind: ErrorKind = 'permanent',
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TcError';
    this.code = code;
    this.kind = kind;
    this.details = options?.details;
  }
}

export function isTransient(err: unknown): boolean {
  return err instanceof TcError && err.kind === 'transient';
}
