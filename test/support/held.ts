import * as A from '@automerge/automerge';
import { bytesWrittenBy } from '../../src/lib/sync/envelope.js';

/**
 * How many entries an envelope document holds, read as readers read it: every byte string written
 * anywhere in its history. The visible maps say nothing (format v3 puts entries in 64 buckets).
 */
export function entriesIn(doc: A.Doc<unknown> | undefined): number {
	return doc ? bytesWrittenBy(A.getAllChanges(doc)).length : 0;
}
