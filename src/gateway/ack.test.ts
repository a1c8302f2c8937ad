import { describe, expect, it } from 'vitest';
import { acceptAckWanted, buildAck, hl7Timestamp, readRawMsh, versionAtLeast } from './ack.ts';

const msg = (msh: string): Buffer => Buffer.from(`${msh}\rEVN|A01\rPID|1||123^^^MERCY^MR\rPV1|1|I\r`, 'latin1');
const TS = hl7Timestamp(Date.UTC(2026, 2, 1, 12, 0, 0));

function seg(ack: string, name: string): string[] {
  const line = ack.split('\r').find((l) => l.startsWith(name));
  if (!line) throw new Error(`no ${name}`);
  return line.split('|');
}

describe('accept acknowledgements', () => {
  it('swaps sending and receiving application and facility, echoes MSH-10 in MSA-2 and keeps the version', () => {
    const raw = readRawMsh(
      msg('MSH|^~\\&|EPIC^1.2.3^ISO|MERCY|TCALERTS|TCHH|20260301115959||ADT^A01^ADT_A01|CTRL-42|P|2.5.1'),
    );
    const ack = buildAck({ inbound: raw, outcome: 'accept', controlId: 'ACK-1', timestamp: TS });
    const msh = seg(ack, 'MSH');
    expect(msh.slice(2, 6)).toEqual(['TCALERTS', 'TCHH', 'EPIC^1.2.3^ISO', 'MERCY']);
    expect(msh[6]).toBe('20260301120000+0000');
    expect(msh[8]).toBe('ACK^A01^ACK');
    expect(msh[9]).toBe('ACK-1');
    expect(msh[10]).toBe('P');
    expect(msh[11]).toBe('2.5.1');
    expect(seg(ack, 'MSA')).toEqual(['MSA', 'AA', 'CTRL-42']);
    expect(ack.endsWith('\r')).toBe(true);
    expect(ack).not.toContain('ERR');
  });

  it('lays out ERR-1 for a v2.3 message', () => {
    const raw = readRawMsh(msg('MSH|^~\\&|MEDITECH|BOONE|TC|TC|20260301||ADT^A03|C7|P|2.3'));
    const ack = buildAck({
      inbound: raw,
      outcome: 'error',
      text: 'PV1 segment missing: required for ADT^A03',
      error: { code: '100', location: { segment: 'PV1' } },
      controlId: 'A2',
      timestamp: TS,
    });
    expect(seg(ack, 'MSH')[8]).toBe('ACK^A03');
    expect(seg(ack, 'MSA')).toEqual(['MSA', 'AE', 'C7', 'PV1 segment missing: required for ADT\\S\\A03']);
    expect(seg(ack, 'ERR')).toEqual(['ERR', 'PV1^1^^100&Segment sequence error&HL70357']);
  });

  it('lays out ERR-2/3/4 for a v2.5 message and escapes the text with the message delimiters', () => {
    const raw = readRawMsh(msg('MSH|^~\\&|EPIC|MERCY|TC|TC|20260301||ADT^A01|C8|P|2.5'));
    const ack = buildAck({
      inbound: raw,
      outcome: 'error',
      text: 'MSH-10 missing | required',
      error: { code: '101', location: { segment: 'MSH', field: 10 } },
      controlId: 'A3',
      timestamp: TS,
    });
    expect(ack.split('\r').find((l) => l.startsWith('ERR'))).toBe(
      'ERR||MSH^1^10|101^Required field missing^HL70357|E||||MSH-10 missing \\F\\ required',
    );
  });

  it('answers CA/CE/CR in enhanced mode per MSH-15, marks the ACK never to be acknowledged', () => {
    const al = readRawMsh(msg('MSH|^~\\&|EPIC|MERCY|TC|TC|20260301||ADT^A01|C9|P|2.5.1|||AL|NE'));
    const ack = buildAck({ inbound: al, outcome: 'accept', controlId: 'A4', timestamp: TS });
    expect(seg(ack, 'MSA')[1]).toBe('CA');
    expect(seg(ack, 'MSH').slice(14, 16)).toEqual(['NE', 'NE']);
    expect(seg(buildAck({ inbound: al, outcome: 'reject', controlId: 'A5', timestamp: TS }), 'MSA')[1]).toBe('CR');
    expect(seg(buildAck({ inbound: al, outcome: 'error', controlId: 'A6', timestamp: TS }), 'MSA')[1]).toBe('CE');
    const er = readRawMsh(msg('MSH|^~\\&|EPIC|MERCY|TC|TC|20260301||ADT^A01|C9|P|2.5.1|||ER'));
    expect(acceptAckWanted(er, 'accept')).toBe(false);
    expect(acceptAckWanted(er, 'reject')).toBe(true);
    const ne = readRawMsh(msg('MSH|^~\\&|EPIC|MERCY|TC|TC|20260301||ADT^A01|C9|P|2.5.1|||NE'));
    expect(acceptAckWanted(ne, 'accept')).toBe(false);
    const su = readRawMsh(msg('MSH|^~\\&|EPIC|MERCY|TC|TC|20260301||ADT^A01|C9|P|2.5.1|||SU'));
    expect(acceptAckWanted(su, 'error')).toBe(false);
    const original = readRawMsh(msg('MSH|^~\\&|EPIC|MERCY|TC|TC|20260301||ADT^A01|C9|P|2.5.1'));
    expect(acceptAckWanted(original, 'accept')).toBe(true);
    expect(seg(buildAck({ inbound: original, outcome: 'accept', controlId: 'x', timestamp: TS }), 'MSA')[1]).toBe('AA');
  });

  it("uses the sender's own delimiters and copies non-ASCII facility bytes exactly", () => {
    const bytes = Buffer.concat([
      Buffer.from('MSH#:~\\&#EPIC#', 'latin1'),
      Buffer.from('SAINT-ANDRÉ', 'utf8'),
      Buffer.from('#TC#TC#20260301##ADT:A08#C10#T#2.4######UNICODE UTF-8\rPID#1\r', 'latin1'),
    ]);
    const ack = buildAck({ inbound: readRawMsh(bytes), outcome: 'accept', controlId: 'A7', timestamp: TS });
    const out = Buffer.from(ack, 'latin1');
    expect(out.includes(Buffer.from('SAINT-ANDRÉ', 'utf8'))).toBe(true);
    const msh = ack.split('\r')[0]!.split('#');
    expect(msh[1]).toBe(':~\\&');
    expect(msh[8]).toBe('ACK:A08:ACK');
    expect(msh[10]).toBe('T');
    expect(msh[17]).toBe('UNICODE UTF-8');
  });

  it('still answers AR when there is no readable MSH', () => {
    expect(readRawMsh(Buffer.from('hello world'))).toBeUndefined();
    const ack = buildAck({
      inbound: undefined,
      outcome: 'reject',
      text: 'no MSH segment',
      error: { code: '100', location: { segment: 'MSH' } },
      controlId: 'A8',
      timestamp: TS,
    });
    expect(ack.startsWith('MSH|^~\\&|||||20260301120000+0000||ACK|A8|P|2.5.1\r')).toBe(true);
    expect(seg(ack, 'MSA')).toEqual(['MSA', 'AR', '', 'no MSH segment']);
  });

  it('compares versions', () => {
    expect(versionAtLeast('2.3', '2.5')).toBe(false);
    expect(versionAtLeast('2.4', '2.5')).toBe(false);
    expect(versionAtLeast('2.5', '2.5')).toBe(true);
    expect(versionAtLeast('2.8.2', '2.5')).toBe(true);
    expect(versionAtLeast('2.3', '2.3.1')).toBe(false);
    expect(versionAtLeast('garbage', '2.5')).toBe(true);
  });
});
