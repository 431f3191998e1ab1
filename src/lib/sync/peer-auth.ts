/**
 * Peer authentication: which user's device is behind an automerge-repo peer id.
 *
 * automerge-repo names peers by a self-chosen `peerId` and trusts it. `strict` channels (see
 * durability.ts) must know more: a peer may hold a strict envelope only if it is a device of a user
 * who can read the channel. So every Charter client
 *
 * - adds `charterAuth: nonce (16 random bytes, fresh per client run)` to the peer metadata it sends in
 *   automerge-repo's join/peer handshake (other peers ignore unknown metadata fields);
 * - answers every peer that advertised such a nonce with one `charter-peer-auth` message:
 *   `'CHA' ‖ 1 ‖ device key (32) ‖ sig (64)`, where
 *   `sig = Ed25519(device key, "charter/v1/peer-auth\0" ‖ verifier nonce (16) ‖ u16 len ‖ signer
 *   peer id ‖ u16 len ‖ verifier peer id)`.
 *
 * The verifier checks the signature over its *own* nonce and both peer ids, so a proof is good for
 * one verifier run and one peer id: a peer that saw it (it is sent only to its verifier) cannot
 * present it elsewhere. The proof shows possession of a device key and nothing more — no user id, no
 * certificate, no device name — so a peer that merely asks for proofs (a hostile relay can) learns
 * only the device key, which entry headers already show relays. Which user the device belongs to,
 * and whether that user may hold a document, each space decides from its own state (the device must
 * be live on a member's card there: durability.ts). A peer that sends no proof — a sync server, a
 * stock automerge-repo peer, a client with no identity yet — stays unauthenticated.
 *
 * Limits: the proof is not bound to the transport. A machine-in-the-middle that relays a live
 * handshake between two readers in real time (a malicious relay both dial) sees what they exchange —
 * ciphertext it still cannot read. Use TLS (wss://) to direct peers to exclude network attackers.
 */
import type {
	Message,
	NetworkAdapterInterface,
	PeerCandidatePayload,
	PeerDisconnectedPayload,
	PeerId,
	PeerMetadata
} from '@automerge/automerge-repo';
import { WrappingAdapter } from './wrapping-adapter.js';
import { cryptoProvider, KEY_BYTES, SIGNATURE_BYTES } from '../crypto/primitives.js';
import { deviceId, type DeviceId } from '../identity/ids.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual, concatBytes, randomBytes } from '../util/bytes.js';
import { DOMAIN, MAGIC, MESSAGE_TYPE } from '../crypto/domains.js';

export const PEER_AUTH_MESSAGE = MESSAGE_TYPE.peerAuth;
const PEER_AUTH_DOMAIN = DOMAIN.peerAuth;
const PROOF_MAGIC = MAGIC.peerAuth;
const VERSION = 1;
const NONCE_BYTES = 16;
const MAX_PROOF_BYTES = 256;

export interface AuthenticatedPeer {
	peer: PeerId;
	device: DeviceId;
	deviceKey: Uint8Array;
}

/** What this client proves itself with: its device key. */
export interface PeerAuthSigner {
	deviceKey: Uint8Array;
	sign(message: Uint8Array): Promise<Uint8Array>;
}

function signedBytes(nonce: Uint8Array, signer: string, verifier: string): Uint8Array {
	return concatBytes(
		PEER_AUTH_DOMAIN,
		new BinaryWriter().bytes(nonce, NONCE_BYTES).string(signer).string(verifier).finish()
	);
}

export async function encodePeerProof(
	signer: PeerAuthSigner,
	verifierNonce: Uint8Array,
	signerPeer: PeerId,
	verifierPeer: PeerId
): Promise<Uint8Array> {
	const sig = await signer.sign(signedBytes(verifierNonce, signerPeer, verifierPeer));
	return new BinaryWriter()
		.bytes(PROOF_MAGIC)
		.u8(VERSION)
		.bytes(signer.deviceKey, KEY_BYTES)
		.bytes(sig, SIGNATURE_BYTES)
		.finish();
}

/** Checks a proof addressed to `verifierPeer` (holding `verifierNonce`); undefined if it fails. */
export async function verifyPeerProof(
	bytes: Uint8Array,
	verifierNonce: Uint8Array,
	signerPeer: PeerId,
	verifierPeer: PeerId
): Promise<AuthenticatedPeer | undefined> {
	try {
		if (bytes.length > MAX_PROOF_BYTES) return undefined;
		const r = new BinaryReader(bytes, 'peer proof');
		if (!bytesEqual(r.bytes(3), PROOF_MAGIC) || r.u8() !== VERSION) return undefined;
		const deviceKey = r.bytes(KEY_BYTES);
		const sig = r.bytes(SIGNATURE_BYTES);
		r.end();
		const provider = await cryptoProvider();
		const ok = await provider.verify(
			sig,
			signedBytes(verifierNonce, signerPeer, verifierPeer),
			deviceKey
		);
		if (!ok) return undefined;
		return { peer: signerPeer, device: deviceId(deviceKey), deviceKey };
	} catch {
		return undefined;
	}
}

