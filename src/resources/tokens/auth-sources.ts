import type { AppContext } from '../../context.js';
import type { AuthSources } from '../../api/auth.js';
import { tokensRepository } from './repository.js';

/** Where `authenticate` looks credentials up: stored tokens, and the bootstrap credentials of the configuration. */
export function authSourcesOf(ctx: Pick<AppContext, 'store' | 'defaultAccountId' | 'bootstrap' | 'clock'>): AuthSources {
  return {
    findTokenByHash: (hash) => tokensRepository.findByHash(ctx.store.db, hash),
    // Read at each call: the default account is set once the context is built.
    defaultAccountId: () => ctx.defaultAccountId,
    bootstrapToken: ctx.bootstrap.token,
    bootstrapEmail: ctx.bootstrap.email,
    bootstrapApiKey: ctx.bootstrap.apiKey,
    now: () => ctx.clock.now(),
  };
}
