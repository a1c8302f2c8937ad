import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseFebrl, type FebrlRecord } from './febrl.ts';

/**
 * Finds the Febrl development set: FEBRL_DIR, else shared/corpus/febrl3 in the working directory or any
 * folder above it (the repository's ../shared/corpus). Undefined when it is not on this machine.
 */
export function findFebrl(): string | undefined {
  if (process.env.FEBRL_DIR) return join(process.env.FEBRL_DIR, 'dataset3.csv');
  for (let dir = resolve('.'); ; dir = dirname(dir)) {
    const file = join(dir, 'shared', 'corpus', 'febrl3', 'dataset3.csv');
    if (existsSync(file)) return file;
    if (dirname(dir) === dir) return undefined;
  }
}

export function loadFebrl(file = findFebrl()): FebrlRecord[] {
  if (!file) throw new Error('the Febrl development set (shared/corpus/febrl3) is not on this machine; set FEBRL_DIR');
  return parseFebrl(readFileSync(file, 'utf8'));
}