interface Candidate {
	adapter: PeerAuthAdapter;
	nonce: Uint8Array;
}

/**
 * The authenticated peers of one client. Wrap every network adapter with `wrap()`; tell it when the
 * identity appears (`identityChanged()`); read `get(peer)`; hear changes with `onChange`.
 */
export class PeerDirectory {
	readonly nonce = randomBytes(NONCE_BYTES);
	#peers = new Map<PeerId, AuthenticatedPeer>();
	#candidates = new Map<PeerId, Candidate>();
	#listeners = new Set<() => void>();
	#ourPeer: PeerId | undefined;

	constructor(private readonly signer: () => PeerAuthSigner | undefined) {}

	wrap(adapter: NetworkAdapterInterface): PeerAuthAdapter {
		return new PeerAuthAdapter(adapter, this);
	}

	get(peer: PeerId): AuthenticatedPeer | undefined {
		return this.#peers.get(peer);
	}

	get authenticated(): AuthenticatedPeer[] {
		return [...this.#peers.values()];
	}

	onChange(listener: () => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	/** The identity became available (created, restored, linked): prove it to every Charter peer. */
	identityChanged(): void {
		for (const [peer, candidate] of this.#candidates) this.#prove(peer, candidate);
	}

	/** @internal */
	candidate(peer: PeerId, adapter: PeerAuthAdapter, nonce: Uint8Array, ourPeer: PeerId) {
		this.#ourPeer = ourPeer;
		const candidate = { adapter, nonce };
		this.#candidates.set(peer, candidate);
		// the WebSocket server adapter registers the socket right after announcing the peer
		setTimeout(() => this.#prove(peer, candidate), 0);
	}

	/** @internal */
	disconnected(peer: PeerId, adapter: PeerAuthAdapter) {
		if (this.#candidates.get(peer)?.adapter !== adapter) return;
		this.#candidates.delete(peer);
		if (this.#peers.delete(peer)) this.#emit();
	}

	/** @internal */
	async received(message: Message, adapter: PeerAuthAdapter, ourPeer: PeerId) {
		const data = (message as { data?: unknown }).data;
		if (!(data instanceof Uint8Array) || message.targetId !== ourPeer) return;
		const who = await verifyPeerProof(data, this.nonce, message.senderId, ourPeer);
		if (!who || this.#candidates.get(message.senderId)?.adapter !== adapter) return;
		const known = this.#peers.get(who.peer);
		if (known && known.device === who.device) return;
		this.#peers.set(who.peer, who);
		this.#emit();
	}

	#prove(peer: PeerId, candidate: Candidate) {
		const signer = this.signer();
		const ourPeer = this.#ourPeer;
		if (!signer || !ourPeer || this.#candidates.get(peer) !== candidate) return;
		void encodePeerProof(signer, candidate.nonce, ourPeer, peer)
			.then((data) => {
				if (this.#candidates.get(peer) !== candidate) return;
				candidate.adapter.inner.send({
					type: PEER_AUTH_MESSAGE,
					senderId: ourPeer,
					targetId: peer,
					data
				} as Message);
			})
			.catch(() => undefined); // a socket closing under us: we prove ourselves again on reconnection
	}

	#emit() {
		for (const listener of this.#listeners) {
			try {
				listener();
			} catch {
				/* a listener's bug must not break authentication */
			}
		}
	}
}

/** Adds the nonce to our peer metadata, answers Charter peers with a proof, consumes theirs. */
export class PeerAuthAdapter extends WrappingAdapter {
	constructor(
		inner: NetworkAdapterInterface,
		private readonly directory: PeerDirectory
	) {
		super(inner);
	}

	protected override onPeerCandidate(payload: PeerCandidatePayload): void {
		const nonce = (payload.peerMetadata as { charterAuth?: unknown } | undefined)?.charterAuth;
		this.emit('peer-candidate', payload);
		if (nonce instanceof Uint8Array && nonce.length === NONCE_BYTES && this.peerId)
			this.directory.candidate(payload.peerId, this, nonce, this.peerId);
	}

	protected override onPeerDisconnected(payload: PeerDisconnectedPayload): void {
		this.directory.disconnected(payload.peerId, this);
		this.emit('peer-disconnected', payload);
	}

	protected override onMessage(message: Message): void {
		if (message.type === PEER_AUTH_MESSAGE) {
			if (this.peerId) void this.directory.received(message, this, this.peerId);
			return;
		}
		this.emit('message', message);
	}

	protected override metadata(peerMetadata: PeerMetadata | undefined): PeerMetadata {
		return { ...(peerMetadata ?? {}), charterAuth: this.directory.nonce } as PeerMetadata;
	}
}
