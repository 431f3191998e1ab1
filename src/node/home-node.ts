/**
 * A home node: a headless Charter client that holds one user's identity in a data directory, opens
 * every space of that user (from their account document) with all its channels, stays online, and
 * serves the user's other devices and the other members — it listens for WebSocket peers and dials
 * sync servers and other nodes. It stores exactly what any of the user's devices stores (ciphertext
 * envelopes per the channels' durability policies, plus this device's plaintext replicas).
 *
 * It uses the library only through its public door, `src/lib/index.ts`, and is the base for bots:
 *
 *   const node = await HomeNode.start(config, logger);
 *   node.onMessage(({ message, reply }) => message.text === '!ping' && reply('pong'));
 *
 * Logs carry ids and counts only — never message text, names, phrases or keys.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import {
	Charter,
	isCharterError,
	type Channel,
	type ChannelId,
	type Message,
	type Space,
	type SpaceId
} from '../lib/index.js';
import type { HomeNodeConfig } from './config.js';

export interface IncomingMessage {
	space: Space;
	channel: Channel;
	message: Message;
	/** Sends `text` to the same channel as this node's user. */
	reply(text: string): Promise<Message>;
}

export type MessageHandler = (incoming: IncomingMessage) => void | Promise<void>;

export class HomeNodeError extends Error {}

interface WatchedChannel {
	channel: Channel;
	seen: Set<string>;
	scan: ReturnType<typeof setTimeout> | undefined;
	stop: () => void;
}

interface WatchedSpace {
	space: Space;
	channels: Map<ChannelId, WatchedChannel>;
	dirty: boolean;
	stop: () => void;
}

export class HomeNode {
	readonly #spaces = new Map<SpaceId, WatchedSpace>();
	readonly #handlers = new Set<MessageHandler>();
	readonly #startedAt = Date.now();
	#peers = new Set<string>();
	#refused = 0;
	#timer: ReturnType<typeof setInterval> | undefined;
	#unsubscribe: (() => void) | undefined;
	#closing: Promise<void> | undefined;

	private constructor(
		readonly client: Charter,
		readonly config: HomeNodeConfig,
		private readonly log: Logger
	) {}

	/**
	 * Opens the client, makes sure it has an identity (restoring, linking or creating one the first
	 * time, as configured) and starts serving. Opens `config.open` and joins `config.join` invites in
	 * the background.
	 */
	static async start(config: HomeNodeConfig, log: Logger): Promise<HomeNode> {
		await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
		const client = await Charter.open({
			dataDir: config.dataDir,
			syncServers: [...config.syncServers, ...config.peers],
			deviceName: config.deviceName,
			// a home node stores what it holds: it counts as a persistent node for `guaranteed` channels
			persistent: true,
			...(config.listen ? { listen: config.listen } : {})
		});
		const node = new HomeNode(client, config, log);
		try {
			if (client.listeningUrl) await markListenerReady(client.listeningUrl);
			await node.#ensureIdentity();
		} catch (error) {
			await client.close().catch(() => undefined);
			throw error;
		}
		node.#serve();
		void node.#joinAll();
		return node;
	}

	/** The WebSocket URL peers dial, when listening. */
	get url(): string | undefined {
		return this.client.listeningUrl;
	}

	/**
	 * Calls `handler` for every message another user sends after this node started, in any channel
	 * of any space this user belongs to (bots). Messages that arrive later but were written before
	 * the start (history catching up) are not passed on.
	 */
	onMessage(handler: MessageHandler): () => void {
		this.#handlers.add(handler);
		return () => this.#handlers.delete(handler);
	}

