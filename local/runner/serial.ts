/**
 * One piece of the runtime's work at a time: the in-process Lambdas and the integrations' SDK calls take
 * turns, in the order they were asked for. With the virtual clock (local/emulator/clock.ts) firing one
 * timer at a time, this makes a run's order of events independent of how fast each piece of I/O completes:
 * two executions woken at the same emulated instant call their Lambdas one after the other, always in the
 * same order, so a busy machine cannot reorder grants. It costs no emulated time (the clock stands still
 * while work is in flight). Nothing in a turn may wait for another turn: a turn is one Lambda invocation or
 * one SDK call, never a Task's whole wait (a parked `.waitForTaskToken`, a `.sync` poll loop).
 */
export class WorkTurns {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T> | T): Promise<T> {
    const turn = this.tail.then(work);
    this.tail = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }
}

/** What `takeTurns` needs of an SDK v3 client: its middleware stack (typed loosely, as each client types it its own way). */
export interface WithMiddleware {
  middlewareStack: { add(middleware: never, options: { step: 'initialize'; name: string }): void };
}

/** Makes every `send` of an SDK v3 client take a turn. */
export function takeTurns<C extends WithMiddleware>(client: C, turns: WorkTurns): C {
  const middleware = (next: (args: unknown) => Promise<unknown>) => (args: unknown) => turns.run(() => next(args));
  client.middlewareStack.add(middleware as never, {
    step: 'initialize',
    name: 'emrflowLocalWorkTurns',
  });
  return client;
}
