/**
 * `nextTask(fn)`: runs `fn` in a new task, after every microtask of the current one — the moment
 * to flush work batched "from the same tick". Not `setTimeout(fn, 0)`: Node clamps that to 1 ms
 * and browsers to 4 ms once timers nest, time a sent message would wait for nothing. Node has
 * `setImmediate`; browsers post to a MessageChannel (the scheduling behind `scheduler.postTask`).
 */
type Task = () => void;

const immediate = (globalThis as { setImmediate?: (fn: Task) => unknown }).setImmediate;

let port: MessagePort | undefined;
const queue: Task[] = [];

function viaChannel(fn: Task): void {
	if (!port) {
		const channel = new MessageChannel();
		channel.port1.onmessage = () => queue.shift()?.();
		port = channel.port2;
	}
	queue.push(fn);
	port.postMessage(undefined);
}

export function nextTask(fn: Task): void {
	if (immediate) immediate(fn);
	else if (typeof MessageChannel === 'function') viaChannel(fn);
	else setTimeout(fn, 0);
}
