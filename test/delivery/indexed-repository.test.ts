import { describe, expect, it } from 'vitest';
import { Operator } from '@medplum/core';
import { IndexedMemoryRepository } from '../../src/delivery/indexed-repository.ts';
import { indexFhirDefinitions } from '../../src/delivery/simulator.ts';

indexFhirDefinitions();
const byIdentifier = (repo: IndexedMemoryRepository, value: string) =>
  repo.search({ resourceType: 'Task', filters: [{ code: 'identifier', operator: Operator.EQUALS, value }] });
const task = (value: string): fhir4.Task => ({
  resourceType: 'Task',
  status: 'requested',
  intent: 'order',
  identifier: [{ system: 'urn:tc', value }],
});

describe('the site simulator repository index', () => {
  it('answers identifier searches like the scan does, after creates, identifier changes and deletes', async () => {
    const repo = new IndexedMemoryRepository();
    const a = (await repo.createResource(task('A') as never)) as fhir4.Task & { id: string };
    await repo.createResource(task('B') as never);
    for (const v of ['urn:tc|A', 'A', 'urn:other|A', 'urn:tc|C']) {
      const indexed = await byIdentifier(repo, v);
      const scanned = await repo.search({
        resourceType: 'Task',
        filters: [{ code: 'identifier', operator: Operator.EQUALS, value: v }],
        sortRules: [{ code: '_id' }],
      });
      expect(indexed.entry?.map((e) => e.resource?.id)).toEqual(scanned.entry?.map((e) => e.resource?.id));
    }
    expect((await byIdentifier(repo, 'urn:tc|A')).total).toBe(1);

    await repo.updateResource({ ...a, identifier: [{ system: 'urn:tc', value: 'C' }] } as never);
    expect((await byIdentifier(repo, 'urn:tc|A')).total).toBe(0);
    expect((await byIdentifier(repo, 'urn:tc|C')).entry?.[0]?.resource?.id).toBe(a.id);

    await repo.deleteResource('Task', a.id);
    expect((await byIdentifier(repo, 'urn:tc|C')).total).toBe(0);
    repo.clear();
    expect((await byIdentifier(repo, 'urn:tc|B')).total).toBe(0);
  });
});
