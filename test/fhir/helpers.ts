import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ConvertContext } from '../../src/fhir/convert.ts';
import { convertInput } from '../../src/fhir/input.ts';
import type { ConvertResult, ConvertedMessage } from '../../src/fhir/types.ts';
import { loadConvertContext } from '../../src/mappings/senders.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
/** The public corpus: beside the clone (../shared, as in CI), else the machine's /work/shared (a worktree). */
export const CORPUS =
  [join(ROOT, '..', 'shared', 'corpus', 'adt-public'), '/work/shared/corpus/adt-public'].find((d) => existsSync(d)) ??
  join(ROOT, '..', 'shared', 'corpus', 'adt-public');
export const FIXTURES = join(ROOT, 'fixtures', 'adt');

let ctx: ConvertContext | undefined;
export function context(): ConvertContext {
  ctx ??= loadConvertContext({
    sendersDir: join(ROOT, 'mappings', 'senders'),
    codesDir: join(ROOT, 'mappings', 'codes'),
  });
  return ctx;
}

export function hl7Files(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...hl7Files(p));
    else if (n.endsWith('.hl7')) out.push(p);
  }
  return out;
}

export function convertFile(path: string): ConvertResult[] {
  return convertInput(readFileSync(path), context());
}

/** The one converted message of a fixture file (fails loudly otherwise). */
export function converted(rel: string): ConvertedMessage {
  const [r, ...rest] = convertFile(join(FIXTURES, rel));
  if (!r || rest.length || r.status !== 'converted')
    throw new Error(`${rel}: expected one converted message, got ${JSON.stringify(r?.status)}`);
  return r.converted;
}
