/**
 * Every command a tenant may run, one by one: an allow-list, so a command a
 * newer Redis adds is refused until someone reads it and lists it here. Each
 * takes its keys or channels from its arguments, where the ACL key and
 * channel patterns confine it to the tenant's namespace. Commands exist in
 * Redis 7.0 and later (7.0 is the oldest supported: ACL selectors and DRYRUN).
 *
 * Left out on purpose: anything that names keys it was not given (KEYS,
 * SCAN, RANDOMKEY, SORT ... BY/GET), counts or describes the whole server or
 * other clients (DBSIZE, INFO, MEMORY, LATENCY, SLOWLOG, OBJECT, DEBUG,
 * MONITOR, CLIENT LIST/INFO/KILL, PUBSUB introspection), client-side caching
 * (CLIENT TRACKING reports other keys' invalidations in BCAST mode), other
 * databases (SELECT, MOVE, COPY ... DB, SWAPDB), scripts and functions,
 * replication waits (WAIT, WAITAOF) and administration.
 */
export const TENANT_COMMANDS = [
  // strings
  ...['get', 'set', 'setnx', 'setex', 'psetex', 'getset', 'getdel', 'getex', 'mget', 'mset'],
  ...['msetnx', 'append', 'strlen', 'getrange', 'setrange', 'substr', 'lcs'],
  ...['incr', 'incrby', 'incrbyfloat', 'decr', 'decrby'],
  // bitmaps
  ...['setbit', 'getbit', 'bitcount', 'bitpos', 'bitop', 'bitfield', 'bitfield_ro'],
  // hashes
  ...['hget', 'hset', 'hsetnx', 'hmset', 'hmget', 'hgetall', 'hdel', 'hexists', 'hincrby'],
  ...['hincrbyfloat', 'hkeys', 'hvals', 'hlen', 'hstrlen', 'hscan', 'hrandfield'],
  // lists
  ...['lpush', 'rpush', 'lpushx', 'rpushx', 'lpop', 'rpop', 'llen', 'lrange', 'lindex', 'lset'],
  ...['linsert', 'lrem', 'ltrim', 'lpos', 'lmove', 'blmove', 'lmpop', 'blmpop', 'blpop'],
  ...['brpop', 'rpoplpush', 'brpoplpush'],
  // sets
  ...['sadd', 'srem', 'smembers', 'sismember', 'smismember', 'scard', 'spop', 'srandmember'],
  ...['smove', 'sinter', 'sintercard', 'sinterstore', 'sunion', 'sunionstore', 'sdiff'],
  ...['sdiffstore', 'sscan'],
  // sorted sets
  ...['zadd', 'zincrby', 'zrem', 'zcard', 'zcount', 'zlexcount', 'zscore', 'zmscore', 'zrank'],
  ...['zrevrank', 'zrange', 'zrangestore', 'zrangebyscore', 'zrevrangebyscore', 'zrangebylex'],
  ...['zrevrangebylex', 'zrevrange', 'zremrangebyrank', 'zremrangebyscore', 'zremrangebylex'],
  ...['zpopmin', 'zpopmax', 'bzpopmin', 'bzpopmax', 'zmpop', 'bzmpop', 'zrandmember', 'zunion'],
  ...['zunionstore', 'zinter', 'zinterstore', 'zintercard', 'zdiff', 'zdiffstore', 'zscan'],
  // hyperloglog and geo
  ...['pfadd', 'pfcount', 'pfmerge'],
  ...['geoadd', 'geodist', 'geohash', 'geopos', 'geosearch', 'geosearchstore'],
  // streams
  ...['xadd', 'xrange', 'xrevrange', 'xlen', 'xread', 'xreadgroup', 'xack', 'xclaim'],
  ...['xautoclaim', 'xpending', 'xdel', 'xtrim', 'xsetid'],
  ...['xgroup|create', 'xgroup|createconsumer', 'xgroup|delconsumer', 'xgroup|destroy'],
  ...['xgroup|setid', 'xinfo|stream', 'xinfo|groups', 'xinfo|consumers'],
  // the tenant's own keys
  ...['del', 'unlink', 'exists', 'type', 'touch', 'rename', 'renamenx', 'persist'],
  ...['ttl', 'pttl', 'expire', 'pexpire', 'expireat', 'pexpireat', 'expiretime', 'pexpiretime'],
  // transactions
  ...['multi', 'exec', 'discard', 'watch', 'unwatch'],
  // pub/sub on the tenant's own channels
  ...['publish', 'subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe'],
  ...['spublish', 'ssubscribe', 'sunsubscribe'],
  // the connection itself
  ...['ping', 'echo', 'auth', 'hello', 'quit', 'reset'],
  ...['client|id', 'client|getname', 'client|setname'],
] as const;

/** The ACL rules that grant exactly TENANT_COMMANDS and nothing else. */
export const TENANT_COMMAND_RULES: readonly string[] = [
  '-@all',
  ...TENANT_COMMANDS.map((command) => `+${command}`),
];
