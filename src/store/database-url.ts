import { readFileSync } from 'node:fs';
import { MappingError } from '../mappings/load.ts';

/**
 * DATABASE_URL, or the file DATABASE_URL_FILE names (a container secret: the password stays out of the environment).
 * A named file that cannot be read is an error naming the variable and the file, never a silent fall-back to PGlite.
 */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const file = env.DATABASE_URL_FILE;
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new MappingError(
      `DATABASE_URL_FILE ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (!/^postgres(ql)?:\/\//.test(text))
    throw new MappingError(`DATABASE_URL_FILE ${file}: does not hold a postgres:// URL`);
  return text;
}
