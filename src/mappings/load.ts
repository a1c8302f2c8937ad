import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { TcError } from '../util/errors.ts';

/**
 * Loads mapping data files (YAML or JSON) and validates each against its one schema. Errors name the
 * file and the path inside it, so an analyst can fix a mapping without reading TypeScript.
 */
export class MappingError extends TcError {
  constructor(message: string) {
    super('TC_MAPPING_INVALID', message, 'permanent');
    this.name = 'MappingError';
  }
}

export function readDataFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new MappingError(`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new MappingError(`${path}: not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => `  at ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

export function validateData<S extends z.ZodType>(schema: S, data: unknown, source: string): z.infer<S> {
  const result = schema.safeParse(data);
  if (!result.success) throw new MappingError(`${source}: invalid\n${formatIssues(result.error.issues)}`);
  return result.data;
}

export function loadDataFile<S extends z.ZodType>(schema: S, path: string): z.infer<S> {
  return validateData(schema, readDataFile(path), path);
}

/** Every *.yaml / *.yml / *.json file of a folder (not recursive), sorted by name. */
export function listDataFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /\.(ya?ml|json)$/.test(n) && !n.startsWith('.'))
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile())
    .sort();
}

export function loadDataDir<S extends z.ZodType>(schema: S, dir: string): { file: string; name: string; data: z.infer<S> }[] {
  return listDataFiles(dir).map((file) => ({ file, name: basename(file).replace(/\.(ya?ml|json)$/, ''), data: loadDataFile(schema, file) }));
}
