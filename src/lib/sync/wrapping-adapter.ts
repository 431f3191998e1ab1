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

	/** Messages the transport refused to send (a socket closing under it); lost like on the wire. */
	sendFailures = 0;

	/**
	 * Never throws. automerge-repo sends from inside a document handle's update (a peer's listener
	 * of the change it just made): a transport that throws there, as the WebSocket client does while
	 * its socket is closing ("Websocket not ready"), aborts the update after Automerge has already
	 * marked the old document outdated, and every later change of that handle then fails. A message
	 * that cannot be sent is lost as on a network; the sync protocol resends what the peer lacks.
	 */
	send(message: Message): void {
		try {
			this.inner.send(message);
		} catch {
			this.sendFailures++;
		}
	}

	disconnect(): void {
		this.inner.disconnect();
	}
}
