import { describe, expect, it } from 'vitest';
import { NicknameTable, parseNicknamesCsv } from '../../src/roster/nicknames.ts';
import {
  compareDates,
  dateNumber,
  editDistance,
  foldText,
  soundex,
  soundexCode,
  standardizeAddress,
  standardizeDcn,
  standardizeName,
  standardizePhone,
  withinOneEdit,
} from '../../src/roster/standardize.ts';
import { eligibilityOn } from '../../src/roster/eligibility.ts';
import type { Participant } from '../../src/roster/types.ts';
import { readFileSync } from 'node:fs';

describe('standardisation', () => {
  it('folds case, punctuation and accents', () => {
    expect(foldText("Müller-O'Brien, Zoë")).toBe('MULLER OBRIEN ZOE');
    expect(foldText('Straße Łódź')).toBe('STRASSE LODZ');
  });

  it('splits hyphenated and compound surnames and takes suffixes out', () => {
    expect(standardizeName("O'Brien-Kelly", ['Margaret'])).toMatchObject({
      family: 'OBRIENKELLY',
      familyTokens: ['OBRIEN', 'KELLY'],
    });
    expect(standardizeName('De La Cruz', ['Ana'])).toMatchObject({ family: 'DELACRUZ' });
    expect(standardizeName('Smith Jr.', ['John'])).toMatchObject({ family: 'SMITH', suffix: 'JR' });
    expect(standardizeName('Smith', ['John'], ['III'])).toMatchObject({ suffix: 'III' });
    expect(standardizeName('Smith', ['John', 'Paul'])).toMatchObject({ given: 'JOHN', middle: ['PAUL'] });
  });

  it('knows nicknames in both directions from mappings/nicknames.csv', () => {
    const t = new NicknameTable(parseNicknamesCsv(readFileSync('mappings/nicknames.csv', 'utf8')));
    expect(t.equivalent('BILL', 'WILLIAM')).toBe(true);
    expect(t.equivalent('MARGARET', 'PEGGY')).toBe(true);
    expect(t.equivalent('PEGGY', 'WILLIAM')).toBe(false);
  });

  it('recognises birth-date typos and day/month swaps', () => {
    expect(compareDates(dateNumber('1980-05-05'), dateNumber('1980-05-05'))).toBe('exact');
    expect(compareDates(dateNumber('1965-11-02'), dateNumber('1965-02-11'))).toBe('swap');
    expect(compareDates(dateNumber('1980-05-05'), dateNumber('1980-05-06'))).toBe('typo');
    expect(compareDates(dateNumber('1978-03-14'), dateNumber('1987-03-14'))).toBe('typo');
    expect(compareDates(dateNumber('1978-03-14'), dateNumber('1990-07-21'))).toBe('disagree');
    expect(compareDates(0, dateNumber('1990-07-21'))).toBe('missing');
    // Two digits exchanged only count when they are adjacent; two unrelated digits wrong disagree.
    expect(compareDates(19780314, 19780341)).toBe('typo');
    expect(compareDates(19780314, 19780413)).toBe('disagree');
    expect(compareDates(19780314, 19790315)).toBe('disagree');
  });

  it('codes surnames with American Soundex for blocking', () => {
    expect(['SMITH', 'SMYTH', 'SCHMIDT'].map(soundex)).toEqual(['S530', 'S530', 'S530']);
    expect(['ROBERT', 'RUPERT', 'ASHCRAFT', 'PFISTER', 'TYMCZAK', 'LEE'].map(soundex)).toEqual([
      'R163',
      'R163',
      'A261',
      'P236',
      'T522',
      'L000',
    ]);
    expect(soundex('')).toBe('');
    expect(soundexCode('SMITH')).toBe(soundexCode('SMYTHE'));
    expect(soundexCode('SMITH')).not.toBe(soundexCode('JONES'));
  });

  it('standardises one-word names on the fast path exactly as on the general one', () => {
    expect(standardizeName('Smith', ['John'])).toEqual({
      familyTokens: ['SMITH'],
      family: 'SMITH',
      given: 'JOHN',
      middle: [],
    });
    expect(standardizeName('Smith', ['John'])).toEqual(standardizeName(' Smith', [' John']));
    expect(standardizeName('Smith', 'John')).toEqual(standardizeName('Smith.', 'John.'));
    expect(standardizeName('Smith', ['Jr'])).toEqual(standardizeName('Smith ', ['Jr ']));
  });

  it('folds plain ASCII names the same way as the slow path', () => {
    for (const v of ['smith', 'Mary Ann', 'de la Cruz', 'O Brien 3rd']) expect(foldText(v)).toBe(v.toUpperCase());
    expect(foldText('  smith  ')).toBe('SMITH');
    expect(foldText('mary  ann')).toBe('MARY ANN');
  });

  it('standardises street suffixes, directions and units', () => {
    expect(standardizeAddress('88 East 39th Street Apt 4B', '64111-1234')).toEqual({
      street: '88 E 39TH ST',
      unit: '4B',
      zip: '64111',
    });
    expect(standardizeAddress('88 E. 39th St. #4B', '64111')).toEqual({
      street: '88 E 39TH ST',
      unit: '4B',
      zip: '64111',
    });
    expect(standardizeAddress('1420 North Benton Avenue').street).toBe('1420 N BENTON AVE');
  });

  it('keeps phone digits and DCN leading zeros', () => {
    expect(standardizePhone('+1 (417) 555-0101')).toBe('4175550101');
    expect(standardizePhone('555-0101')).toBe('');
    expect(standardizePhone('0000000000')).toBe('');
    expect(standardizeDcn('01234567')).toBe('01234567');
    expect(standardizeDcn('0123-4567')).toBe('01234567');
    expect(standardizeDcn('ABC')).toBe('');
  });

  it('withinOneEdit agrees with the edit distance at most 1 (substitution, insertion, deletion, exchange)', () => {
    expect(withinOneEdit('SMITH', 'SMIHT')).toBe(true);
    expect(withinOneEdit('SMITH', 'SMYTH')).toBe(true);
    expect(withinOneEdit('SMITH', 'SMITHE')).toBe(true);
    expect(withinOneEdit('SMITH', 'MITH')).toBe(true);
    expect(withinOneEdit('SMITH', 'SMYTHE')).toBe(false);
    expect(withinOneEdit('SMITH', 'MSIHT')).toBe(false);
    // Short strings over three letters cover every shape of one and two edits.
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    const word = () => Array.from({ length: 1 + Math.floor(rand() * 5) }, () => 'ABC'[Math.floor(rand() * 3)]).join('');
    let ones = 0;
    for (let k = 0; k < 20_000; k++) {
      const a = word();
      const b = word();
      const expected = editDistance(a, b, 1) <= 1;
      if (expected) ones++;
      expect(withinOneEdit(a, b), `${a} ${b}`).toBe(expected);
    }
    expect(ones).toBeGreaterThan(1000);
  });
});

