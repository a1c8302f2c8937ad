import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkStructure,
  hl7Escape,
  hl7Unescape,
  parseHl7Time,
  parseMessage,
  splitMessages,
} from '../../src/hl7/index.ts';

const CORPUS = '../shared/corpus/adt-public/';
const corpusFiles = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.hl7'))
  .sort();

const A01 = [
  'MSH|^~\\&|EPIC|MERCYSGF|TC|MOHH|20261110083000||ADT^A01^ADT_A01|CTRL1|P|2.5.1|||AL|NE||UNICODE UTF-8',
  'EVN|A01|20261110082900',
  'PID|1||M1001^^^MERCY^MR~10234567^^^MOHEALTHNET^MA||ALVAREZ^MARIA^ELENA||19780314|F',
  'PV1|1|I|4W^401^A^MERCY|||||||MED|||||||||V100^^^MERCY^VN|||||||||||||||||||||||||20261110080000',
].join('\r');

function parsed(text: string | Buffer) {
  const r = parseMessage(text);
  if (!r.ok) throw new Error(r.problem.reason);
  return r.message;
}

describe('parseMessage on the public corpus', () => {
  it.each(corpusFiles)('parses %s with a readable header and the segments its event needs', (file) => {
    const parts = splitMessages(readFileSync(CORPUS + file));
    expect(parts).toHaveLength(1);
    const msg = parsed(parts[0]!);
    expect(msg.header.messageCode).toBe('ADT');
    expect(msg.header.triggerEvent).toMatch(/^A\d\d$/);
    expect(msg.header.version).toMatch(/^2\.\d/);
    expect(checkStructure(msg)).toBeUndefined();
    expect(msg.segment('PID')?.get(5)).toBeTruthy();
  });

  it('reads the 5-character MSH-2 of lfh-sample_unix.hl7 as the standard delimiters', () => {
    const msg = parsed(readFileSync(CORPUS + 'lfh-sample_unix.hl7'));
    expect(msg.header.sendingApplication).toBeTruthy();
    expect(msg.segment('PV1')?.get(2)).toBe('ff');
  });

  it('strips the UTF-8 byte-order mark and trailing spaces of ms-ADT01-23.hl7', () => {
    const msg = parsed(readFileSync(CORPUS + 'ms-ADT01-23.hl7'));
    expect(msg.segments[0]?.name).toBe('MSH');
    expect(msg.header.version).toBe('2.3');
    expect(msg.text.split('\r').every((l) => !l.endsWith(' '))).toBe(true);
  });
});

