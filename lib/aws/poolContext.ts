import { POOLS_FILE, findPool, type PoolsConfig } from '../config/pools';
import { InvalidRequestError } from '../errors';
import type { PoolContext } from '../jobManager/jobManager';

/** The pool an input names, with the dispatcher settings; Request.Invalid when config/pools.json has no such pool. */
export function poolContext(config: PoolsConfig, name: string): PoolContext {
  const pool = findPool(config, name);
  if (!pool) {
    const known = config.pools.map((p) => p.name).join(', ') || 'none';
    throw new InvalidRequestError('pool', `no pool "${name}" in ${POOLS_FILE} (pools: ${known})`);
  }
  return { pool, settings: config.dispatcher };
}
