import type { Admin } from 'kafkajs';

export interface TopicNames {
  inbound: string;
  deadLetter: string;
  outcomes: string;
}

export const DEFAULT_TOPICS: TopicNames = {
  inbound: 'adt.inbound',
  deadLetter: 'adt.deadletter',
  outcomes: 'tc.outcomes',
};

/** Header names on adt.inbound and adt.deadletter. A reason names a segment/field and a code, never a value. */
export const HEADERS = {
  source: 'source',
  receivedAt: 'received-at',
  stage: 'stage',
  code: 'code',
  reason: 'reason',
  attempts: 'attempts',
} as const;

export type OutcomeKind = 'processed' | 'ignored' | 'review' | 'stale' | 'planned' | 'delivered' | 'delivery-failed';

/** A record on tc.outcomes: ids and codes only (no MRN, DCN, name or birth date). */
export interface OutcomeRecord {
  kind: OutcomeKind;
  /** topic/partition/offset of the adt.inbound message */
  messageId: string;
  participantId?: string;
  /** sha256 of the visit identity, never the visit number itself */
  visitKey?: string;
  code?: string;
  at: string;
}

export function messageId(topic: string, partition: number, offset: string): string {
  return `${topic}/${partition}/${offset}`;
}

export interface TopicSettings {
  partitions: number;
  replicationFactor?: number;
  /** retention.ms per topic; undefined keeps the broker default */
  retentionMs?: Partial<Record<keyof TopicNames, number>>;
}

/** Creates the missing topics with the configured partitions and retention; existing topics are left as they are. */
export async function ensureTopics(admin: Admin, names: TopicNames, settings: TopicSettings): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = (Object.keys(names) as (keyof TopicNames)[]).filter((k) => !existing.has(names[k]));
  if (missing.length === 0) return [];
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((k) => ({
      topic: names[k],
      numPartitions: settings.partitions,
      replicationFactor: settings.replicationFactor ?? -1,
      configEntries:
        settings.retentionMs?.[k] === undefined
          ? []
          : [{ name: 'retention.ms', value: String(settings.retentionMs[k]) }],
    })),
  });
  return missing.map((k) => names[k]);
}
