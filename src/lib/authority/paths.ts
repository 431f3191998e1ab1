/**
 * Which document paths does a change touch? Automerge's decoded ops name objects by id, not path.
 * Object ids never move, so an index objId → path, grown from the ops of accepted changes, resolves
 * every op of a new change in O(ops) — no fork, no diff, independent of the document's size.
 * Ops inside a list or text object resolve to the container's path as an `edit`.
 */
import type * as A from '@automerge/automerge';
import { toBytes } from '../util/bytes.js';

export type ContainerType = 'map' | 'list' | 'text' | 'table';

export interface ResolvedOp {
	kind: 'put' | 'make' | 'delete' | 'edit' | 'increment';
	/** Full path of the affected key (for `edit`: of the list/text container). */
	path: string[];
	value?: unknown;
	container?: ContainerType;
}

interface ObjectInfo {
	path: string[];
	type: ContainerType;
}

const MAKE: Record<string, ContainerType> = {
	makeMap: 'map',
	makeList: 'list',
	makeText: 'text',
	makeTable: 'table'
};

export class PathIndex {
	#objects = new Map<string, ObjectInfo>([['_root', { path: [], type: 'map' }]]);
	/** Paths (joined by NUL) at which some registered change made an object. */
	#made = new Set<string>();

	/** Whether some registered (valid) change made an object at `path`. */
	madeAt(path: readonly string[]): boolean {
		return this.#made.has(path.join('\0'));
	}

	/** Resolves a change's ops without registering anything (overlaying objects it creates itself). */
	resolve(
		change: A.DecodedChange,
		overlay = new Map<string, ObjectInfo>()
	): ResolvedOp[] | undefined {
		const out: ResolvedOp[] = [];
		for (let i = 0; i < change.ops.length; i++) {
			const op = change.ops[i]!;
			const target = overlay.get(op.obj) ?? this.#objects.get(op.obj);
			if (!target) return undefined; // references an object outside the known (valid) history
			const made = MAKE[op.action];
			const inSequence = target.type === 'list' || target.type === 'text';
			if (inSequence) {
				out.push({ kind: 'edit', path: target.path, container: target.type });
				if (made)
					overlay.set(`${change.startOp + i}@${change.actor}`, { path: target.path, type: made });
				continue;
			}
			const path = [...target.path, String(op.key)];
			if (made) {
				overlay.set(`${change.startOp + i}@${change.actor}`, { path, type: made });
				out.push({ kind: 'make', path, container: made });
			} else if (op.action === 'set')
				out.push({
					kind: 'put',
					path,
					value: Array.isArray(op.value) ? toBytes(op.value) : op.value
				});
			else if (op.action === 'del') out.push({ kind: 'delete', path });
			else if (op.action === 'inc') out.push({ kind: 'increment', path, value: op.value });
			else out.push({ kind: 'edit', path, container: target.type });
		}
		return out;
	}

	/** Records the objects a (valid) change creates. */
	register(change: A.DecodedChange): void {
		const overlay = new Map<string, ObjectInfo>();
		this.resolve(change, overlay);
		for (const [id, info] of overlay) {
			this.#objects.set(id, info);
			this.#made.add(info.path.join('\0'));
		}
	}

	/** Resolves a batch whose later changes may use objects made by earlier ones. */
	resolveBatch(changes: A.DecodedChange[]): ResolvedOp[] | undefined {
		const overlay = new Map<string, ObjectInfo>();
		const out: ResolvedOp[] = [];
		for (const change of changes) {
			const ops = this.resolve(change, overlay);
			if (!ops) return undefined;
			out.push(...ops);
		}
		return out;
	}
}
