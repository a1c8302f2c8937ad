import { journalKeysFrom } from '../../src/journal/keys.ts';

/** A fixed test key (32 bytes, the same in every test process): the journal's and the review / late-enrollment seal. */
export const testKeys = journalKeysFrom(Buffer.alloc(32, 7));