	/** Numbers only: spaces, channels and message counts this node holds. */
	status(): {
		spaces: {
			space: SpaceId;
			member: boolean;
			channels: { channel: ChannelId; messages: number }[];
		}[];
		peers: string[];
	} {
		return {
			spaces: [...this.#spaces.values()].map((w) => ({
				space: w.space.id,
				member: w.space.isMember,
				channels: [...w.channels.values()].map((c) => ({
					channel: c.channel.id,
					messages: c.channel.messages.length
				}))
			})),
			peers: this.client.peers
		};
	}

	/** Flushes storage and disconnects every peer. */
	close(): Promise<void> {
		this.#closing ??= (async () => {
			clearInterval(this.#timer);
			this.#unsubscribe?.();
			for (const watched of this.#spaces.values()) {
				watched.stop();
				for (const c of watched.channels.values()) {
					clearTimeout(c.scan);
					c.stop();
				}
			}
			await this.client.close();
			this.log.info('home node closed');
		})();
		return this.#closing;
	}

	async #ensureIdentity() {
		const { config, client, log } = this;
		const given = config.phrase
			? 'recovery phrase'
			: config.link
				? '--link'
				: config.newIdentity
					? '--new-identity'
					: undefined;
		if (client.identity) {
			if (given)
				log.info({ ignored: given }, 'the data directory already holds an identity; kept it');
			return;
		}
		if (config.phrase) {
			await client.restoreIdentity(config.phrase);
			log.info({ userId: client.identity!.userId }, 'identity restored from the recovery phrase');
		} else if (config.link) {
			log.info('waiting for the existing device to answer the link code');
			await client.acceptDeviceLink(config.link);
			log.info({ userId: client.identity!.userId }, 'linked as a new device of the user');
		} else if (config.newIdentity) {
			const { phrase, userId } = await client.createIdentity();
			const phraseFile = join(config.dataDir, 'recovery-phrase.txt');
			await writeFile(phraseFile, `${phrase}\n`, { mode: 0o600, flag: 'wx' });
			await chmod(phraseFile, 0o600);
			const cardFile = join(config.dataDir, 'member-card.txt');
			await writeFile(cardFile, `${await client.memberCard()}\n`, { mode: 0o644 });
			log.info(
				{ userId, phraseFile, cardFile },
				'new identity created; the recovery phrase is in phraseFile (keep it safe, then delete it); add this user to a space with the card in cardFile'
			);
		} else {
			throw new HomeNodeError(
				`${config.dataDir} holds no identity yet: pass --phrase-file <file> (or CHARTER_PHRASE) to restore a user, --link <code> to link this node as one of their devices, or --new-identity for a bot`
			);
		}
	}

	#serve() {
		const { client, log } = this;
		const id = client.identity!;
		log.info(
			{
				userId: id.userId,
				deviceId: id.deviceId,
				url: this.url ?? null,
				syncServers: this.config.syncServers,
				peers: this.config.peers,
				dataDir: this.config.dataDir
			},
			'home node online'
		);
		this.#unsubscribe = client.subscribe(() => this.#watchSpaces());
		this.#timer = setInterval(() => this.#report(), this.config.statusIntervalMs);
		this.#timer.unref?.();
	}

	async #joinAll() {
		for (const id of this.config.open) {
			try {
				await this.client.openSpace(id);
			} catch (error) {
				this.log.error(
					{ space: id, code: isCharterError(error) ? error.code : 'error' },
					'could not open a space'
				);
			}
		}
		for (const link of this.config.join) {
			try {
				const space = await this.client.joinSpace(link);
				this.log.info({ space: space.id }, 'joined a space by invite');
			} catch (error) {
				// the invite link itself is a secret: log only the refusal
				this.log.error(
					{ code: isCharterError(error) ? error.code : 'error' },
					`could not join a space by invite: ${isCharterError(error) ? error.message : String(error)}`
				);
			}
		}
	}

	#watchSpaces() {
		for (const space of this.client.spaces) {
			if (this.#spaces.has(space.id)) continue;
			const watched: WatchedSpace = {
				space,
				channels: new Map(),
				dirty: true,
				stop: () => undefined
			};
			this.#spaces.set(space.id, watched);
			this.log.info({ space: space.id }, 'holding space');
			watched.stop = space.subscribe(() => {
				watched.dirty = true;
				this.#watchChannels(watched);
			});
		}
	}

	#watchChannels(watched: WatchedSpace) {
		for (const channel of watched.space.channels) {
			if (watched.channels.has(channel.id)) continue;
			const entry: WatchedChannel = {
				channel,
				seen: new Set(channel.messages.map((m) => m.id)),
				scan: undefined,
				stop: () => undefined
			};
			watched.channels.set(channel.id, entry);
			entry.stop = channel.onChange(() => {
				watched.dirty = true;
				if (this.#handlers.size && !entry.scan)
					entry.scan = setTimeout(() => {
						entry.scan = undefined;
						this.#deliver(watched.space, entry);
					}, 20);
			});
		}
	}

	#deliver(space: Space, entry: WatchedChannel) {
		const me = this.client.identity?.userId;
		for (const message of entry.channel.messages) {
			if (entry.seen.has(message.id)) continue;
			entry.seen.add(message.id);
			if (message.author === me || message.createdAt < this.#startedAt) continue;
			const incoming: IncomingMessage = {
				space,
				channel: entry.channel,
				message,
				reply: (text) => entry.channel.send(text)
			};
			for (const handler of this.#handlers)
				void (async () => handler(incoming))().catch((error: unknown) =>
					this.log.error(
						{
							space: space.id,
							channel: entry.channel.id,
							code: isCharterError(error) ? error.code : undefined
						},
						`message handler failed: ${error instanceof Error ? error.name : 'error'}`
					)
				);
		}
	}

	#compacting: Promise<void> | undefined;

	/** Compacts, one at a time, channels this user moderates that passed `compactAfter`. */
	#compactWhereDue() {
		const threshold = this.config.compactAfter;
		if (!threshold || this.#compacting) return;
		for (const watched of this.#spaces.values())
			for (const { channel } of watched.channels.values()) {
				if (channel.uncompacted <= threshold) continue;
				if (!watched.space.can('MANAGE_MESSAGES', channel.id)) continue;
				this.#compacting = channel
					.compact()
					.then(
						(result) =>
							this.log.info(
								{ space: watched.space.id, channel: channel.id, ...result },
								'channel compacted'
							),
						(error: unknown) =>
							this.log.warn(
								{
									space: watched.space.id,
									channel: channel.id,
									code: isCharterError(error) ? error.code : 'error'
								},
								'could not compact a channel'
							)
					)
					.finally(() => (this.#compacting = undefined));
				return;
			}
	}

	/** Logs what changed since the last report: peers, and per space the channels' message counts. */
	#report() {
		const peers = new Set(this.client.peers);
		for (const peer of peers) if (!this.#peers.has(peer)) this.log.info({ peer }, 'peer connected');
		for (const peer of this.#peers)
			if (!peers.has(peer)) this.log.info({ peer }, 'peer disconnected');
		this.#peers = peers;
		const refused = this.client.refusedChanges;
		if (refused.total > this.#refused) {
			this.log.warn(
				{ total: refused.total, byPeer: refused.byPeer },
				'changes refused: no valid publication seal'
			);
			this.#refused = refused.total;
		}
		this.#compactWhereDue();
		for (const watched of this.#spaces.values()) {
			if (!watched.dirty) continue;
			watched.dirty = false;
			this.#watchChannels(watched);
			const channels = [...watched.channels.values()].map((c) => ({
				channel: c.channel.id,
				messages: c.channel.messages.length
			}));
			this.log.info(
				{
					space: watched.space.id,
					member: watched.space.isMember,
					members: watched.space.members.length,
					channels,
					messages: channels.reduce((n, c) => n + c.messages, 0)
				},
				'space status'
			);
		}
	}
}

/**
 * Works around automerge-repo 2.5.6: a WebSocketServerAdapter reports itself ready only once some
 * peer has dialed in, and until every adapter is ready the repo parks documents that *other* peers
 * announce in "loading" (Repo#loadDocument awaits networkSubsystem.whenReady()). A listening client
 * that dials out first — a bot joining through the peer it dialed — then never receives those
 * documents. One WebSocket connection to ourselves, closed at once (no join message, so no peer is
 * added), makes the listener ready.
 */
async function markListenerReady(url: string): Promise<void> {
	await new Promise<void>((resolve) => {
		const socket = new WebSocket(url);
		const done = () => {
			socket.removeAllListeners();
			socket.on('error', () => undefined);
			socket.close();
			resolve();
		};
		socket.once('open', done);
		socket.once('error', done);
	});
}
