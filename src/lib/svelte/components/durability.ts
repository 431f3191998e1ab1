/** What each durability policy of a channel means, in the words the UI uses. */
export const DURABILITY_HELP = {
	replicated: 'any member’s device may store it (default)',
	strict: 'only devices of people who can read it store it',
	guaranteed: 'a message counts as sent once a sync server holds it'
} as const;
