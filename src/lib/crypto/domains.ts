/**
 * Domain-separation tags, format magics and every other fixed string of Charter's formats, each
 * explained once; no other module defines one (test/unit/domains.test.ts). Every signature and every
 * derived key is bound to exactly one purpose, so bytes signed for one use can never be replayed as
 * another (an entry signature is not a certificate signature, a lockbox key is not an epoch key).
 * Changing any value here is a wire break.
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
	publisherActor: tag('publisher-actor'),
	/** Device key signs a peer's proof on a connection: tag ‖ nonce ‖ signer id ‖ verifier id. */
	peerAuth: tag('peer-auth'),
	/**
	 * Device key signs an ephemeral signal (typing, presence; encryption/signal.ts):
	 * tag ‖ header ‖ u32 length ‖ ciphertext. Never stored, so its own tag: a signal can never be
	 * passed off as an entry, nor an entry as a signal.
	 */
	signal: tag('signal'),
	/**
	 * The identity key Kₛ₋₁ certifies its successor Kₛ (identity/rotation.ts): tag ‖ link body
	 * (root key K₀, seq s, Kₛ, issuedAt). Only an identity key signs it, under this tag alone.
	 */
	identityRotation: tag('identity-rotation'),
	/**
	 * Hash input for where a rotation chain is published (sync/rotation-pointer.ts): tag ‖ one key of
	 * the chain. Whoever holds a phrase finds the chain its key belongs to: a new phrase learns its
	 * root (the user id), an old one learns it was rotated away.
	 */
	rotationPointer: tag('rotation-pointer'),
	/**
	 * AEAD associated data of a rotation hand-over to a kept device (identity/rotation-follow.ts):
	 * tag ‖ its header.
	 */
	rotationFollow: tag('rotation-follow')
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
	deviceEncryption: 'charter/v1/kdf/device-encryption',
	/** From X25519(ephemeral, kept device): the key of a rotation hand-over (identity/rotation-follow.ts). */
	rotationFollow: 'charter/v1/kdf/rotation-follow'
} as const;

/**
 * Format magics: the first bytes of every binary record Charter writes — 'CH' and one letter per
 * format — so a reader tells records apart (a space envelope carries sealed entries, lockboxes and
 * the genesis side by side) and refuses a record of another format before parsing it. Each format's
 * layout is in docs/protocol.md. Changing one is a wire break.
 */
export const MAGIC = {
	/** A sealed entry: header ‖ ciphertext ‖ signature (encryption/entry.ts). */
	entry: utf8.encode('CHE'),
	/** A lockbox: an epoch key sealed to one recipient (encryption/lockbox.ts). */
	lockbox: utf8.encode('CHL'),
	/** A compacted fragment of a document's history (encryption/fragment.ts). */
	fragment: utf8.encode('CHF'),
	/** The plaintext inside a sealed entry: context heads and Automerge changes (sync/body.ts). */
	body: utf8.encode('CHB'),
	/** A space genesis, signed by its owner (authority/genesis.ts). */
	genesis: utf8.encode('CHG'),
	/** The binary part of an invite link (authority/invites.ts). */
	invite: utf8.encode('CHI'),
	/** A device certificate, signed by the identity key (identity/certificates.ts). */
	deviceCertificate: utf8.encode('CHC'),
	/** A user card (identity/certificates.ts; recognised in a space document by space-validator.ts). */
	userCard: utf8.encode('CHU'),
	/** A signed profile: display name and avatar (identity/profile.ts). */
	profile: utf8.encode('CHP'),
	/** The binary part of a device-link code (identity/device-link.ts). */
	deviceLinkCode: utf8.encode('CHK'),
	/** A new device's request on a device link (identity/device-link.ts). */
	deviceLinkRequest: utf8.encode('CHQ'),
	/** The linking device's response on a device link (identity/device-link.ts). */
	deviceLinkResponse: utf8.encode('CHR'),
	/** A friend-recovery kit (identity/friend-recovery.ts). */
	friendKit: utf8.encode('CHV'),
	/** The binary part of a friend-recovery request code (identity/friend-recovery.ts). */
	friendRequest: utf8.encode('CHW'),
	/** A peer's proof that it holds its device key (sync/peer-auth.ts). */
	peerAuth: utf8.encode('CHA'),
	/** An ephemeral signal: typing or presence, never stored (encryption/signal.ts). */
	signal: utf8.encode('CHS'),
	/** One link of an identity-rotation chain: Kₛ₋₁ certifies Kₛ (identity/rotation.ts). */
	identityRotation: utf8.encode('CHT'),
	/** A whole rotation chain as published at its pointers (identity/rotation.ts). */
	rotationChain: utf8.encode('CHN'),
	/**
	 * An identity rotation handed over to one kept device of the user: the new identity seed and
	 * what goes with it, sealed to that device's key (identity/rotation-follow.ts).
	 */
	rotationFollow: utf8.encode('CHD')
} as const;

/**
 * First bytes of a friend-recovery share lockbox's document field (identity/friend-recovery.ts):
 * 0xffffffff, a generation number never reached, then 'FR' — so a share never reads as a lockbox
 * for a document or an encryption-key generation.
 */
export const SHARE_DOCUMENT_MAGIC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x46, 0x52]);

/**
 * Automerge's own magic (not Charter's): the first four bytes of every Automerge chunk, a change or
 * a document (sync/change-encoder.ts, sync/publication.ts read and write them).
 */
export const AUTOMERGE_CHUNK_MAGIC: readonly number[] = [0x85, 0x6f, 0x4a, 0x83];

/** HKDF salts (no trailing NUL: they were fixed before the tags above, and stay as they are). */
export const SALT = {
	/** Every key derived from the recovery phrase's BIP-39 seed (identity/phrase.ts). */
	root: utf8.encode('charter/v1/root'),
	/** The invite's signing and encryption keys, from its one-time secret (authority/invites.ts). */
	invite: utf8.encode('charter/v1/invite')
} as const;

/**
 * Inputs of the crypto provider's start-up self-test (crypto/primitives.ts): it checks that the
 * native WebCrypto Ed25519 and X25519 agree with noble before using them. Never on the wire.
 */
export const SELF_TEST = {
	/** sha256 of it: the Ed25519 seed signed with. */
	signingSeed: 'charter/v1/self-test',
	/** The message signed. */
	signingMessage: 'self-test',
	/** sha256 of it: the first X25519 secret. */
	agreementA: 'charter/v1/self-test/a',
	/** sha256 of it: the second X25519 secret. */
	agreementB: 'charter/v1/self-test/b'
} as const;

/** Prefixes of the codes people pass around (each is followed by base64url of a magic-led record). */
export const LINK_PREFIX = {
	/** An invite link (authority/invites.ts). */
	invite: 'charter-invite:',
	/** A device-link code (identity/device-link.ts). */
	deviceLink: 'charter-link:',
	/** A friend-recovery request code (identity/friend-recovery.ts). */
	friendRecovery: 'charter-recover:'
} as const;

/**
 * Prefix of the Automerge change message that carries a publication's seal (sync/publication.ts):
 * `charter-seal:` ‖ base64url(publishing key ‖ signature).
 */
export const SEAL_PREFIX = 'charter-seal:';

/** Types of Charter's own automerge-repo messages, beside the stock sync messages. */
export const MESSAGE_TYPE = {
	/** A peer's device-key proof (sync/peer-auth.ts). */
	peerAuth: 'charter-peer-auth'
} as const;