describe('parseMessage', () => {
  it('accepts CR, LF and CRLF separators alike', () => {
    for (const sep of ['\r', '\n', '\r\n']) {
      const msg = parsed(A01.replaceAll('\r', sep));
      expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1']);
      expect(msg.segment('PV1')?.get(19)).toBe('V100');
    }
  });

  it('reads repetitions, components and sub-components', () => {
    const msg = parsed(A01);
    const pid = msg.segment('PID')!;
    expect(pid.repCount(3)).toBe(2);
    expect(pid.get(3, 1, 1, 1)).toBe('10234567');
    expect(pid.get(3, 5, 1, 1)).toBe('MA');
    expect(pid.get(5, 2)).toBe('MARIA');
    expect(pid.get(5, 9)).toBeUndefined();
  });

  it('unescapes \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh\\ and \\.br\\, dropping highlight escapes', () => {
    const msg = parsed(A01 + '\rNTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f \\X41\\\\.br\\\\H\\bold\\N\\');
    expect(msg.segment('NTE')?.get(3)).toBe('a|b^c&d~e\\f A\nbold');
  });

  it('uses the delimiters declared in MSH-1 and MSH-2', () => {
    const custom = A01.replaceAll('|', '#').replaceAll('^', '$').replace('MSH#$~\\&', 'MSH#$~\\&');
    const msg = parsed(custom);
    expect(msg.segment('PID')?.get(5, 2)).toBe('MARIA');
    expect(msg.header.controlId).toBe('CTRL1');
  });

  it('keeps Z-segments as generic segments', () => {
    const msg = parsed(A01 + '\rZPV|OBS^x|123');
    expect(msg.segment('ZPV')?.get(1, 1)).toBe('OBS');
    expect(msg.segment('ZPV')?.get(2)).toBe('123');
  });

  it('returns the HL7 null "" as its two quote characters', () => {
    expect(parsed(A01.replace('|F', '|""')).segment('PID')?.get(8)).toBe('""');
  });

  it('ignores MLLP framing bytes and garbage before MSH', () => {
    const msg = parsed(Buffer.concat([Buffer.from([0x0b]), Buffer.from('junk\r' + A01), Buffer.from([0x1c, 0x0d])]));
    expect(msg.header.controlId).toBe('CTRL1');
  });

  it('decodes 8859/1 bytes per MSH-18 and UTF-8 by default, so accented names survive', () => {
    const latin = Buffer.from(A01.replace('UNICODE UTF-8', '8859/1').replace('ALVAREZ^MARIA', 'MÜLLER^ZOË'), 'latin1');
    expect(parsed(latin).segment('PID')?.get(5, 1)).toBe('MÜLLER');
    expect(parsed(latin).segment('PID')?.get(5, 2)).toBe('ZOË');
    const utf8 = Buffer.from(A01.replace('ALVAREZ^MARIA', 'MÜLLER^ZOË'), 'utf8');
    expect(parsed(utf8).segment('PID')?.get(5, 2)).toBe('ZOË');
  });

  it('rejects a message without MSH, naming the segment', () => {
    const r = parseMessage('PID|1||X\rPV1|1|I');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatchObject({ code: 'TC_HL7_NO_MSH', location: { segment: 'MSH' } });
  });

  it('rejects a broken MSH-2 and a missing message type, naming the field', () => {
    const bad2 = parseMessage('MSH|^~|A|B');
    expect(!bad2.ok && bad2.problem.code).toBe('TC_HL7_BAD_ENCODING_CHARS');
    expect(!bad2.ok && bad2.problem.reason).toContain('MSH-2');
    const bad9 = parseMessage(A01.replace('ADT^A01^ADT_A01', ''));
    expect(!bad9.ok && bad9.problem).toMatchObject({ code: 'TC_HL7_NO_MESSAGE_TYPE', controlId: 'CTRL1' });
  });

  it('takes the trigger event from EVN-1 when MSH-9.2 is empty', () => {
    expect(parsed(A01.replace('ADT^A01^ADT_A01', 'ADT')).header.triggerEvent).toBe('A01');
  });
});

describe('checkStructure', () => {
  it('names PV1 when an A03 lacks it and MRG when an A40 lacks it', () => {
    const noPv1 = parsed(A01.replace('ADT^A01', 'ADT^A03').split('\r').slice(0, 3).join('\r'));
    expect(checkStructure(noPv1)).toMatchObject({ code: 'TC_HL7_MISSING_SEGMENT', location: { segment: 'PV1' } });
    const merge = parsed(A01.replace('ADT^A01', 'ADT^A40'));
    expect(checkStructure(merge)?.location?.segment).toBe('MRG');
  });

  it('asks nothing of events the engine ignores', () => {
    expect(checkStructure(parsed('MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|2.5'))).toBeUndefined();
  });
});

describe('splitMessages', () => {
  it('splits back-to-back messages and FHS/BHS batches', () => {
    const two = `${A01}\r${A01.replace('CTRL1', 'CTRL2')}\r`;
    expect(splitMessages(two).map((b) => parsed(b).header.controlId)).toEqual(['CTRL1', 'CTRL2']);
    const batch = `FHS|^~\\&|X\rBHS|^~\\&|X\r${A01}\r${A01.replace('CTRL1', 'CTRL3')}\rBTS|2\rFTS|1\r`;
    const parts = splitMessages(batch);
    expect(parts.map((b) => parsed(b).header.controlId)).toEqual(['CTRL1', 'CTRL3']);
    expect(parts.every((b) => !b.toString().includes('BTS'))).toBe(true);
  });

  it('splits MLLP frames and returns nothing for an empty input', () => {
    const framed = Buffer.concat([
      Buffer.from([0x0b]),
      Buffer.from(A01),
      Buffer.from([0x1c, 0x0d, 0x0b]),
      Buffer.from(A01.replace('CTRL1', 'C9')),
      Buffer.from([0x1c, 0x0d]),
    ]);
    expect(splitMessages(framed).map((b) => parsed(b).header.controlId)).toEqual(['CTRL1', 'C9']);
    expect(splitMessages('  \n')).toEqual([]);
  });
});

