/** The conditions of an instance's status, as read from the API server. */
type Conditions = { type: string; status: string; reason?: string; message?: string }[] | undefined;

/**
 * True when the operator has done everything it does for an instance on fake
 * (KWOK) nodes: stores provisioned and verified, every engine pod Ready. No
 * engine runs there, so none holds the instance's lock: `Available` (and so
 * `Ready`) stay False with `NoActiveEngine`.
 */
export function provisionedOnFakeNodes(conditions: Conditions): boolean {
  const find = (type: string) => conditions?.find((condition) => condition.type === type);
  const available = find('Available');
  const pods = /(\d+)\/(\d+) engine pods ready/.exec(available?.message ?? '');
  return (
    find('DatabaseReady')?.status === 'True' &&
    find('CacheReady')?.status === 'True' &&
    available?.reason === 'NoActiveEngine' &&
    pods?.[1] === pods?.[2]
  );
}

/** True when an instance is Ready, or (on fake nodes, where no engine runs) as far as it can get. */
export function converged(conditions: Conditions): boolean {
  return (
    conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true ||
    provisionedOnFakeNodes(conditions)
  );
}
