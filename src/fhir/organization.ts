import type { CanonicalFacility } from '../mappings/sender-profile.ts';
import { type Work, add, sharedRid } from './work.ts';

/** The canonical originating facility as an Organization (MSH-4, or the relayed facility). Returns its id. */
export function organization(w: Work, f: CanonicalFacility): string {
  const id = sharedRid('Organization', f.system, f.value);
  add(w, {
    resourceType: 'Organization',
    id,
    identifier: [{ system: f.system, value: f.value }],
    name: f.name,
    active: true,
  });
  return id;
}
