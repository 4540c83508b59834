/**
 * The one place the application reads "now". On AWS it is the system clock. On the local runtime the
 * process's clock is the runtime's virtual clock (local/emulator/clock.ts), so the handlers see emulated
 * time — lease expiries, queue aging, run durations — consistent with the emulator's timestamps.
 */
export function now(): number {
  return Date.now();
}

export function currentDate(): Date {
  return new Date(now());
}
