import { EventQueue } from '../../../local/planner/eventQueue';
import { Random } from '../../../local/planner/random';

describe('the simulator event queue', () => {
  it('pops in time order, and events at the same instant in the order they were scheduled', () => {
    const queue = new EventQueue<string>();
    const random = new Random(7);
    const pushed: Array<[number, string]> = [];
    for (let i = 0; i < 500; i++) {
      const at = Math.floor(random.uniform(0, 50));
      pushed.push([at, `e${i}`]);
      queue.push(at, `e${i}`);
    }
    const popped: string[] = [];
    for (let next = queue.pop(); next; next = queue.pop()) popped.push(next.event);
    // A stable sort by time is exactly "time order, FIFO within an instant".
    expect(popped).toEqual([...pushed].sort((a, b) => a[0] - b[0]).map(([, e]) => e));
    expect(queue.size).toBe(0);
  });

  it('refuses an event at a time that is not a number', () => {
    expect(() => new EventQueue<string>().push(Number.NaN, 'x')).toThrow('event time must be finite');
  });
});