describe('eligibility', () => {
  const p: Participant = {
    participantId: 'X1',
    dcn: '20000001',
    aliasDcns: [],
    familyName: 'A',
    givenName: 'B',
    previousNames: [],
    birthDate: '1970-01-01',
    sex: 'F',
    enrollments: [
      {
        program: 'CMHC',
        providerId: 'prov-burrell',
        siteId: 'cmhc-burrell-springfield',
        start: '2025-01-01',
        conditions: ['smi'],
      },
      {
        program: 'PCHH',
        providerId: 'prov-swope',
        siteId: 'pchh-kc-east',
        start: '2024-01-01',
        end: '2024-12-31',
        conditions: [],
      },
      {
        program: 'PCHH',
        providerId: 'prov-jordan-valley',
        siteId: 'pchh-springfield-north',
        start: '2025-03-01',
        conditions: [],
      },
    ],
  };
  it('answers enrolled with every active enrollment, PCHH first, end dates inclusive', () => {
    expect(eligibilityOn(p, '2024-12-31T23:00:00-06:00')).toMatchObject({ enrolled: true, siteId: 'pchh-kc-east' });
    expect(eligibilityOn(p, '2025-02-01')).toMatchObject({ enrolled: true, program: 'CMHC' });
    const both = eligibilityOn(p, '2025-06-01');
    expect(both).toMatchObject({ enrolled: true, program: 'PCHH', siteId: 'pchh-springfield-north' });
    expect(both.active).toHaveLength(2);
    expect(eligibilityOn(p, '2023-06-01')).toEqual({ enrolled: false, reason: 'not-enrolled-on-date' });
  });
});
