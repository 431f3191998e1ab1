/**
 * How a replica keeps its plaintext document in the local store: a snapshot and the changes saved
 * since, so that a save after one message costs that message, not the whole channel.
 */
import * as A from '@automerge/automerge';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DocumentChunks } from '../../src/lib/sync/replica.js';

type Chat = { messages: Record<string, string> };
const PREFIX = ['replica-doc', 'space', 'channel'];

async function setup() {
	const storage = new NodeFSStorageAdapter(await mkdtemp(join(tmpdir(), 'charter-chunks-')));
	const count = async (kind: string) => (await storage.loadRange([...PREFIX, kind])).length;
	let doc = A.from<Chat>({ messages: {} });
	const say = (id: string) =>
		(doc = A.change(doc, (d) => {
			d.messages[id] = `message ${id}`;
		}));
	return { storage, count, say, doc: () => doc, set: (d: A.Doc<Chat>) => (doc = d) };
}

describe('a replica document in the local store', () => {
	it('✓ a save after a change writes that change; a reload gives the same document', async () => {
		const { storage, count, say, doc } = await setup();
		const chunks = new DocumentChunks(storage, PREFIX);
		await chunks.save(say('a'));
		expect([await count('snapshot'), await count('incremental')]).toEqual([1, 0]);
		await chunks.save(say('b'));
		await chunks.save(say('c'));
		await chunks.save(doc()); // nothing new: nothing written
		expect([await count('snapshot'), await count('incremental')]).toEqual([1, 2]);
		const reloaded = await new DocumentChunks(storage, PREFIX).load<Chat>('ab'.repeat(16));
		expect(A.getHeads(reloaded!)).toEqual(A.getHeads(doc()));
		expect(Object.keys(reloaded!.messages).sort()).toEqual(['a', 'b', 'c']);
	});

	it('✓ once the changes outweigh the snapshot, the next save writes one snapshot in their place', async () => {
		const { storage, count, say } = await setup();
		const chunks = new DocumentChunks(storage, PREFIX);
		await chunks.save(say('first'));
		for (let i = 0; i < 40; i++) await chunks.save(say(`m${i}`));
		expect(await count('snapshot')).toBe(1);
		expect(await count('incremental')).toBeLessThan(40);
		const reloaded = await new DocumentChunks(storage, PREFIX).load<Chat>('ab'.repeat(16));
		expect(Object.keys(reloaded!.messages)).toHaveLength(41);
	});

	it('✓ a document rebuilt without a change it held is written whole: the change does not come back', async () => {
		const { storage, count, say, set } = await setup();
		const chunks = new DocumentChunks(storage, PREFIX);
		await chunks.save(say('valid'));
		const before = A.clone(say('valid')); // heads before the change that will turn out invalid
		await chunks.save(say('later found invalid'));
		expect(await count('incremental')).toBe(1);
		// the replica rebuilds from the valid set: history without the invalid change
		const rebuilt = set(A.change(before, (d) => void (d.messages.other = 'after the rebuild')));
		await chunks.save(rebuilt);
		expect([await count('snapshot'), await count('incremental')]).toEqual([1, 0]);
		const reloaded = await new DocumentChunks(storage, PREFIX).load<Chat>('ab'.repeat(16));
		expect(Object.keys(reloaded!.messages).sort()).toEqual(['other', 'valid']);
	});
});
