import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The certificates and keys of a local control plane, as file paths. */
export interface Pki {
  caCert: string;
  caKey: string;
  serving: { cert: string; key: string };
  clients: Record<ClientName, { cert: string; key: string }>;
  serviceAccount: { key: string; publicKey: string };
}

type ClientName =
  | 'admin'
  | 'controllerManager'
  | 'scheduler'
  | 'node'
  | 'kubeProxy'
  | 'apiserverKubelet';

/** The name the real node registers with (its kubelet's client certificate says so). */
export const REAL_NODE_NAME = 'tse-node';

const CLIENTS: Record<ClientName, string> = {
  admin: '/O=system:masters/CN=tse-admin',
  controllerManager: '/CN=system:kube-controller-manager',
  scheduler: '/CN=system:kube-scheduler',
  // The Node authorizer and NodeRestriction admit a kubelet by this group and name.
  node: `/O=system:nodes/CN=system:node:${REAL_NODE_NAME}`,
  // Bound to system:node-proxier by the API server's bootstrap policy.
  kubeProxy: '/CN=system:kube-proxy',
  // How the API server authenticates to kubelet (logs, exec, port-forward).
  apiserverKubelet: '/O=system:masters/CN=kube-apiserver-kubelet-client',
};

/** The service range's first address: the `kubernetes` Service pods reach the API server by. */
export const SERVICE_CIDR = '10.96.0.0/16';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

/**
 * Makes a throw-away certificate authority and the certificates a control
 * plane needs (serving, one client per component, service-account keys)
 * with the machine's openssl.
 */
export function createPki(dir: string, extraIps: string[] = []): Pki {
  const path = (name: string) => join(dir, name);
  const key = (name: string) =>
    openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      path(name),
    ]);
  key('ca.key');
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    path('ca.key'),
    '-subj',
    '/CN=tse-local-ca',
    '-days',
    '7',
    '-out',
    path('ca.crt'),
  ]);

  const sign = (name: string, subject: string, extensions: string) => {
    key(`${name}.key`);
    openssl([
      'req',
      '-new',
      '-key',
      path(`${name}.key`),
      '-subj',
      subject,
      '-out',
      path(`${name}.csr`),
    ]);
    writeFileSync(path(`${name}.ext`), extensions);
    openssl([
      'x509',
      '-req',
      '-in',
      path(`${name}.csr`),
      '-CA',
      path('ca.crt'),
      '-CAkey',
      path('ca.key'),
      '-CAcreateserial',
      '-days',
      '7',
      '-extfile',
      path(`${name}.ext`),
      '-out',
      path(`${name}.crt`),
    ]);
    return { cert: path(`${name}.crt`), key: path(`${name}.key`) };
  };

  const serving = sign(
    'apiserver',
    '/CN=kube-apiserver',
    `subjectAltName=${[...['127.0.0.1', KUBERNETES_SERVICE_IP, ...extraIps].map((ip) => `IP:${ip}`), 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc'].join(',')}\nextendedKeyUsage=serverAuth\n`,
  );
  const clients = Object.fromEntries(
    Object.entries(CLIENTS).map(([name, subject]) => [
      name,
      sign(name, subject, 'extendedKeyUsage=clientAuth\n'),
    ]),
  ) as Pki['clients'];

  openssl([
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    path('sa.key'),
  ]);
  openssl(['pkey', '-in', path('sa.key'), '-pubout', '-out', path('sa.pub')]);

  return {
    caCert: path('ca.crt'),
    caKey: path('ca.key'),
    serving,
    clients,
    serviceAccount: { key: path('sa.key'), publicKey: path('sa.pub') },
  };
}

function openssl(args: string[]): void {
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  if (result.error)
    throw new Error(
      `openssl is needed to make the control plane's certificates: ${result.error.message}`,
    );
  if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

/** A kubeconfig that authenticates with a client certificate. */
export function kubeconfig(
  server: string,
  caCert: string,
  client: { cert: string; key: string },
  user = 'tse-admin',
): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'tse-local', cluster: { server, 'certificate-authority': caCert } }],
      users: [
        { name: user, user: { 'client-certificate': client.cert, 'client-key': client.key } },
      ],
      contexts: [{ name: 'tse-local', context: { cluster: 'tse-local', user } }],
      'current-context': 'tse-local',
    },
    null,
    2,
  );
}
