// Runs bcrypt checks for htpasswd.ts off the server's event loop: one request at a time,
// answered with the same id.
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

interface Job {
  readonly id: number;
  readonly password: string;
  readonly hash: string;
}

parentPort?.on('message', (job: Job) => {
  let ok = false;
  try {
    ok = bcrypt.compareSync(job.password, job.hash);
  } catch {
    ok = false; // a malformed hash never matches
  }
  parentPort?.postMessage({ id: job.id, ok });
});
