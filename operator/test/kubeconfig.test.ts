import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { inCluster, KubeconfigError, loadClusterAccess } from '../src/runtime/kubeconfig.ts';

const directory = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
let files = 0;
function kubeconfig(document: object): string {
  const path = join(directory, `config-${files++}`);
  writeFileSync(path, stringify(document));
  return path;
}
const base64 = (text: string) => Buffer.from(text).toString('base64');

const config = (user: object, cluster: object = { server: 'https://10.0.0.1:6443' }) => ({
  'current-context': 'x',
  clusters: [{ name: 'c', cluster }],
  users: [{ name: 'u', user }],
  contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
});

describe('loadClusterAccess from a kubeconfig', () => {
  it('reads inline certificates and a token', async () => {
    const access = loadClusterAccess(
      kubeconfig(
        config(
          {
            'client-certificate-data': base64('CERT'),
            'client-key-data': base64('KEY'),
            token: 'abc',
          },
          { server: 'https://10.0.0.1:6443', 'certificate-authority-data': base64('CA') },
        ),
      ),
    );
    expect(access.server).toBe('https://10.0.0.1:6443');
    expect(access.tls.ca?.toString()).toBe('CA');
    expect(access.tls.cert?.toString()).toBe('CERT');
    expect(access.tls.key?.toString()).toBe('KEY');
    expect(access.tls.rejectUnauthorized).toBe(true);
    expect(await access.token()).toBe('abc');
  });

  it('reads certificate files relative to the kubeconfig, and insecure-skip-tls-verify', () => {
    const pki = join(directory, 'pki');
    mkdirSync(pki, { recursive: true });
    writeFileSync(join(pki, 'client.crt'), 'FILE-CERT');
    writeFileSync(join(pki, 'client.key'), 'FILE-KEY');
    const access = loadClusterAccess(
      kubeconfig(
        config(
          { 'client-certificate': 'pki/client.crt', 'client-key': 'pki/client.key' },
          {
            server: 'https://h:1',
            'insecure-skip-tls-verify': true,
            'tls-server-name': 'kubernetes',
          },
        ),
      ),
    );
    expect(access.tls.cert?.toString()).toBe('FILE-CERT');
    expect(access.tls.key?.toString()).toBe('FILE-KEY');
    expect(access.tls.rejectUnauthorized).toBe(false);
    expect(access.tls.servername).toBe('kubernetes');
  });

  it('merges $KUBECONFIG files as kubectl does: the first to name something wins', () => {
    const first = kubeconfig({
      'current-context': 'x',
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      clusters: [{ name: 'c', cluster: { server: 'https://first:1' } }],
    });
    const second = kubeconfig({
      'current-context': 'y',
      clusters: [{ name: 'c', cluster: { server: 'https://second:1' } }],
      users: [{ name: 'u', user: { token: 'from-second' } }],
    });
    const access = loadClusterAccess(undefined, { KUBECONFIG: `${first}:${second}` });
    expect(access.server).toBe('https://first:1');
    return expect(access.token()).resolves.toBe('from-second');
  });

  it('acts as the user and groups named by as / as-groups', () => {
    const access = loadClusterAccess(
      kubeconfig(
        config({ token: 't', as: 'system:serviceaccount:a:b', 'as-groups': ['g1', 'g2'] }),
      ),
    );
    expect(access.impersonate).toEqual({ user: 'system:serviceaccount:a:b', groups: ['g1', 'g2'] });
  });

  it('prefers a token file to a fixed token, as client-go does', async () => {
    const file = join(directory, 'token-file');
    writeFileSync(file, 'from-file\n');
    const access = loadClusterAccess(kubeconfig(config({ token: 'fixed', tokenFile: file })));
    expect(await access.token()).toBe('from-file');
  });

  it("never puts an exec plugin's arguments or output in its errors", async () => {
    const plugin = join(directory, 'failing-plugin.sh');
    writeFileSync(plugin, '#!/bin/sh\necho "token-in-output $1" >&2\nexit 3\n');
    chmodSync(plugin, 0o755);
    const access = loadClusterAccess(
      kubeconfig(config({ exec: { command: plugin, args: ['--client-secret=s3cr3t'] } })),
    );
    const error = (await access.token().catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`kubeconfig: users[u].exec ${plugin} failed (exit code 3)`);
  });

  it('without any kubeconfig or service account, fails each request saying what is missing', async () => {
    const access = loadClusterAccess(undefined, { HOME: join(directory, 'no-home') });
    await expect(access.token()).rejects.toThrow(
      'no kubeconfig: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
    );
  });

  it('names what is missing or unsupported', () => {
    expect(() => loadClusterAccess(kubeconfig({ ...config({}), 'current-context': 'z' }))).toThrow(
      'context "z" is not defined',
    );
    expect(() =>
      loadClusterAccess(kubeconfig(config({ 'auth-provider': { name: 'gcp' } }))),
    ).toThrow('users[u].auth-provider is not supported: use an exec credential plugin');
    expect(() => loadClusterAccess(kubeconfig(config({}, { server: 'ftp://x' })))).toThrow(
      KubeconfigError,
    );
    expect(() =>
      loadClusterAccess(kubeconfig(config({ 'client-certificate-data': base64('C') }))),
    ).toThrow('needs both client-certificate and client-key');
    expect(() =>
      loadClusterAccess(
        kubeconfig(
          config(
            {},
            {
              server: 'https://h:1',
              'insecure-skip-tls-verify': true,
              'certificate-authority-data': base64('CA'),
            },
          ),
        ),
      ),
    ).toThrow('sets both insecure-skip-tls-verify and a certificate authority');
    expect(() => loadClusterAccess(kubeconfig(config({ 'as-groups': ['g'] })))).toThrow(
      'users[u].as-groups needs as',
    );
  });

  it('runs an exec credential plugin, passes it the exec info, and keeps its token until it expires or is refused', async () => {
    const plugin = join(directory, 'plugin.sh');
    const calls = join(directory, 'plugin-calls');
    writeFileSync(
      plugin,
      `#!/bin/sh\necho "$KUBERNETES_EXEC_INFO $PLUGIN_SETTING" >> ${calls}\n` +
        `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t-'$(wc -l < ${calls})'","expirationTimestamp":"2999-01-01T00:00:00Z"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const access = loadClusterAccess(
      kubeconfig(
        config({
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: plugin,
            env: [{ name: 'PLUGIN_SETTING', value: 'on' }],
            provideClusterInfo: true,
          },
        }),
      ),
    );
    expect(await access.token()).toMatch(/^t-\s*1$/);
    expect(await access.token()).toMatch(/^t-\s*1$/);
    access.invalidate();
    expect(await access.token()).toMatch(/^t-\s*2$/);
    const [info, setting] = readFileSync(calls, 'utf8').split('\n')[0]?.split(' ') ?? [];
    expect(JSON.parse(info ?? '')).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: { interactive: false, cluster: { server: 'https://10.0.0.1:6443' } },
    });
    expect(setting).toBe('on');
  });
});

describe('inCluster', () => {
  it("uses the service account's CA and token, reads the token again after a 401, and brackets IPv6", async () => {
    const account = join(directory, 'serviceaccount');
    mkdirSync(account, { recursive: true });
    writeFileSync(join(account, 'ca.crt'), 'CLUSTER-CA');
    writeFileSync(join(account, 'token'), 'first\n');
    const access = inCluster(
      { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
      account,
    );
    expect(access.server).toBe('https://[fd00::1]:443');
    expect(access.tls.ca?.toString()).toBe('CLUSTER-CA');
    expect(await access.token()).toBe('first');
    writeFileSync(join(account, 'token'), 'rotated\n');
    expect(await access.token()).toBe('first');
    access.invalidate();
    expect(await access.token()).toBe('rotated');
  });
});