describe('parseHl7Time', () => {
  it('keeps an explicit offset, its sign and the fraction', () => {
    expect(parseHl7Time('20240501083015.1234-0500')?.fhir).toBe('2024-05-01T08:30:15.1234-05:00');
    expect(parseHl7Time('20240501083015+0215')?.fhir).toBe('2024-05-01T08:30:15+02:15');
  });

  it('reads a time without offset in the sender time zone, correct across daylight-saving changes', () => {
    expect(parseHl7Time('202603061530', 'America/Chicago')?.fhir).toBe('2026-03-06T15:30:00-06:00');
    expect(parseHl7Time('202603091530', 'America/Chicago')?.fhir).toBe('2026-03-09T15:30:00-05:00');
    expect(parseHl7Time('20261110', 'America/Chicago')).toMatchObject({ fhir: '2026-11-10', precision: 'day' });
    expect(parseHl7Time('2026111014', 'America/New_York')?.fhir).toBe('2026-11-10T14:00:00-05:00');
  });

  it('on the daylight-saving days themselves: a time in the spring gap moves forward, a repeated hour takes the first', () => {
    expect(parseHl7Time('202603081530', 'America/Chicago')?.fhir).toBe('2026-03-08T15:30:00-05:00');
    expect(parseHl7Time('202603080130', 'America/Chicago')?.fhir).toBe('2026-03-08T01:30:00-06:00');
    expect(parseHl7Time('202603080230', 'America/Chicago')?.fhir).toBe('2026-03-08T03:30:00-05:00');
    expect(parseHl7Time('202603080300', 'America/Chicago')?.fhir).toBe('2026-03-08T03:00:00-05:00');
    const first = parseHl7Time('202611010130', 'America/Chicago');
    expect(first?.fhir).toBe('2026-11-01T01:30:00-05:00');
    expect(parseHl7Time('202611010230', 'America/Chicago')?.fhir).toBe('2026-11-01T02:30:00-06:00');
    expect(parseHl7Time('202611010230', 'America/Chicago')!.epochMs - first!.epochMs).toBe(2 * 3_600_000);
  });

  it('rejects impossible dates', () => {
    expect(parseHl7Time('20260230')).toBeUndefined();
    expect(parseHl7Time('2026111025')).toBeUndefined();
    expect(parseHl7Time('abc')).toBeUndefined();
  });
});

describe('hl7Unescape', () => {
  it('decodes \\Xhh\\ bytes that form UTF-8 as one character, and single high bytes as 8859/1', () => {
    expect(hl7Unescape('M\\XC39C\\LLER')).toBe('MÜLLER');
    expect(hl7Unescape('ZO\\XC3\\\\X8B\\')).toBe('ZOË');
    expect(hl7Unescape('M\\XDC\\LLER')).toBe('MÜLLER');
    expect(hl7Unescape('\\X41\\\\X42\\')).toBe('AB');
  });
});

describe('hl7Escape', () => {
  it('round-trips through hl7Unescape', () => {
    fc.assert(fc.property(fc.string(), (s) => hl7Unescape(hl7Escape(s)) === s.replace(/\r|\n/g, '\n')));
  });
});

describe('parser robustness (property-based)', () => {
  const samples = [A01, ...corpusFiles.slice(0, 8).map((f) => readFileSync(CORPUS + f, 'latin1'))];
  const mutation = fc.record({
    sample: fc.integer({ min: 0, max: samples.length - 1 }),
    ops: fc.array(
      fc.oneof(
        fc.record({
          kind: fc.constant('flip' as const),
          at: fc.nat(),
          ch: fc.constantFrom('|', '^', '~', '\\', '&', '\r', '\n', '\u000b', '\u001c', 'Z', '"', '\u00ff'),
        }),
        fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('dup' as const), at: fc.nat() }),
      ),
      { maxLength: 6 },
    ),
  });

  it('never throws, and every result is a message or a problem that carries no field value', () => {
    fc.assert(
      fc.property(mutation, ({ sample, ops }) => {
        let s = samples[sample]!;
        for (const op of ops) {
          const at = s.length ? op.at % s.length : 0;
          if (op.kind === 'flip') s = s.slice(0, at) + op.ch + s.slice(at + 1);
          else if (op.kind === 'cut') s = s.slice(0, at);
          else s = s.slice(0, at) + s.slice(at, at + 40) + s.slice(at);
        }
        for (const part of splitMessages(Buffer.from(s, 'latin1'))) {
          const r = parseMessage(part);
          if (r.ok) {
            checkStructure(r.message);
            for (const seg of r.message.segments) seg.get(3, 1, 1, 0);
          } else {
            expect(r.problem.reason.length).toBeGreaterThan(0);
            expect(r.problem.reason).not.toMatch(/ALVAREZ|MARIA|M1001|10234567|EVERYMAN/);
          }
        }
      }),
      { numRuns: 400 },
    );
  });
});
