import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MappingError, validateData } from '../mappings/load.ts';
import { matchConfigSchema, type MatchConfig } from './config.ts';
import { parseNicknamesCsv } from './nicknames.ts';

export const DEFAULT_MATCH_CONFIG_PATH = 'mappings/matching.yaml';

/**
 * Reads mappings/matching.yaml (validated with zod; errors name the file and the path inside it). A
 * `nicknamesFile` key names a CSV beside it (mappings/nicknames.csv) whose groups are added to `nicknames`.
 */
export function loadMatchConfig(path: string = DEFAULT_MATCH_CONFIG_PATH): MatchConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new MappingError(`${path}: cannot be read as YAML (${(err as NodeJS.ErrnoException).code ?? 'syntax'})`);
  }
  if (raw && typeof raw === 'object' && 'nicknamesFile' in raw) {
    const { nicknamesFile, ...rest } = raw as Record<string, unknown>;
    if (typeof nicknamesFile !== 'string')
      throw new MappingError(`${path}: invalid\n  at nicknamesFile: expected a file name`);
    const csvPath = resolve(dirname(path), nicknamesFile);
    let text: string;
    try {
      text = readFileSync(csvPath, 'utf8');
    } catch (err) {
      throw new MappingError(`${csvPath}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const groups = parseNicknamesCsv(text, csvPath);
    const own = Array.isArray(rest.nicknames) ? (rest.nicknames as unknown[]) : [];
    raw = { ...rest, nicknames: [...own, ...groups] };
  }
  return validateData(matchConfigSchema, raw, path);
}
