import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** A new random password: 32 URL-safe characters, 192 bits. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * A bearer token for an engine's API: 256 random bits, 43 characters, well
 * above the engine's minimum, whatever passwords are made of.
 */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password. Sending the
 * verifier instead of the password keeps the plain text out of server logs.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest('base64');
  const serverKey = createHmac('sha256', salted).update('Server Key').digest('base64');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey}:${serverKey}`;
}

/** The form Redis keeps of a password in `ACL GETUSER`. */
export function redisPasswordHash(password: string): string {
  return createHash('sha256').update(password).digest('hex');
}

/** Why a store will not let an instance's user log in, or ok. */
export type LoginCheck = { ok: true } | { ok: false; reason: string; badCredentials: boolean };
