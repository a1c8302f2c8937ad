import { MappingError } from '../mappings/load.ts';
import { foldText } from './standardize.ts';

/**
 * Nickname groups (mappings/nicknames.csv: one group a line, names separated by commas, `#` comments).
 * A name may be in several groups (Al: Albert, Alfred, Alan); two names are equivalent when they share one.
 */
export function parseNicknamesCsv(text: string, source = 'nicknames.csv'): string[][] {
  const groups: string[][] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const body = line.replace(/#.*$/, '').trim();
    if (!body) return;
    const names = body
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean);
    if (names.length < 2) throw new MappingError(`${source}: line ${i + 1}: a group needs at least two names`);
    groups.push(names);
  });
  return groups;
}

export class NicknameTable {
  private readonly groups = new Map<string, number[]>();
  /** The standardised names of each group, by group id. */
  private readonly names: string[][] = [];

  constructor(groups: readonly (readonly string[])[]) {
    groups.forEach((g, id) => {
      const names: string[] = [];
      this.names.push(names);
      for (const name of g) {
        const key = foldText(name).replace(/ /g, '');
        if (!names.includes(key)) names.push(key);
        const list = this.groups.get(key);
        if (!list) this.groups.set(key, [id]);
        else if (!list.includes(id)) list.push(id);
      }
    });
  }

  /** True when two standardised given names share a nickname group. */
  equivalent(a: string, b: string): boolean {
    const ga = this.groups.get(a);
    if (!ga) return false;
    const gb = this.groups.get(b);
    if (!gb) return false;
    for (const x of ga) if (gb.includes(x)) return true;
    return false;
  }

  /** Every group id of a standardised name (blocking keys), or undefined. */
  groupsOf(name: string): readonly number[] | undefined {
    return this.groups.get(name);
  }

  /** The standardised names in a group. */
  members(group: number): readonly string[] {
    return this.names[group] ?? [];
  }

  /** The smallest group id of a name (a blocking root), or undefined. */
  root(name: string): number | undefined {
    return this.groups.get(name)?.[0];
  }
}
