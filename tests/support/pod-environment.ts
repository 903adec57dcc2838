import type { CoreV1Api, V1Deployment } from '@kubernetes/client-node';

/**
 * The environment a pod of the Deployment would get: plain values, and values
 * from Secret keys resolved by reading the Secrets. No container runtime runs
 * pods here, so tests and the demo start engines with it themselves.
 */
export async function podEnvironment(
  core: CoreV1Api,
  deployment: V1Deployment,
): Promise<Record<string, string>> {
  const namespace = deployment.metadata?.namespace ?? '';
  const env: Record<string, string> = {};
  for (const variable of deployment.spec?.template.spec?.containers[0]?.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref?.name) {
      const secret = await core.readNamespacedSecret({ namespace, name: ref.name });
      const value = secret.data?.[ref.key];
      if (value !== undefined) env[variable.name] = Buffer.from(value, 'base64').toString('utf8');
    }
  }
  return env;
}
