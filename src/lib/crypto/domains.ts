/**
 * Domain-separation tags. Every signature and every derived key is bound to exactly one purpose, so
 * bytes signed for one use can never be replayed as another (an entry signature is not a
 * certificate signature, a lockbox key is not an epoch key). Changing a tag is a wire break.
 */
import { utf8 } from '../util/bytes.js';

const tag = (name: string) => utf8.encode(`charter/v1/${name}\0`);

export const DOMAIN = {
	/** Device key signs a sealed entry: tag ‖ header ‖ ciphertext. */
	entry: tag('entry'),
	/** Device key signs a lockbox: tag ‖ header ‖ ciphertext. */
	lockbox: tag('lockbox'),
	/** Identity key certifies a device: tag ‖ certificate body. */
	deviceCertificate: tag('device-certificate'),
	/** Identity key signs a space genesis: tag ‖ genesis body. */
	genesis: tag('genesis'),
	/** Identity key signs the user's public card (encryption key, devices). */
	userCard: tag('user-card'),
	/** Hash input for space ids: tag ‖ owner identity key ‖ salt. */
	spaceId: tag('space-id'),
	/** Hash input for envelope document ids: tag ‖ space id ‖ document id. */
	envelopeId: tag('envelope-id'),
	/** Hash input for Automerge actor prefixes: tag ‖ device key. */
	actor: tag('actor'),
	/** Hash input for epoch ids: tag ‖ epoch key. */
	epochId: tag('epoch-id'),
	/** Hash input for app document ids: tag ‖ space id ‖ name. */
	appDocument: tag('app-document'),
	/** Hash input for invite ids: tag ‖ invite signing key. */
	inviteId: tag('invite-id'),
	/** Invite key signs a join: tag ‖ space id ‖ invite id ‖ newcomer identity key. */
	inviteProof: tag('invite-proof'),
	/** Hash input for an invite link's check bytes: tag ‖ space id ‖ secret. */
	inviteCheck: tag('invite-check'),
	/** Hash input for a user's account document id: tag ‖ identity key. */
	account: tag('account'),
	/** Hash input for a device-link rendezvous document: tag ‖ link secret. */
	deviceLink: tag('device-link'),
	/** Hash input for a friend-recovery setup id: tag ‖ the setup's recovery X25519 public key. */
	friendSetup: tag('friend-setup'),
	/** Hash input for where approvals of a friend-recovery request go: tag ‖ one-time X25519 key. */
	friendRequest: tag('friend-request'),
	/** Hash input for the six check digits of a friend-recovery request: tag ‖ one-time X25519 key. */
	friendRequestCheck: tag('friend-request-check'),
	/** Identity key signs a profile: tag ‖ profile body. */
	profile: tag('profile'),
	/** Device key signs a compacted fragment: tag ‖ header ‖ ciphertext. */
	fragment: tag('fragment'),
	/** Hash input for entry ids: tag ‖ entry bytes. */
	entryId: tag('entry-id'),
	/** Publishing key seals an envelope change: hash(tag ‖ actor ‖ seq ‖ startOp ‖ time ‖ deps ‖ ops). */
	publication: tag('publication'),
	/**
	 * Publishing key seals an envelope change of format v2 (entries as byte strings): the same digest
	 * as `publication`, over the raw bytes. Its own tag, so a v1 change (string values) can never be
	 * passed off as a v2 change with the same seal, or the other way round.
	 */
	publicationBytes: utf8.encode('charter/v2/publication\0'),
	/**
	 * Publishing key seals an envelope change of format v3 (byte strings into one of the envelope's
	 * buckets): hash(tag ‖ u32 len ‖ target bucket id ‖ the fields of `publication`).
	 */
	publicationBucketed: utf8.encode('charter/v3/publication\0'),
	/** Hash input for a publishing key's Automerge actor: tag ‖ publishing key. */
	publisherActor: tag('publisher-actor')
} as const;

/** HKDF info strings. */
export const KDF = {
	identitySigning: 'charter/v1/kdf/identity-signing',
	userEncryption: (generation: number) => `charter/v1/kdf/user-encryption/${generation}`,
	lockbox: 'charter/v1/kdf/lockbox',
	appDocument: 'charter/v1/kdf/app-document',
	inviteSigning: 'charter/v1/kdf/invite-signing',
	inviteEncryption: 'charter/v1/kdf/invite-encryption',
	account: 'charter/v1/kdf/account',
	deviceLink: 'charter/v1/kdf/device-link',
	recovery: 'charter/v1/kdf/recovery',
	/** From a friend key W: the X25519 secret later encryption-key generations are sealed to. */
	friendRecovery: 'charter/v1/kdf/friend-recovery',
	/** From a friend key W: the key of the recovery kit (identity seed, encryption keys). */
	friendKit: 'charter/v1/kdf/friend-kit',
	deviceEncryption: 'charter/v1/kdf/device-encryption'
} as const;
