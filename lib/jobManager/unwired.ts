/**
 * A port a handler does not give the job manager: each Lambda wires only the calls its role allows (the
 * template test derives a role's actions from the SDK commands its bundle reaches), so an operation that
 * needs a call it was not given fails at once, naming it, instead of being denied by IAM on AWS.
 */
export function unwired<T extends object>(port: string, given: Partial<T> = {}): T {
  return new Proxy(given, {
    get(target, name) {
      if (name in target) return target[name as keyof typeof target];
      if (typeof name === 'symbol' || name === 'then') return undefined;
      return () => {
        throw new Error(`${port}.${name} is not wired into this handler`);
      };
    },
  }) as T;
}
