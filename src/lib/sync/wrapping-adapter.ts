/**
 * A network adapter that wraps another: the repo talks to the wrapper, the wrapper to the real
 * transport. Subclasses see every event first (`onPeerCandidate`, `onMessage`, …) and decide what the
 * repo gets; by default everything passes through unchanged.
 */
import {
	NetworkAdapter,
	type Message,
	type NetworkAdapterInterface,
	type PeerCandidatePayload,
	type PeerDisconnectedPayload,
	type PeerId,
	type PeerMetadata
} from '@automerge/automerge-repo';

export abstract class WrappingAdapter extends NetworkAdapter {
	constructor(readonly inner: NetworkAdapterInterface) {
		super();
		inner.on('peer-candidate', (payload) => this.onPeerCandidate(payload));
		inner.on('peer-disconnected', (payload) => this.onPeerDisconnected(payload));
		inner.on('close', () => this.emit('close'));
		inner.on('message', (message) => this.onMessage(message));
	}

	protected onPeerCandidate(payload: PeerCandidatePayload): void {
		this.emit('peer-candidate', payload);
	}

	protected onPeerDisconnected(payload: PeerDisconnectedPayload): void {
		this.emit('peer-disconnected', payload);
	}

	protected onMessage(message: Message): void {
		this.emit('message', message);
	}

	/** What this peer announces about itself (subclasses may add to it). */
	protected metadata(peerMetadata: PeerMetadata | undefined): PeerMetadata | undefined {
		return peerMetadata;
	}

	isReady(): boolean {
		return this.inner.isReady();
	}

	whenReady(): Promise<void> {
		return this.inner.whenReady();
	}

	connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
		this.peerId = peerId;
		const metadata = this.metadata(peerMetadata);
		if (metadata) this.peerMetadata = metadata;
		this.inner.connect(peerId, metadata);
	}

	send(message: Message): void {
		this.inner.send(message);
	}

	disconnect(): void {
		this.inner.disconnect();
	}
}
