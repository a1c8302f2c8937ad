import { createHash, hash } from 'node:crypto';

/** Deterministic short id from parts (sha256, hex, 32 chars): same inputs, same id, always. */
export function stableId(...parts: readonly (string | number | undefined)[]): string {
  // One-shot crypto.hash (Node ≥ 20.12) is several times cheaper than createHash for short inputs.
  return hash('sha256', parts.map((p) => (p === undefined ? '' : String(p))).join('\u001f'), 'hex').slice(0, 32);
}

/** Hash of a JSON-serialisable value with object keys sorted, for change detection. */
export function stableHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
