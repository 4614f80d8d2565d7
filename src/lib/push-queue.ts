// An async iterable that a producer pushes into and one consumer reads, in
// order. It does what a Repeater (@repeaterjs/repeater) did for a reply's
// stream, for a fraction of the work per item: a Repeater makes about eight
// promises and closures for each push, which at 100 concurrent chats (5,000
// tokens a second) was 4% of the gateway's main thread, every token waiting
// behind it. Here a push hands its item to a waiting read or queues it.

export type PushQueue<T> = {
  /** Queues an item; false when the reader has left or more than `limit` items wait for it (nothing is queued then). */
  push(item: T): boolean;
  /** No item follows `last` (queued whatever the limit): the reader gets those queued, then the end. */
  end(last?: T): void;
  /** What the reader iterates. */
  items: AsyncIterableIterator<T>;
};

export function createPushQueue<T>({ limit, onStart, onReturn }: {
  /** Items that may wait for the reader at most. */
  limit: number;
  /** Called at the reader's first next(): nothing is produced for a reader that never reads. */
  onStart: () => void;
  /** Called once when the reader stops early (return()), not when it reads to the end. */
  onReturn: () => void;
}): PushQueue<T> {
  const queued: T[] = [];
  let reading: ((result: IteratorResult<T>) => void) | undefined;
  let ended = false;
  let left = false;
  let started = false;
  const done = (): IteratorResult<T> => ({ value: undefined, done: true });

  const items: AsyncIterableIterator<T> = {
    next() {
      if (!started && !left) {
        started = true;
        onStart();
      }
      if (queued.length > 0) return Promise.resolve({ value: queued.shift()!, done: false });
      if (ended || left) return Promise.resolve(done());
      return new Promise((resolve) => (reading = resolve));
    },
    return() {
      if (!left && !ended) onReturn();
      left = true;
      queued.length = 0;
      reading?.(done());
      reading = undefined;
      return Promise.resolve(done());
    },
    [Symbol.asyncIterator]() {
      return items;
    },
  };

  return {
    push(item) {
      if (left || ended || queued.length >= limit) return false;
      if (reading) {
        const read = reading;
        reading = undefined;
        read({ value: item, done: false });
      } else {
        queued.push(item);
      }
      return true;
    },
    end(...last) {
      if (left || ended) return;
      ended = true;
      if (last.length > 0) queued.push(last[0] as T);
      if (!reading) return;
      const read = reading;
      reading = undefined;
      read(queued.length > 0 ? { value: queued.shift()!, done: false } : done());
    },
    items,
  };
}
