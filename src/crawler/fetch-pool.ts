// Keep-alive connection pools, one undici Agent (which pools per origin) per SSRF policy.
import { Agent } from 'undici';
import type { Resolver, SsrfPolicy } from './ssrf.ts';
import { guardedConnector } from './ssrf-connector.ts';

// One Agent per (SSRF policy, connect timeout, resolver): a socket opened under a permissive policy must never
// be handed to a request made under a strict one, and the connector is where both are enforced.
const agents = new Map<string, Agent>();
const resolverIds = new WeakMap<Resolver, number>();
let nextResolverId = 1;

export function agentFor(policy: SsrfPolicy, resolver: Resolver, connectTimeoutMs: number): Agent {
  let resolverId = resolverIds.get(resolver);
  if (resolverId === undefined) {
    resolverId = nextResolverId++;
    resolverIds.set(resolver, resolverId);
  }
  const key = `${policy.key}|${connectTimeoutMs}|${resolverId}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({
      connect: guardedConnector({ policy, resolver, timeoutMs: connectTimeoutMs }),
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
    });
    agents.set(key, agent);
  }
  return agent;
}

/** Closes every pooled connection (waits for in-flight requests); lets tests and the CLI exit promptly. */
export async function closeFetchPool(): Promise<void> {
  const closing = [...agents.values()].map((agent) => agent.close());
  agents.clear();
  await Promise.all(closing);
}
