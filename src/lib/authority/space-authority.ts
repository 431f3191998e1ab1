/**
 * The authority state of a space, derived from its genesis and its materialised space document:
 * who the owner is, who the members are, which device keys speak for which member, and what each
 * key may write. In this first version only the owner's devices may write the space document and any
 * member's device may write channel documents; roles and permissions extend `authorize` (see docs).
 */
import * as A from '@automerge/automerge';
import { bytesEqual, hex } from '../util/bytes.js';
import { verifyUserCard, type UserCard } from '../identity/certificates.js';
import type { UserId } from '../identity/ids.js';
import type { EntryHeader } from '../encryption/entry.js';
import type { Genesis } from './genesis.js';
import { actorFor } from './actors.js';
import { invalid, notYet, VALID, type Verdict } from './verdict.js';
import type { SpaceDoc } from './schema.js';

export interface MemberInfo {
	user: UserId;
	userKey: Uint8Array;
	encryptionKey: Uint8Array;
	deviceKeys: Uint8Array[];
	addedAt: number;
	nickname?: string;
}

export type DocumentRole = 'space' | 'channel';

export class SpaceAuthority {
	#members = new Map<UserId, MemberInfo>();
	#deviceOwners = new Map<string, UserId>();
	#cardCache = new Map<string, UserCard>();

	constructor(readonly genesis: Genesis) {
		this.#addMember({
			user: genesis.owner,
			userKey: genesis.ownerKey,
			encryptionKey: new Uint8Array(0),
			deviceKeys: [genesis.ownerDevice.deviceKey],
			addedAt: genesis.createdAt
		});
	}

	get owner(): UserId {
		return this.genesis.owner;
	}

	get members(): MemberInfo[] {
		return [...this.#members.values()];
	}

	member(user: UserId): MemberInfo | undefined {
		return this.#members.get(user);
	}

	userOfDevice(deviceKey: Uint8Array): UserId | undefined {
		return this.#deviceOwners.get(hex.encode(deviceKey));
	}

	isOwnerDevice(deviceKey: Uint8Array): boolean {
		return this.userOfDevice(deviceKey) === this.owner;
	}

	#addMember(info: MemberInfo) {
		this.#members.set(info.user, info);
		for (const key of info.deviceKeys) this.#deviceOwners.set(hex.encode(key), info.user);
	}

	/** Recomputes membership from the materialised space document. Cards are verified once each. */
	async update(doc: A.Doc<SpaceDoc>): Promise<void> {
		const members = new Map<UserId, MemberInfo>();
		const devices = new Map<string, UserId>();
		const owner = this.#members.get(this.owner)!;
		members.set(owner.user, { ...owner, deviceKeys: [this.genesis.ownerDevice.deviceKey] });
		for (const [user, record] of Object.entries(doc.members ?? {})) {
			const cardBytes = record?.card;
			if (!(cardBytes instanceof Uint8Array)) continue;
			const cacheKey = hex.encode(cardBytes);
			let card = this.#cardCache.get(cacheKey);
			if (!card) {
				try {
					card = await verifyUserCard(cardBytes);
				} catch {
					continue;
				}
				this.#cardCache.set(cacheKey, card);
			}
			if (card.user !== user) continue;
			const previous = members.get(card.user);
			members.set(card.user, {
				user: card.user,
				userKey: card.userKey,
				encryptionKey: card.encryptionKey,
				deviceKeys: [...(previous?.deviceKeys ?? []), ...card.devices.map((d) => d.deviceKey)],
				addedAt: typeof record.addedAt === 'number' ? record.addedAt : 0,
				nickname: typeof record.nickname === 'string' ? record.nickname : undefined
			});
		}
		for (const info of members.values())
			for (const key of info.deviceKeys) devices.set(hex.encode(key), info.user);
		this.#members = members;
		this.#deviceOwners = devices;
	}

	/**
	 * May the device in `header` write these changes into a document of this kind? Checks the signer
	 * is a member's certified device (not yet known → wait), the space/document role rule, and that
	 * every change's Automerge actor belongs to the signer's session.
	 */
	authorize(role: DocumentRole, header: EntryHeader, changes: A.DecodedChange[]): Verdict {
		const expectedActor = actorFor(header.author, header.session);
		for (const change of changes)
			if (change.actor !== expectedActor) return invalid('actor-not-signer');
		const user = this.userOfDevice(header.author);
		if (!user) return notYet('unknown-device');
		if (role === 'space' && user !== this.owner) return invalid('not-owner');
		return VALID;
	}

	isGenesisDevice(deviceKey: Uint8Array): boolean {
		return bytesEqual(deviceKey, this.genesis.ownerDevice.deviceKey);
	}
}
