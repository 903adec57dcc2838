import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Pki } from './pki.ts';

/** A GET against the API server as the admin. */
export function apiGet(
  server: string,
  pki: Pki,
  path: string,
): Promise<{ status: number; body: string }> {
  return apiRequest(server, pki, 'GET', path);
}

export function apiRequest(
  server: string,
  pki: Pki,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  const { promise, resolve, reject } = Promise.withResolvers<{ status: number; body: string }>();
  const req = request(
    new URL(path, server),
    {
      method,
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.clients.admin.cert),
      key: readFileSync(pki.clients.admin.key),
      headers: body ? { 'content-type': 'application/json' } : {},
      timeout: 5000,
    },
    (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    },
  );
  req.on('error', reject);
  req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
  req.end(body ? JSON.stringify(body) : undefined);
  return promise;
}
