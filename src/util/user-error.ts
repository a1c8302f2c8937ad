/** A mistake the user can fix (a file, port, id): printed as one line naming the thing, never with a stack. */
export class UserError extends Error {
  constructor(
    message: string,
    /** 1 failure or usage error, 2 nothing matched the id (src/cli/errors.ts EXIT). */
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
