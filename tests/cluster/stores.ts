import { findPostgresBinaries, type StoreServer, startLocalPostgres } from '../support/postgres.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';
import type { NodeNetwork } from './node/network.ts';

/** A store the local cluster offers, with its URL from the host and from inside the cluster. */
export interface ClusterStore extends StoreServer {
  /** The admin URL as pods on the real node reach it. */
  inClusterUrl: string;
}

/**
 * PostgreSQL and Redis for a local cluster with a real node: local servers
 * listening on loopback and on the host's end of the node's link, logins
 * allowed from the node's range only.
 */
export async function startClusterStores(
  network: NodeNetwork,
): Promise<{ postgres: ClusterStore; redis: ClusterStore }> {
  const postgresBinaries = findPostgresBinaries();
  const redisServer = findRedisServer();
  if (!postgresBinaries || !redisServer)
    throw new Error(
      'the local cluster runs PostgreSQL and Redis from their server binaries: apt-get install postgresql redis-server',
    );
  const [postgres, redis] = await Promise.all([
    startLocalPostgres(postgresBinaries, {
      alsoListen: { address: network.hostIp, allow: network.cidr },
    }),
    startLocalRedis(redisServer, { alsoListen: { address: network.hostIp } }),
  ]);
  const inCluster = (url: string) => {
    const parsed = new URL(url);
    parsed.hostname = network.hostIp;
    return parsed.toString().replace(/\/$/, '');
  };
  return {
    postgres: { ...postgres, inClusterUrl: inCluster(postgres.url) },
    redis: { ...redis, inClusterUrl: inCluster(redis.url) },
  };
}
