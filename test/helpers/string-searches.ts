/**
 * The string searches a read of the parsed message makes (String.prototype indexOf, includes and split calls),
 * counted rather than timed. A count per call cannot see work inside one native call, but it does see a scan per
 * call: a repCount that looked for separators on every call made `for (r < repCount(f))` quadratic.
 */
export function stringSearches(read: () => void): number {
  const proto = String.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const names = ['indexOf', 'includes', 'split'] as const;
  const saved = names.map((n) => proto[n]!);
  let calls = 0;
  names.forEach((n, k) => {
    const original = saved[k]!;
    proto[n] = function (this: string, ...a: unknown[]) {
      calls++;
      return original.apply(this, a);
    };
  });
  try {
    read();
  } finally {
    names.forEach((n, k) => (proto[n] = saved[k]!));
  }
  return calls;
}
