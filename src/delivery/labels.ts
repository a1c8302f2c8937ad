/**
 * Security labels (meta.security) as sets of system + code: servers sort them (HAPI), keep display or not, and keep
 * labels a PUT leaves out (HAPI merges them), so neither order nor display nor an omission says anything.
 */
export const labelKey = (c: fhir4.Coding): string => `${c.system ?? ''}|${c.code ?? ''}`;

/** The labels without duplicates, in a stable order (system, then code). */
export function sortedLabels(labels: readonly fhir4.Coding[] | undefined): fhir4.Coding[] {
  const byKey = new Map<string, fhir4.Coding>();
  for (const c of labels ?? []) if (!byKey.has(labelKey(c))) byKey.set(labelKey(c), c);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, c]) => c);
}

export function sameLabels(a: readonly fhir4.Coding[] | undefined, b: readonly fhir4.Coding[] | undefined): boolean {
  const x = sortedLabels(a).map(labelKey);
  const y = sortedLabels(b).map(labelKey);
  return x.length === y.length && x.every((k, i) => k === y[i]);
}

/** Labels in `have` that `want` does not hold (what must be removed). */
export function extraLabels(
  have: readonly fhir4.Coding[] | undefined,
  want: readonly fhir4.Coding[] | undefined,
): fhir4.Coding[] {
  const keep = new Set((want ?? []).map(labelKey));
  return sortedLabels(have).filter((c) => !keep.has(labelKey(c)));
}
