/**
 * How the settings screens name a permission: its name in words ("Send messages"), with a few
 * spelled out where the bare name would leave a user guessing what it decides.
 */
import type { PermissionName } from '../index.js';

const SPELLED_OUT: Partial<Record<PermissionName, string>> = {
	READ_MESSAGE_HISTORY: 'Read message history (messages from before joining)',
	VIEW_CHANNEL: 'View channel',
	MENTION_EVERYONE: 'Mention @everyone, @here and roles'
};

/** "Read message history (messages from before joining)", "Send messages", … */
export function permissionLabel(p: PermissionName): string {
	return (
		SPELLED_OUT[p] ??
		p
			.toLowerCase()
			.replace(/_/g, ' ')
			.replace(/^./, (c) => c.toUpperCase())
	);
}
