/**
 * The simulator's future-event list: a binary min-heap on (time, sequence). Written here rather than
 * taken from npm because the simulator needs exactly one thing no small heap package guarantees: events
 * at the same virtual instant come out in the order they were scheduled (FIFO ties), which is what makes a
 * seeded run reproducible to the cent. Heap packages order ties arbitrarily, and wrapping them to add a
 * sequence number leaves only the ~40 lines below anyway.
 */
export interface Scheduled<T> {
  at: number;
  seq: number;
  event: T;
}

export class EventQueue<T> {
  private readonly heap: Scheduled<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, event: T): void {
    if (!Number.isFinite(at)) throw new RangeError(`event time must be finite, got ${at}`);
    const item = { at, seq: this.seq++, event };
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = item;
  }

  pop(): Scheduled<T> | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right], heap[left]) ? right : left;
      if (!before(heap[child], last)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

function before<T>(a: Scheduled<T>, b: Scheduled<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
