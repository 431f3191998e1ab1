/**
 * A small bot on the home node: in every channel of every space its user belongs to, it answers
 * "!ping" with "pong" and "!roll" with a roll of a six-sided die. It takes every flag of
 * `npm run node` (see docs/self-hosting.md, "Home node"):
 *
 *   npx tsx src/node/echo-bot.ts --data ./bot --new-identity --sync-server ws://127.0.0.1:3030 \
 *     --join 'https://chat.example.org/#/join/…'
 */
import { runHomeNodeCli } from './cli.js';

await runHomeNodeCli({
	name: 'Charter echo bot',
	setup(node, log) {
		node.onMessage(async ({ space, channel, message, reply }) => {
			const command = message.text.trim().toLowerCase();
			if (command === '!ping') await reply('pong');
			else if (command === '!roll') await reply(`🎲 ${1 + Math.floor(Math.random() * 6)}`);
			else return;
			log.info({ space: space.id, channel: channel.id }, 'answered a command'); // never the text
		});
	}
});
